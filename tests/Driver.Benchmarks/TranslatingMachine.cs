using Driver.Hw.AmdIommu;
using Driver.Platform;
using Driver.Platform.Iommu;

namespace Driver.Benchmarks;

/// <summary>The machine the translation benchmarks share: one device, 4-level tables built in memory.</summary>
internal static class TranslatingMachine
{
    internal const ushort Device = 1;
    internal const ulong LeafSpa = 0x9000_0000;
    internal const ulong HitIova = 0x12_3456_7000;
    internal const ulong WalkIovaA = 0x0000_4000_0000;
    internal const ulong WalkIovaB = 0x8000_4000_0000;

    /// <summary>
    /// A machine whose IOMMU translates each IOVA for <see cref="Device"/> through a 4-level
    /// table to its own 4K page, <see cref="LeafSpa"/> plus 4K per position in the list.
    /// </summary>
    public static Machine BuildMachine(IommuConfig config, ulong[] iovas)
    {
        var machine = new Machine(new MachineConfig { Monitors = false, Iommu = config });
        var mem = machine.Memory;
        const ulong devTab = 0x100_0000, root = 0x200_0000;
        ulong next = root + 0x1000;
        var mmio = machine.Mmio;
        mmio.Write64(Machine.IommuMmioBase + AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(devTab).WithSize(511).Raw);
        mmio.Write64(Machine.IommuMmioBase + AmdIommuMmio.ControlOffset, new ControlRegister(0).WithIommuEn(true).Raw);
        var dte = default(AmdDte).WithValid(true).WithTranslationValid(true).WithMode(PagingMode.Level4)
            .WithHostPageTableRoot(root).WithDomainId(1).WithIoRead(true).WithIoWrite(true);
        for (int i = 0; i < AmdDte.Words; i++)
            mem.WriteU64(devTab + Device * 32UL + (ulong)i * 8, dte.GetWord(i));
        for (int n = 0; n < iovas.Length; n++)
        {
            ulong iova = iovas[n];
            ulong table = root;
            for (int level = 4; level > 1; level--)
            {
                ulong slot = table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
                var pde = new AmdV1Pte(mem.ReadU64(slot));
                if (!pde.Present)
                {
                    pde = new AmdV1Pte(0).WithPresent(true).WithNextLevel((byte)(level - 1)).WithAddress(next).WithIoRead(true).WithIoWrite(true);
                    next += 0x1000;
                    mem.WriteU64(slot, pde.Raw);
                }
                table = pde.Address;
            }
            var leaf = new AmdV1Pte(0).WithPresent(true).WithAddress(LeafSpa + ((ulong)n * 0x1000)).WithIoRead(true).WithIoWrite(true);
            mem.WriteU64(table + ((iova >> 12) & 511) * 8, leaf.Raw);
        }
        return machine;
    }
}
