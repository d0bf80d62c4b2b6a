namespace Driver.Hw.Interfaces;

/// <summary>
/// Memory-mapped I/O as the CPU issues it (readl/readq/writel/writeq). An
/// access that no device claims is a bus error reported as a value, as a PCI
/// master abort is: the read returns all ones and the kernel sees the status.
/// </summary>
public interface IMmio
{
    MmioStatus Read32(ulong pa, out uint value);

    MmioStatus Read64(ulong pa, out ulong value);

    MmioStatus Write32(ulong pa, uint value);

    MmioStatus Write64(ulong pa, ulong value);
}
