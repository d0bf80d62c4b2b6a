using Driver.Hw.Interfaces;

namespace Driver.Platform.Bus;

/// <summary>An MMIO access that failed on the bus, as a machine-check log would show it.</summary>
public readonly record struct BusError(long TimeNs, ulong Address, int Size, bool Write, MmioStatus Status);
