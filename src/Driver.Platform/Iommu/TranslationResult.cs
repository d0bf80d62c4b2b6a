namespace Driver.Platform.Iommu;

/// <summary>
/// The outcome of one translation. EventWord0/1 hold the two event-log
/// words the IOMMU produced (whether or not the log accepted them), or zeros.
/// </summary>
public readonly record struct TranslationResult(
    TranslationStatus Status,
    ulong Spa,
    int PageShift,
    bool FromIotlb,
    long CostNs,
    ulong EventWord0,
    ulong EventWord1,
    long StallUntilNs)
{
    public bool IsOk => Status == TranslationStatus.Ok;

    public bool HasEvent => EventWord0 != 0;
}
