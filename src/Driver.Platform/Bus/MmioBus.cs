using Driver.Hw.Interfaces;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Bus;

/// <summary>
/// The MMIO bus: devices claim windows, the kernel reads and writes them. Every
/// access is a point where device DMA may interleave and costs one MMIO access
/// of simulated time. An access to no device, or a misaligned one, is recorded
/// as a <see cref="BusError"/> and reported to the caller; it never throws.
/// </summary>
public sealed class MmioBus : IMmio
{
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly List<BusError> _errors = [];
    private readonly ILogger _logger;
    private Window[] _windows = [];

    public MmioBus(Scheduler scheduler, CostModel costs, ILoggerFactory? loggerFactory = null)
    {
        _scheduler = scheduler;
        _costs = costs;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<MmioBus>();
    }

    /// <summary>Every failed access so far, oldest first.</summary>
    public IReadOnlyList<BusError> Errors => _errors;

    /// <summary>Gives <paramref name="device"/> the window [<paramref name="baseAddress"/>, +<paramref name="size"/>).</summary>
    public void Map(ulong baseAddress, ulong size, IMmioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (size == 0 || baseAddress + size < baseAddress || baseAddress + size > IPhysicalMemory.Limit)
            throw new ArgumentOutOfRangeException(nameof(size), $"window 0x{baseAddress:x}+0x{size:x} does not fit the physical address space");
        foreach (var w in _windows)
            if (baseAddress < w.Base + w.Size && w.Base < baseAddress + size)
                throw new InvalidOperationException($"window 0x{baseAddress:x}+0x{size:x} overlaps 0x{w.Base:x}+0x{w.Size:x}");
        _windows = [.. _windows, new Window(baseAddress, size, device)];
    }

    public MmioStatus Read32(ulong pa, out uint value)
    {
        var status = Access(pa, 4, false, 0, out ulong wide);
        value = (uint)wide;
        return status;
    }

    public MmioStatus Read64(ulong pa, out ulong value) => Access(pa, 8, false, 0, out value);

    public MmioStatus Write32(ulong pa, uint value) => Access(pa, 4, true, value, out _);

    public MmioStatus Write64(ulong pa, ulong value) => Access(pa, 8, true, value, out _);

    private MmioStatus Access(ulong pa, int size, bool write, ulong value, out ulong read)
    {
        _scheduler.HardwareAccess(_costs.MmioAccessNs);
        read = size == 8 ? ulong.MaxValue : uint.MaxValue;
        if ((pa & (ulong)(size - 1)) != 0)
            return Fail(pa, size, write, MmioStatus.Misaligned);
        foreach (var w in _windows)
        {
            if (pa - w.Base >= w.Size)
                continue;
            if (pa - w.Base > w.Size - (ulong)size)
                break;
            if (write)
                w.Device.Write(pa - w.Base, size, value);
            else
                read = w.Device.Read(pa - w.Base, size);
            return MmioStatus.Ok;
        }
        return Fail(pa, size, write, MmioStatus.NoDevice);
    }

    private MmioStatus Fail(ulong pa, int size, bool write, MmioStatus status)
    {
        var error = new BusError(_scheduler.NowNs, pa, size, write, status);
        _errors.Add(error);
        Log.BusError(_logger, pa, size, write, status, error.TimeNs);
        return status;
    }

    private readonly record struct Window(ulong Base, ulong Size, IMmioDevice Device);
}
