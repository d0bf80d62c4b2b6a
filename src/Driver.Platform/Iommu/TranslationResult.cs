namespace Driver.Platform.Iommu;

/// <summary>
/// The outcome of one translation, built by the factory for its kind.
/// EventWord0/1 hold the two event-log words the IOMMU produced (whether or
/// not the log accepted them), or zeros.
/// </summary>
public readonly record struct TranslationResult
{
    private TranslationResult(TranslationStatus status, long costNs)
    {
        Status = status;
        CostNs = costNs;
    }

    public TranslationStatus Status { get; }

    public ulong Spa { get; private init; }

    public int PageShift { get; private init; }

    public bool FromIotlb { get; private init; }

    public long CostNs { get; }

    public ulong EventWord0 { get; private init; }

    public ulong EventWord1 { get; private init; }

    public long StallUntilNs { get; private init; }

    public bool IsOk => Status == TranslationStatus.Ok;

    /// <summary>Allowed: <paramref name="spa"/> through a translation of 2^<paramref name="pageShift"/> bytes.</summary>
    public static TranslationResult Allowed(ulong spa, int pageShift, bool fromIotlb, long costNs) =>
        new(TranslationStatus.Ok, costNs) { Spa = spa, PageShift = pageShift, FromIotlb = fromIotlb };

    /// <summary>Refused with an event (whether or not the log took it).</summary>
    public static TranslationResult Faulted(TranslationStatus status, ulong eventWord0, ulong eventWord1, long costNs) =>
        new(status, costNs) { EventWord0 = eventWord0, EventWord1 = eventWord1 };

    /// <summary>V = 1, TV = 0: aborted without an event.</summary>
    public static TranslationResult Blocked(long costNs) => new(TranslationStatus.Blocked, costNs);

    /// <summary>Held by firmware until <paramref name="untilNs"/>; the device retries then.</summary>
    public static TranslationResult Stalled(ulong spa, int pageShift, bool fromIotlb, long costNs, long untilNs) =>
        new(TranslationStatus.Stalled, costNs) { Spa = spa, PageShift = pageShift, FromIotlb = fromIotlb, StallUntilNs = untilNs };
}
