using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// The device table in memory: one 256-bit entry per DeviceID, written so that the IOMMU,
/// which may fetch an entry between any two of the driver's stores, never sees a mix of two
/// entries that lets DMA through (Linux's ordered update_dte256). The IOMMU reads the four
/// quadwords separately; quadword 0 holds V and TV, so:
/// <list type="bullet">
/// <item>installing (the old entry is not valid): quadwords 1 to 3 first, quadword 0 last;</item>
/// <item>removing (the new entry is not valid): quadword 0 first, then the rest;</item>
/// <item>replacing a valid entry: quadword 0 with TV clear first (DMA is refused, silently,
/// while the entry is in flux), then 1 to 3, then the new quadword 0.</item>
/// </list>
/// The caller then posts INVALIDATE_DEVTAB_ENTRY and waits, since the IOMMU caches entries.
/// </summary>
public sealed class DeviceTable
{
    public const int EntryBytes = 32;
    public const int EntriesPerPage = 4096 / EntryBytes;

    private readonly IPhysicalMemory _memory;

    public DeviceTable(IPhysicalMemory memory, ulong basePa, int pages)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (pages is < 1 or > 512)
            throw new ArgumentOutOfRangeException(nameof(pages), "BUG: the device table is 1 to 512 pages");
        _memory = memory;
        BasePa = basePa;
        Pages = pages;
    }

    public ulong BasePa { get; }

    public int Pages { get; }

    /// <summary>DeviceIDs 0 .. Entries - 1 have an entry.</summary>
    public int Entries => Pages * EntriesPerPage;

    /// <summary>The base register's value: base and size in pages minus one.</summary>
    public DeviceTableBaseRegister BaseRegister => new DeviceTableBaseRegister(0).WithBase(BasePa).WithSize((ushort)(Pages - 1));

    public bool Contains(int deviceId) => deviceId >= 0 && deviceId < Entries;

    public AmdDte Read(ushort deviceId)
    {
        ulong pa = EntryPa(deviceId);
        Span<ulong> words = stackalloc ulong[AmdDte.Words];
        for (int i = 0; i < words.Length; i++)
            words[i] = _memory.ReadU64(pa + ((ulong)i * 8));
        return new AmdDte(words);
    }

    /// <summary>Writes <paramref name="entry"/> in the order described on the class.</summary>
    public void Write(ushort deviceId, AmdDte entry)
    {
        ulong pa = EntryPa(deviceId);
        var old = Read(deviceId);
        if (!old.Valid)
        {
            WriteUpper(pa, entry);
            _memory.WriteU64(pa, entry.GetWord(0));
        }
        else if (!entry.Valid)
        {
            _memory.WriteU64(pa, entry.GetWord(0));
            WriteUpper(pa, entry);
        }
        else
        {
            _memory.WriteU64(pa, old.WithTranslationValid(false).GetWord(0));
            WriteUpper(pa, entry);
            _memory.WriteU64(pa, entry.GetWord(0));
        }
    }

    private void WriteUpper(ulong pa, AmdDte entry)
    {
        for (int i = 1; i < AmdDte.Words; i++)
            _memory.WriteU64(pa + ((ulong)i * 8), entry.GetWord(i));
    }

    private ulong EntryPa(ushort deviceId)
    {
        if (!Contains(deviceId))
            throw new ArgumentOutOfRangeException(nameof(deviceId), $"BUG: DeviceID 0x{deviceId:x4} is outside the device table");
        return BasePa + ((ulong)deviceId * EntryBytes);
    }
}
