using Driver.Hw.Interfaces;
using Driver.Platform.Snp;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Monitors;

/// <summary>
/// Watches what hardware makes visible and records each broken invariant as a
/// <see cref="Violation"/>. The kernel feeds it through <see cref="IPlatformNotify"/>
/// (which frames are tables, what it is doing); the IOMMU feeds it walks,
/// completed DMA and cached translations that disagree with memory.
/// </summary>
public sealed class InvariantMonitor : IPlatformNotify
{
    private readonly SimClock _clock;
    private readonly RmpTable? _rmp;
    private readonly HashSet<ulong> _freedTables = [];
    private readonly HashSet<ulong> _tables = [];
    private readonly HashSet<ulong> _freedFrames = [];
    private readonly List<Violation> _violations = [];
    private readonly ILogger _logger;

    public InvariantMonitor(SimClock clock, RmpTable? rmp, ILoggerFactory? loggerFactory = null)
    {
        _clock = clock;
        _rmp = rmp;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<InvariantMonitor>();
    }

    public IReadOnlyList<Violation> Violations => _violations;

    /// <summary>The kernel operation in progress, as last reported.</summary>
    public string? Operation { get; private set; }

    public void TableFrameAllocated(ulong pa)
    {
        _freedTables.Remove(pa & ~0xFFFUL);
        _tables.Add(pa & ~0xFFFUL);
    }

    public void TableFrameFreed(ulong pa)
    {
        _freedTables.Add(pa & ~0xFFFUL);
        _tables.Remove(pa & ~0xFFFUL);
    }

    public void MemoryFrameAllocated(ulong pa) => _freedFrames.Remove(pa & ~0xFFFUL);

    public void MemoryFrameFreed(ulong pa) => _freedFrames.Add(pa & ~0xFFFUL);

    /// <summary>Whether the kernel said the frame holding <paramref name="pa"/> is one of its tables.</summary>
    internal bool IsTableFrame(ulong pa) => _tables.Count != 0 && _tables.Contains(pa & ~0xFFFUL);

    public void SetOperation(string? operation) => Operation = operation;

    internal void TableRead(ushort deviceId, ulong iova, ulong table)
    {
        if (_freedTables.Count != 0 && _freedTables.Contains(table & ~0xFFFUL))
            Report(ViolationKind.WalkThroughFreedTable, deviceId, iova, table);
    }

    /// <summary>
    /// A DMA reached <paramref name="spa"/>: never a memory frame the kernel freed; an untrusted one (<paramref name="asid"/> = 0) must not
    /// reach any guest's private page, a trusted one no private page of a guest other than its own.
    /// </summary>
    internal void DmaReached(ushort deviceId, ulong iova, ulong spa, bool write, ushort asid = 0)
    {
        if (_freedFrames.Count != 0 && _freedFrames.Contains(spa & ~0xFFFUL))
            Report(ViolationKind.DmaReachedFreedFrame, deviceId, iova, spa);
        if (_rmp is null || !_rmp.Covers(spa))
            return;
        var entry = _rmp.ReadEffective(spa >> 12, out _);
        if (!RmpStates.IsGuestPrivate(entry))
            return;
        if (asid == 0)
            Report(ViolationKind.PrivatePageReached, deviceId, iova, spa);
        else if (entry.Asid != asid)
            Report(ViolationKind.TrustedDmaReachedForeignPage, deviceId, iova, spa);
    }

    internal void StaleTranslation(ushort deviceId, ulong iova, ulong spa, bool write) =>
        Report(ViolationKind.StaleTranslationAfterInvalidation, deviceId, iova, spa);

    internal void StaleTranslationAfterCompletionWait(ushort deviceId, ulong iova, ulong spa, bool write) =>
        Report(ViolationKind.StaleTranslationAfterCompletionWait, deviceId, iova, spa);

    private void Report(ViolationKind kind, ushort deviceId, ulong iova, ulong detail)
    {
        var violation = new Violation(kind, _clock.NowNs, deviceId, iova, detail, Operation);
        _violations.Add(violation);
        Log.Violation(_logger, kind, deviceId, iova, detail, Operation ?? "idle", violation.TimeNs);
    }
}
