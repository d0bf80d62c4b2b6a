using Driver.Hw.Interfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Interrupts;

/// <summary>
/// The machine's interrupt delivery. A device raises a line from inside its own work (a DMA
/// event, a command); the line stays pending until the kernel's current hardware access has
/// finished, and then its handler runs on the kernel thread, once however often the line was
/// raised meanwhile, as an edge-triggered MSI coalesces. A handler's own hardware accesses do
/// not deliver again until it returns. A line with no handler is a spurious interrupt: counted
/// and dropped.
/// </summary>
public sealed class InterruptController : IInterruptController
{
    private readonly Dictionary<int, Action> _handlers = [];
    private readonly SortedSet<int> _pending = [];
    private readonly ILogger _logger;
    private bool _delivering;

    public InterruptController(ILoggerFactory? loggerFactory = null) =>
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<InterruptController>();

    /// <summary>Handler runs so far.</summary>
    public long Delivered { get; private set; }

    /// <summary>Raised lines that had no handler.</summary>
    public long Spurious { get; private set; }

    public bool HasPending => _pending.Count != 0;

    public bool RequestIrq(int irq, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return _handlers.TryAdd(irq, handler);
    }

    public void FreeIrq(int irq)
    {
        _handlers.Remove(irq);
        _pending.Remove(irq);
    }

    /// <summary>A device raises <paramref name="irq"/>; delivery waits for the end of the kernel's access.</summary>
    public void Raise(int irq) => _pending.Add(irq);

    /// <summary>Runs the handlers of every pending line, lowest line first; nothing when already inside a handler.</summary>
    public void DeliverPending()
    {
        if (_delivering || _pending.Count == 0)
            return;
        _delivering = true;
        try
        {
            while (_pending.Count != 0)
            {
                int irq = _pending.Min;
                _pending.Remove(irq);
                if (_handlers.TryGetValue(irq, out var handler))
                {
                    Delivered++;
                    handler();
                }
                else
                {
                    Spurious++;
                    Log.Spurious(_logger, irq);
                }
            }
        }
        finally
        {
            _delivering = false;
        }
    }
}
