using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>An AMD IOMMU register file that only remembers: Status is w1c, every write is recorded in order.</summary>
internal sealed class FakeAmdRegisters : IMmio
{
    public const ulong Base = 0xFED8_0000;

    public Dictionary<ulong, ulong> Values { get; } = [];

    public List<(ulong Offset, ulong Value)> Writes { get; } = [];

    public MmioStatus Read32(ulong pa, out uint value)
    {
        Read64(pa & ~7UL, out ulong v);
        value = (uint)(v >> (int)((pa & 4) * 8));
        return MmioStatus.Ok;
    }

    public MmioStatus Read64(ulong pa, out ulong value)
    {
        value = Values.GetValueOrDefault(pa - Base);
        return MmioStatus.Ok;
    }

    public MmioStatus Write32(ulong pa, uint value) => Write64(pa, value);

    public MmioStatus Write64(ulong pa, ulong value)
    {
        ulong offset = pa - Base;
        Writes.Add((offset, value));
        Values[offset] = offset == AmdIommuMmio.StatusOffset ? Values.GetValueOrDefault(offset) & ~value : value;
        return MmioStatus.Ok;
    }
}
