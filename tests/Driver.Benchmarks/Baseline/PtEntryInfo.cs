namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>One translation as the table holds it.</summary>
/// <param name="Iova">First IOVA of the entry.</param>
/// <param name="Oa">Output address of its first byte.</param>
/// <param name="SizeLg2">Log2 of its size.</param>
/// <param name="Level">Table level of its items.</param>
/// <param name="Prot">Access it grants.</param>
/// <param name="Dirty">Whether any of its items is write-dirty.</param>
public readonly record struct PtEntryInfo(ulong Iova, ulong Oa, int SizeLg2, int Level, IommuProt Prot, bool Dirty)
{
    public ulong Size => 1UL << SizeLg2;
}
