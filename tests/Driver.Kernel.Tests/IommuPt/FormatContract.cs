using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

/// <summary>Each format's item encoding, checked level by level and size by size.</summary>
public abstract class FormatContract<TFormat>
    where TFormat : struct, IPtFormat
{
    /// <summary>The sizes each level must offer.</summary>
    protected abstract ulong[] ExpectedSizes { get; }

    /// <summary>Requested access and what the format can express of it.</summary>
    protected abstract (IommuProt Asked, IommuProt Granted)[] ProtRoundTrips { get; }

    private static IEnumerable<int> SizesAt(int level)
    {
        ulong sizes = TFormat.PossibleSizes(level);
        for (int lg2 = 0; lg2 < 64; lg2++)
        {
            if ((sizes & (1UL << lg2)) != 0)
                yield return lg2;
        }
    }

    [Fact]
    public void PossibleSizes_PerLevel()
    {
        for (int level = 0; level <= TFormat.MaxTopLevel; level++)
            TFormat.PossibleSizes(level).ShouldBe(ExpectedSizes[level], $"level {level}");
    }

    [Fact]
    public void LeafOutputAddress_EverySizeAndBoundaryAddress()
    {
        ulong attrs = TFormat.AttrsFromProt(IommuProt.Read | IommuProt.Write);
        for (int level = 0; level <= TFormat.MaxTopLevel; level++)
        {
            foreach (int lg2 in SizesAt(level))
            {
                ulong size = 1UL << lg2;
                foreach (ulong oa in new[] { 0UL, size, 3 * size, (1UL << TFormat.MaxOaBits) - size }.Where(oa => oa + size <= 1UL << TFormat.MaxOaBits))
                {
                    ulong item = TFormat.MakeLeaf(oa, lg2, level, attrs);
                    TFormat.Classify(item, level).ShouldBe(PtEntryType.Leaf);
                    TFormat.LeafSizeLg2(item, level).ShouldBe(lg2, $"level {level} size 2^{lg2} oa 0x{oa:x}");
                    TFormat.LeafOa(item, level).ShouldBe(oa);
                    TFormat.LeafAttrs(item).ShouldBe(attrs);
                    (item & TFormat.DirtyBit).ShouldBe(attrs & TFormat.DirtyBit);
                    // Linear in the output address, which lets the map loop step by addition.
                    (TFormat.MakeLeaf(oa + size, lg2, level, attrs) - item).ShouldBe(
                        TFormat.MakeLeaf(size, lg2, level, 0) - TFormat.MakeLeaf(0, lg2, level, 0));
                }
            }
        }
    }

    [Fact]
    public void TableItems_PointAtTheirTable()
    {
        for (int level = 1; level <= TFormat.MaxTopLevel; level++)
        {
            foreach (ulong pa in new ulong[] { 0, 0x1000, 0x000F_FFFF_FFFF_F000 })
            {
                ulong item = TFormat.MakeTable(pa, level);
                TFormat.Classify(item, level).ShouldBe(PtEntryType.Table);
                TFormat.TablePa(item).ShouldBe(pa);
            }
        }
        TFormat.Classify(0, 0).ShouldBe(PtEntryType.Empty);
        TFormat.Classify(0, TFormat.MaxTopLevel).ShouldBe(PtEntryType.Empty);
    }

    [Fact]
    public void AttributeRoundTrip()
    {
        foreach (var (asked, granted) in ProtRoundTrips)
        {
            ulong attrs = TFormat.AttrsFromProt(asked);
            TFormat.ProtFromAttrs(attrs).ShouldBe(granted, $"{asked}");
            TFormat.LeafAttrs(TFormat.MakeLeaf(0x20_0000, 21, 1, attrs)).ShouldBe(attrs);
        }
    }
}

public sealed class AmdV1FormatTests : FormatContract<AmdV1Format>
{
    private const ulong Level0 = 0x1F_F000;           // 4K .. 1M
    private const ulong Level1 = 0x3FE0_0000;         // 2M .. 512M
    private const ulong Level2 = 0x7F_C000_0000;      // 1G .. 256G
    private const ulong Level3 = 0xFF00_0000_0000;    // 1T .. 128T: 512G is the erratum
    private const ulong Level4 = 0xF_0000_0000_0000;  // 256T .. 2^51

    protected override ulong[] ExpectedSizes => [Level0, Level1, Level2, Level3, Level4, 0];

    protected override (IommuProt, IommuProt)[] ProtRoundTrips =>
    [
        (IommuProt.Read, IommuProt.Read),
        (IommuProt.Write, IommuProt.Write),
        (IommuProt.Read | IommuProt.Write | IommuProt.Cache, IommuProt.Read | IommuProt.Write | IommuProt.Cache),
        (IommuProt.Read | IommuProt.NoExec | IommuProt.Mmio, IommuProt.Read),
    ];

    [Fact]
    public void SizedLeaf_EncodesItsSizeInTheAddress()
    {
        // 32 KiB at 0x40000: ones in address bits 12..13, bit 14 clear, NextLevel 7.
        ulong item = AmdV1Format.MakeLeaf(0x40000, 15, 0, 0);
        item.ShouldBe(0x40000UL | 0x3000 | (7UL << 9) | 1);
        AmdV1Format.MakeLeaf(0x200000, 21, 1, 0).ShouldBe(0x200001UL);
        AmdV1Format.MakeTable(0x5000, 3).ShouldBe(0x6000_0000_0000_5000UL | (3UL << 9) | 1);
        AmdV1Format.Classify(0x5000 | (7UL << 9), 1).ShouldBe(PtEntryType.Empty);
        AmdV1Format.Classify(1 | (3UL << 9), 0).ShouldBe(PtEntryType.Leaf);
        AmdV1Format.AttrsFromProt(IommuProt.Read | IommuProt.Write | IommuProt.Cache).ShouldBe(0x7000_0000_0000_0000UL);
        AmdV1Format.AttrsFromProt(IommuProt.Write).ShouldBe(0x4000_0000_0000_0000UL);
    }
}

public sealed class X86FormatTests : FormatContract<X86Format>
{
    protected override ulong[] ExpectedSizes => [1UL << 12, 1UL << 21, 1UL << 30, 0, 0];

    protected override (IommuProt, IommuProt)[] ProtRoundTrips =>
    [
        (IommuProt.Read, IommuProt.Read),
        (IommuProt.Write, IommuProt.Read | IommuProt.Write),
        (IommuProt.Read | IommuProt.Cache | IommuProt.NoExec, IommuProt.Read),
    ];

    [Fact]
    public void LargeLeaves_HavePageSize_AndTopLevelsNever()
    {
        X86Format.MakeLeaf(0x4000_0000, 30, 2, 0).ShouldBe(0x4000_0081UL);
        X86Format.MakeLeaf(0x1000, 12, 0, 0).ShouldBe(0x1001UL);
        X86Format.Classify(0x81, 3).ShouldBe(PtEntryType.Table);
        X86Format.Classify(0x1, 1).ShouldBe(PtEntryType.Table);
        // Bit 12 of a large leaf is PAT, not address.
        X86Format.LeafOa(0x4000_1081, 2).ShouldBe(0x4000_0000UL);
        X86Format.ProtFromAttrs(X86Format.LeafAttrs(0x8000_0000_0000_0001)).ShouldBe(IommuProt.Read | IommuProt.NoExec);
        X86Format.MakeTable(0x5000, 1).ShouldBe(0x5027UL);
        X86Format.AttrsFromProt(IommuProt.Read).ShouldBe(0x24UL);
        X86Format.AttrsFromProt(IommuProt.Write).ShouldBe(0x66UL);
    }
}

public sealed class RiscvFormatTests : FormatContract<RiscvFormat>
{
    protected override ulong[] ExpectedSizes =>
        [(1UL << 12) | (1UL << 16), 1UL << 21, 1UL << 30, 1UL << 39, 1UL << 48];

    protected override (IommuProt, IommuProt)[] ProtRoundTrips =>
    [
        (IommuProt.Read, IommuProt.Read),
        (IommuProt.Write, IommuProt.Read | IommuProt.Write),
        (IommuProt.Read | IommuProt.NoExec, IommuProt.Read | IommuProt.NoExec),
        (IommuProt.Write | IommuProt.NoExec | IommuProt.Cache, IommuProt.Read | IommuProt.Write | IommuProt.NoExec),
    ];

    [Fact]
    public void Svnapot_AndPointers()
    {
        // 64 KiB at 0x10000: PPN 0x10 with its low four bits replaced by 1000, N set.
        RiscvFormat.MakeLeaf(0x10000, 16, 0, 0).ShouldBe((1UL << 63) | (0x18UL << 10) | 1);
        RiscvFormat.MakeTable(0x5000, 2).ShouldBe((0x5UL << 10) | 1);
        RiscvFormat.Classify((0x5UL << 10) | 1, 0).ShouldBe(PtEntryType.Leaf);
        RiscvFormat.Classify((0x5UL << 10) | 1 | 8, 2).ShouldBe(PtEntryType.Leaf);
        RiscvFormat.Classify(0x5UL << 10, 2).ShouldBe(PtEntryType.Empty);
        RiscvFormat.AttrsFromProt(IommuProt.Read).ShouldBe(0x5AUL);
        RiscvFormat.AttrsFromProt(IommuProt.NoExec).ShouldBe(0x50UL);
        RiscvFormat.AttrsFromProt(IommuProt.Write | IommuProt.NoExec).ShouldBe(0xD6UL);
        RiscvFormat.ProtFromAttrs(0x8).ShouldBe(IommuProt.None);
        RiscvFormat.ProtFromAttrs(0x4).ShouldBe(IommuProt.Write | IommuProt.NoExec);
    }
}
