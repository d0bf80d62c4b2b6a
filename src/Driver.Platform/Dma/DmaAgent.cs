using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Driver.Platform.Time;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Platform.Dma;

/// <summary>
/// A device that issues DMA through the IOMMU at a fixed rate, as an event
/// source on the clock. Each 4 KiB piece of a transaction is translated; a
/// failure ends the transaction (pieces already moved stay moved, as on a
/// bus); a firmware stall parks it until the stall ends. Writes store the low
/// byte of the transaction number, so a test can see where data landed.
/// </summary>
public sealed class DmaAgent : IEventSource
{
    private readonly DmaAgentConfig _config;
    private readonly AmdIommu _iommu;
    private readonly PhysicalMemory _memory;
    private readonly Scheduler _scheduler;
    private readonly CostModel _costs;
    private readonly List<DmaRecord> _records = [];
    private readonly long _limit;
    private readonly ulong _physicalLimit;
    private readonly ILogger _logger;
    private long _issued;
    private long _due;

    // A transaction parked by a stall: where it resumes and when it was first issued.
    private ulong _resumeOffset;
    private long _stallIssuedNs = -1;

    public DmaAgent(DmaAgentConfig config, AmdIommu iommu, PhysicalMemory memory, Scheduler scheduler, CostModel costs, ILoggerFactory? loggerFactory = null)
    {
        if (config.Ops.Count == 0)
            throw new ArgumentException("a DMA agent needs at least one op", nameof(config));
        if (config.IntervalNs <= 0)
            throw new ArgumentOutOfRangeException(nameof(config), "the interval must be positive");
        foreach (var op in config.Ops)
            if (op.Size <= 0)
                throw new ArgumentOutOfRangeException(nameof(config), "every op moves at least one byte");
        _config = config;
        _iommu = iommu;
        _memory = memory;
        _scheduler = scheduler;
        _costs = costs;
        _physicalLimit = 1UL << iommu.Config.PhysicalAddressBits;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<DmaAgent>();
        _limit = config.Transactions < 0 ? config.Ops.Count : config.Transactions;
        _due = _limit == 0 ? long.MaxValue : config.StartNs;
    }

    public ushort DeviceId => _config.DeviceId;

    public IReadOnlyList<DmaRecord> Records => _records;

    public long NextDueNs => _due;

    public void RunNext()
    {
        var op = _config.Ops[(int)(_issued % _config.Ops.Count)];
        long now = _scheduler.NowNs;
        long issued = _stallIssuedNs >= 0 ? _stallIssuedNs : now;
        long cost = 0;
        ulong firstWord = 0;
        ulong offset = _resumeOffset;
        while (offset < (ulong)op.Size)
        {
            ulong iova = op.Iova + offset;
            ulong chunk = Math.Min((ulong)op.Size - offset, 0x1000 - (iova & 0xFFF));
            var t = _iommu.Translate(_config.DeviceId, iova, op.Write, _config.Trusted);
            cost += t.CostNs;
            if (t.Status == TranslationStatus.Stalled)
            {
                _resumeOffset = offset;
                _stallIssuedNs = issued;
                _due = Math.Max(t.StallUntilNs, now + 1);
                return;
            }
            if (!t.IsOk)
            {
                Finish(op, issued, now + cost, Outcome(t.Status), t.EventWord0, t.EventWord1, firstWord);
                return;
            }
            if (t.Spa + chunk > _physicalLimit)
            {
                Log.MasterAbort(_logger, _config.DeviceId, iova, t.Spa, op.Write);
                Finish(op, issued, now + cost, DmaOutcome.Aborted, 0, 0, firstWord);
                return;
            }
            if (op.Write)
            {
                _memory.Fill(t.Spa, chunk, (byte)_issued);
            }
            else if (offset == 0 && chunk >= 8 && (t.Spa & 7) == 0)
            {
                firstWord = _memory.ReadU64(t.Spa);
            }
            offset += chunk;
        }
        Finish(op, issued, now + cost + _costs.DmaTransferNs(op.Size), DmaOutcome.Completed, 0, 0, firstWord);
    }

    private static DmaOutcome Outcome(TranslationStatus status) => status switch
    {
        TranslationStatus.RmpFault => DmaOutcome.RmpRefused,
        TranslationStatus.Blocked => DmaOutcome.Blocked,
        _ => DmaOutcome.Faulted,
    };

    private void Finish(DmaOp op, long issued, long finished, DmaOutcome outcome, ulong ev0, ulong ev1, ulong firstWord)
    {
        long stalled = _stallIssuedNs >= 0 ? _scheduler.NowNs - _stallIssuedNs : 0;
        _records.Add(new DmaRecord(issued, finished, _config.DeviceId, op, outcome, stalled, ev0, ev1, firstWord));
        _resumeOffset = 0;
        _stallIssuedNs = -1;
        _issued++;
        _due = _issued >= _limit ? long.MaxValue : Math.Max(_config.StartNs + _issued * _config.IntervalNs, _scheduler.NowNs + 1);
    }
}
