using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu.Amd;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// Delivers the AMD driver's IO_PAGE_FAULT events to an iommufd context, where they are counted
/// on the bound device (<see cref="IommufdDevice.Faults"/>): counters, not a FAULT object, as
/// no fault queue is offered to user space. Other events are the driver's business.
/// </summary>
public sealed class AmdFaultSubscription : IDisposable
{
    private readonly AmdEventLog _log;
    private readonly IommufdContext _ctx;

    public AmdFaultSubscription(AmdEventLog log, IommufdContext ctx)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(ctx);
        _log = log;
        _ctx = ctx;
        _log.EventReceived += OnEvent;
    }

    /// <summary>IO page faults that named no device bound to the context.</summary>
    public long Unclaimed { get; private set; }

    private void OnEvent(AmdIommuEvent ev)
    {
        if (ev.Code != EventCode.IoPageFault)
            return;
        if (!_ctx.ReportFault(ev.DeviceId, ev.Address, ev.Write))
            Unclaimed++;
    }

    public void Dispose() => _log.EventReceived -= OnEvent;
}
