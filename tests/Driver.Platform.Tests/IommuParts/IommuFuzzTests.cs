using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Iommu;
using Driver.Platform.Time;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>
/// Random MMIO over the whole register window, random words under the rings, the device table and
/// the page tables, and random DMA, for a fixed number of seeded steps: nothing may throw out of the
/// bus or the device, and afterwards a driver that resets the IOMMU as Linux does gets a working one.
/// </summary>
public class IommuFuzzTests
{
    public const int Steps = 20_000;

    private const ushort Dev = 0x12;
    private const ushort Domain = 5;

    private static readonly ulong[] Registers =
    [
        AmdIommuMmio.DeviceTableBaseOffset, AmdIommuMmio.CommandBufferBaseOffset, AmdIommuMmio.EventLogBaseOffset,
        AmdIommuMmio.ControlOffset, AmdIommuMmio.ExclusionBaseOffset, AmdIommuMmio.ExclusionLimitOffset,
        AmdIommuMmio.ExtendedFeatureOffset, AmdIommuMmio.ExtendedFeature2Offset, AmdIommuMmio.CommandBufferHeadOffset,
        AmdIommuMmio.CommandBufferTailOffset, AmdIommuMmio.EventLogHeadOffset, AmdIommuMmio.EventLogTailOffset,
        AmdIommuMmio.StatusOffset,
    ];

    [Theory]
    [InlineData(1UL, 52)]
    [InlineData(2UL, 40)]
    [InlineData(3UL, 32)]
    public void Random_registers_and_memory_never_throw_and_a_reset_iommu_serves_again(ulong seed, int physicalBits)
    {
        var logs = new Logs();
        var d = new DeviceRig(new MachineConfig { LoggerFactory = logs.Factory, Seed = seed, ExtraInterleaving = 0.05, Iommu = new IommuConfig { PhysicalAddressBits = physicalBits } }).Init();
        var m = d.Machine;
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level4, Domain));
        var tables = new List<ulong> { root };
        for (ulong i = 0; i < 8; i++)
            d.Map4K(root, 4, i << 21, 0x4000_0000 + (i << 12));
        tables.AddRange(Enumerable.Range(0, 12).Select(i => root + 0x1000 + ((ulong)i * 0x1000)));

        var random = new SplitMix64(seed);
        int busErrors = 0;
        var seen = new HashSet<TranslationStatus>();
        for (int step = 0; step < Steps; step++)
        {
            switch (random.NextInt(10))
            {
                case < 3:
                    ulong pa = Address(ref random);
                    ulong value = random.Chance(0.6) ? Plausible(ref random, pa - Machine.IommuMmioBase, tables) : Value(ref random);
                    if (m.Mmio.Write64(pa, value) != MmioStatus.Ok)
                        busErrors++;
                    break;
                case 3:
                    if (m.Mmio.Write32(Address(ref random), (uint)Value(ref random)) != MmioStatus.Ok)
                        busErrors++;
                    break;
                case 4:
                    var status = random.Chance(0.5) ? m.Mmio.Read64(Address(ref random), out _) : m.Mmio.Read32(Address(ref random), out _);
                    if (status != MmioStatus.Ok)
                        busErrors++;
                    break;
                case < 8:
                    ulong word = MemoryWord(ref random, tables, out var kind);
                    m.Memory.WriteU64(word, random.Chance(0.6) ? PlausibleWord(ref random, kind, tables) : Value(ref random));
                    break;
                case 8:
                    ushort device = random.Chance(0.5) ? Dev : (ushort)random.NextInt(1 << 16);
                    var outcome = m.Iommu.Translate(device, random.Chance(0.5) ? (ulong)random.NextInt(16) << 21 : random.Next(), random.Chance(0.5)).Status;
                    seen.Add(outcome);
                    break;
                default:
                    m.Clock.Delay(random.NextInt(5_000));
                    break;
            }
        }
        busErrors.ShouldBeGreaterThan(0, "misaligned and out-of-window accesses were tried");
        m.Bus.Errors.Count.ShouldBe(busErrors);
        // The noise reached the deep paths: commands ran and were refused, events were written and lost.
        m.Iommu.CommandsExecuted.ShouldBeGreaterThan(0);
        logs.Count(2000).ShouldBeGreaterThan(0, "ILLEGAL_COMMAND_ERROR");
        logs.Count(2003).ShouldBeGreaterThan(0, "event log overflow");
        m.Iommu.EventsLogged.ShouldBeGreaterThan(0);
        seen.ShouldContain(TranslationStatus.Ok);
        seen.ShouldContain(TranslationStatus.DeviceTableError);

        // Linux's reset: disable, reprogram the bases, clear the w1c status, enable, flush everything.
        d.Write64(AmdIommuMmio.ControlOffset, 0);
        d.Init(enable: false);
        d.Write64(AmdIommuMmio.StatusOffset, ulong.MaxValue);
        d.Write64(AmdIommuMmio.ControlOffset, new ControlRegister(0).WithIommuEn(true).WithEventLogEn(true).WithCmdBufEn(true).Raw);
        d.Status.Raw.ShouldBe(new StatusRegister(0).WithEventLogRun(true).WithCmdBufRun(true).Raw);
        // Fresh tables the noise never reached, zeroed as a driver zeroes a new page.
        const ulong Fresh = 0x0800_0000;
        d.Mem.Fill(Fresh, 0x3000, 0);
        d.Mem.WriteU64(Fresh, DeviceRig.Pte(Fresh + 0x1000, 2).Raw);
        d.Mem.WriteU64(Fresh + 0x1000, DeviceRig.Pte(Fresh + 0x2000, 1).Raw);
        d.Mem.WriteU64(Fresh + 0x2000 + (7 * 8), DeviceRig.Pte(0x5000_0000, 0).Raw);
        d.SetDte(Dev, DeviceRig.Dte(Fresh, PagingMode.Level3, Domain));
        d.Submit(DeviceRig.InvalidateDte(Dev), DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue("COMPLETION_WAIT completes after the reset");
        d.DrainEvents().ShouldBeEmpty();
        var after = d.Dma(Dev, 0x7123, write: true);
        after.Status.ShouldBe(TranslationStatus.Ok);
        after.Spa.ShouldBe(0x5000_0123UL);
        d.Dma(Dev, 0x8000).Status.ShouldBe(TranslationStatus.IoPageFault);
        var ev = d.DrainEvents().ShouldHaveSingleItem();
        new IoPageFaultDetailEvent([ev.W0, ev.W1]).Address.ShouldBe(0x8000UL);
    }

    private static ulong Address(ref SplitMix64 random)
    {
        ulong offset = random.NextInt(8) switch
        {
            0 => (ulong)random.NextInt((int)AmdIommuMmio.Size) & (random.Chance(0.8) ? ~3UL : ~0UL),
            1 => Registers[random.NextInt(Registers.Length)] + 4,
            2 => AmdIommuMmio.Size - 8 + (ulong)random.NextInt(16),
            _ => Registers[random.NextInt(Registers.Length)] + (random.Chance(0.95) ? 0 : (ulong)random.NextInt(8)),
        };
        return Machine.IommuMmioBase + offset;
    }

    private static ulong Value(ref SplitMix64 random) => random.NextInt(4) switch
    {
        0 => random.Next(),
        1 => (ulong)random.NextInt(1 << 16),
        2 => 1UL << random.NextInt(64),
        _ => random.Next() & random.Next(),
    };

    private static ulong MemoryWord(ref SplitMix64 random, List<ulong> tables, out int kind)
    {
        ulong word = (ulong)random.NextInt(512) * 8;
        kind = random.NextInt(5);
        return kind switch
        {
            0 => DeviceRig.CommandRing + ((ulong)random.NextInt(16) * 16) + (random.Chance(0.8) ? 0 : 8UL),
            1 => DeviceRig.EventLog + word,
            2 => DeviceRig.DeviceTable + ((ulong)Dev * 32) + (word & 24),
            3 => DeviceRig.DeviceTable + (word * 4),
            _ => tables[random.NextInt(tables.Count)] + word,
        };
    }

    // Values a driver might write, bent a little: they reach deeper than uniform noise does.
    private static ulong Plausible(ref SplitMix64 random, ulong offset, List<ulong> tables)
    {
        byte length = (byte)(random.Chance(0.7) ? 8 : random.NextInt(16));
        return (offset & ~7UL) switch
        {
            AmdIommuMmio.DeviceTableBaseOffset => new DeviceTableBaseRegister(0).WithBase(Pointer(ref random, tables, DeviceRig.DeviceTable)).WithSize((ushort)random.NextInt(512)).Raw,
            AmdIommuMmio.CommandBufferBaseOffset => new CommandBufferBaseRegister(0).WithBase(Pointer(ref random, tables, DeviceRig.CommandRing)).WithLength(length).Raw,
            AmdIommuMmio.EventLogBaseOffset => new EventLogBaseRegister(0).WithBase(Pointer(ref random, tables, DeviceRig.EventLog)).WithLength(length).Raw,
            AmdIommuMmio.ControlOffset => new ControlRegister(random.Next() & 0x101E).WithIommuEn(random.Chance(0.9)).WithCmdBufEn(random.Chance(0.9)).WithEventLogEn(random.Chance(0.9)).Raw,
            AmdIommuMmio.CommandBufferHeadOffset or AmdIommuMmio.CommandBufferTailOffset or AmdIommuMmio.EventLogHeadOffset or AmdIommuMmio.EventLogTailOffset =>
                new RingPointerRegister(0).WithOffset((ushort)random.NextInt(16)).Raw,
            _ => random.Next() & 0x7FF,
        };
    }

    private static ulong PlausibleWord(ref SplitMix64 random, int kind, List<ulong> tables)
    {
        switch (kind)
        {
            case 0:
                // A command header: a real opcode, a store to the semaphore or anywhere, maybe reserved bits.
                ulong opcode = random.Chance(0.8) ? 1 : (ulong)random.NextInt(10);
                ulong w0 = (opcode << 60) | (random.Chance(0.5) ? DeviceRig.Semaphore | 1 : random.Next() & 0x000F_FFFF_FFFF_FFF9);
                return random.Chance(0.1) ? w0 | (1UL << random.NextInt(60)) : w0;
            case 2:
            case 3:
                var dte = DeviceRig.Dte(Pointer(ref random, tables, tables[0]), (PagingMode)random.NextInt(8), Domain, random.Chance(0.8), random.Chance(0.8));
                return dte.WithTranslationValid(random.Chance(0.9)).GetWord(random.NextInt(2));
            case 4:
                return DeviceRig.Pte(Pointer(ref random, tables, tables[0]), random.NextInt(8), random.Chance(0.8), random.Chance(0.8)).Raw;
            default:
                return random.Next();
        }
    }

    // A table pointer: one of ours, the usual one, or one at or beyond the smaller limits.
    private static ulong Pointer(ref SplitMix64 random, List<ulong> tables, ulong usual) => random.NextInt(4) switch
    {
        0 => usual,
        1 => tables[random.NextInt(tables.Count)],
        2 => (1UL << (32 + random.NextInt(20))) - (random.Chance(0.5) ? 0x1000UL : 0),
        _ => random.Next() & 0x000F_FFFF_FFFF_F000,
    };
}
