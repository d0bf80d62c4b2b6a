using Driver.Hw.Interfaces;
using Driver.Platform.Time;

namespace Driver.Platform.Memory;

/// <summary>
/// Physical memory as the kernel's direct map: the same frames the devices
/// see, but every access is a kernel-visible point where due DMA runs first
/// (a PTE write racing a device is exactly what the scheduler must expose).
/// </summary>
public sealed class KernelMemory : IPhysicalMemory
{
    private readonly PhysicalMemory _memory;
    private readonly Scheduler _scheduler;
    private readonly long _costNs;

    public KernelMemory(PhysicalMemory memory, Scheduler scheduler, CostModel costs)
    {
        _memory = memory;
        _scheduler = scheduler;
        _costNs = costs.CpuMemoryAccessNs;
    }

    /// <summary>Told of every 64-bit word the kernel stores (the monitors' view of page-table changes); null when none watch.</summary>
    internal Action<ulong>? Written { get; set; }

    public ulong ReadU64(ulong pa)
    {
        _scheduler.HardwareAccess(_costNs);
        return _memory.ReadU64(pa);
    }

    public void WriteU64(ulong pa, ulong value)
    {
        _scheduler.HardwareAccess(_costNs);
        _memory.WriteU64(pa, value);
        Written?.Invoke(pa);
    }

    public ulong CompareExchangeU64(ulong pa, ulong value, ulong comparand)
    {
        _scheduler.HardwareAccess(_costNs);
        ulong old = _memory.CompareExchangeU64(pa, value, comparand);
        if (old == comparand)
            Written?.Invoke(pa);
        return old;
    }

    public void Read(ulong pa, Span<byte> destination)
    {
        _scheduler.HardwareAccess(_costNs);
        _memory.Read(pa, destination);
    }

    public void Write(ulong pa, ReadOnlySpan<byte> source)
    {
        _scheduler.HardwareAccess(_costNs);
        _memory.Write(pa, source);
    }

    public void Fill(ulong pa, ulong length, byte value)
    {
        _scheduler.HardwareAccess(_costNs);
        _memory.Fill(pa, length, value);
    }
}
