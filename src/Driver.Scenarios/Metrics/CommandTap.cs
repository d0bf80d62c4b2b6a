using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Memory;

namespace Driver.Scenarios.Metrics;

/// <summary>
/// The MMIO path to the IOMMU with a tap on the command ring: at each write of the Tail register the
/// entries between the old and the new tail are read back (from the device's view of memory, so the
/// tap costs no simulated time) and counted by opcode. That is how a run counts IOTLB flushes without
/// the driver keeping statistics for it.
/// </summary>
internal sealed class CommandTap(IMmio inner, PhysicalMemory memory, ulong iommuBase) : IMmio
{
    private const int EntryBytes = 16;
    private const int OpcodeShift = 60;
    private const ulong InvalidateIommuPages = 3;
    private const ulong InvalidateIotlbPages = 4;
    private const ulong InvalidateIommuAll = 8;
    private const ulong CompletionWait = 1;

    private ulong _ringPa;
    private uint _entries;
    private uint _tail;

    public long Commands { get; private set; }

    /// <summary>INVALIDATE_IOMMU_PAGES, INVALIDATE_IOTLB_PAGES and INVALIDATE_IOMMU_ALL.</summary>
    public long IotlbFlushes { get; private set; }

    public long CompletionWaits { get; private set; }

    /// <summary>Starts counting on the ring at <paramref name="ringPa"/> of 2^<paramref name="lengthLg2"/> entries, whose tail is now <paramref name="tail"/>.</summary>
    public void Arm(ulong ringPa, int lengthLg2, uint tail)
    {
        _ringPa = ringPa;
        _entries = 1u << lengthLg2;
        _tail = tail;
    }

    public MmioStatus Read32(ulong address, out uint value) => inner.Read32(address, out value);

    public MmioStatus Read64(ulong address, out ulong value) => inner.Read64(address, out value);

    public MmioStatus Write32(ulong address, uint value)
    {
        Observe(address, value);
        return inner.Write32(address, value);
    }

    public MmioStatus Write64(ulong address, ulong value)
    {
        Observe(address, value);
        return inner.Write64(address, value);
    }

    private void Observe(ulong address, ulong value)
    {
        if (_entries == 0 || address != iommuBase + AmdIommuMmio.CommandBufferTailOffset)
            return;
        uint tail = (uint)(new RingPointerRegister(value).Offset) & (_entries - 1);
        for (uint i = _tail; i != tail; i = (i + 1) & (_entries - 1))
        {
            ulong opcode = memory.ReadU64(_ringPa + ((ulong)i * EntryBytes)) >> OpcodeShift;
            Commands++;
            if (opcode is InvalidateIommuPages or InvalidateIotlbPages or InvalidateIommuAll)
                IotlbFlushes++;
            else if (opcode == CompletionWait)
                CompletionWaits++;
        }
        _tail = tail;
    }
}
