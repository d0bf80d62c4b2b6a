using Driver.Hw.AmdIommu;
using Driver.Platform.Iommu;
using FsCheck;
using FsCheck.Fluent;

namespace Driver.Platform.Tests;

/// <summary>The cache structures and the range decoding on their own.</summary>
public class CacheUnitTests
{
    private static IotlbEntry Line(ushort domain, ulong vpn, byte shift = 12, ulong spa = 0x1000) =>
        new(domain, vpn, shift, Read: true, Write: false, spa, Epoch: 1);

    private static SetAssociativeCache<IotlbTag, IotlbEntry> Iotlb(int sets, int ways) => new(sets, ways);

    private static SetAssociativeCache<PdeTag, PdeEntry> PdeCache(int sets, int ways) => new(sets, ways);

    private static PdeEntry Pde(ushort domain, int level, ulong iova, ulong next, byte nextLevel, bool read, bool write, long epoch) =>
        new(PdeTag.Of(domain, level, iova), next, nextLevel, read, write, epoch);

    [Fact]
    public void Iotlb_replaces_round_robin_within_a_set()
    {
        var tlb = Iotlb(1, 2);
        tlb.Fill(Line(1, 10));
        tlb.Fill(Line(1, 11));
        tlb.Fill(Line(1, 12));
        tlb.Find(new(1, 10)).ShouldBe(-1);
        tlb.Find(new(1, 11)).ShouldBeGreaterThanOrEqualTo(0);
        tlb.Find(new(1, 12)).ShouldBeGreaterThanOrEqualTo(0);
        tlb.Fill(Line(1, 13));
        tlb.Find(new(1, 11)).ShouldBe(-1);
        tlb.Count.ShouldBe(2);
        tlb.Capacity.ShouldBe(2);
    }

    [Fact]
    public void Replacement_starts_again_at_the_first_way_after_a_flush_of_everything()
    {
        var tlb = Iotlb(1, 2);
        tlb.Fill(Line(1, 10));
        tlb.Fill(Line(1, 11));
        tlb.Fill(Line(1, 12));
        tlb.InvalidateAll();
        tlb.Count.ShouldBe(0);
        tlb.Fill(Line(1, 20));
        tlb.Fill(Line(1, 21));
        tlb.Fill(Line(1, 22));
        tlb.Find(new(1, 20)).ShouldBe(-1, "the first way is the next victim again");
        tlb.Find(new(1, 21)).ShouldBeGreaterThanOrEqualTo(0);
        tlb.Find(new(1, 22)).ShouldBe(0);
    }

    [Fact]
    public void Iotlb_refill_of_the_same_page_replaces_in_place()
    {
        var tlb = Iotlb(1, 2);
        tlb.Fill(Line(1, 10, spa: 0x1000));
        tlb.Fill(Line(2, 10));
        tlb.Fill(Line(1, 10, spa: 0x5000));
        tlb.Count.ShouldBe(2);
        tlb[tlb.Find(new(1, 10))].SpaPage.ShouldBe(0x5000UL);
        tlb.Find(new(2, 10)).ShouldBeGreaterThanOrEqualTo(0);
        tlb.Find(new(3, 10)).ShouldBe(-1);
    }

    [Fact]
    public void Iotlb_invalidates_by_iova_overlap_of_the_whole_translation_and_by_spa()
    {
        var tlb = Iotlb(4, 4);
        tlb.Fill(Line(1, 0x200, shift: 21, spa: 0x40_0000));
        tlb.Fill(Line(1, 0x5, spa: 0x9000));
        tlb.Invalidate(new IotlbEntry.ByIova(2, 0, ulong.MaxValue)).ShouldBe(0);
        tlb.Invalidate(new IotlbEntry.ByIova(1, 0x3F_F000, 0x3F_FFFF)).ShouldBe(1);
        tlb.Find(new(1, 0x200)).ShouldBe(-1);
        tlb.Invalidate(new IotlbEntry.ByIova(1, 0x6000, 0x6FFF)).ShouldBe(0);
        tlb.Invalidate(new IotlbEntry.ByIova(1, 0x4000, 0x5000)).ShouldBe(1);
        tlb.Fill(Line(1, 0x5, spa: 0x9000));
        tlb.Invalidate(new IotlbEntry.BySpa(0xA000, 0xAFFF)).ShouldBe(0);
        tlb.Invalidate(new IotlbEntry.BySpa(0x8000, 0x9000)).ShouldBe(1);
        tlb.Fill(Line(1, 0x7, shift: 21, spa: 0x40_7000));
        tlb.Invalidate(new IotlbEntry.BySpa(0x5F_F000, 0x5F_FFFF)).ShouldBe(1);
        tlb.Fill(Line(1, 0x5));
        tlb.InvalidateAll();
        tlb.Count.ShouldBe(0);
    }

    [Fact]
    public void Cache_geometry_must_be_sane()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Iotlb(3, 2));
        Should.Throw<ArgumentOutOfRangeException>(() => Iotlb(0, 2));
        Should.Throw<ArgumentOutOfRangeException>(() => Iotlb(2, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => Iotlb(2, 256));
        Should.Throw<ArgumentOutOfRangeException>(() => PdeCache(6, 2));
        Should.Throw<ArgumentOutOfRangeException>(() => PdeCache(0, 2));
        Should.Throw<ArgumentOutOfRangeException>(() => PdeCache(2, 0));
        Should.Throw<ArgumentOutOfRangeException>(() => PdeCache(2, 256));
        Should.Throw<ArgumentOutOfRangeException>(() => new DteCache(3));
        Should.Throw<ArgumentOutOfRangeException>(() => new DteCache(0));
        Iotlb(1, 255).Capacity.ShouldBe(255);
        PdeCache(1, 255).Count.ShouldBe(0);
    }

    [Fact]
    public void Pde_cache_tags_by_domain_level_and_prefix_and_invalidates_by_overlap()
    {
        var cache = PdeCache(1, 4);
        cache.Fill(Pde(1, 2, 0x20_0000, 0x7000, 1, true, false, 3));
        cache.TryGet(PdeTag.Of(1, 2, 0x3F_FFFF), out var hit).ShouldBeTrue();
        hit.ShouldBe(Pde(1, 2, 0x20_0000, 0x7000, 1, true, false, 3));
        cache.TryGet(PdeTag.Of(1, 2, 0x40_0000), out _).ShouldBeFalse();
        cache.TryGet(PdeTag.Of(1, 3, 0x20_0000), out _).ShouldBeFalse();
        cache.TryGet(PdeTag.Of(2, 2, 0x20_0000), out _).ShouldBeFalse();
        cache.Fill(Pde(1, 2, 0x20_0000, 0x8000, 1, true, true, 4));
        cache.Count.ShouldBe(1);
        cache.Fill(Pde(1, 6, 0, 0x9000, 5, true, true, 5));
        cache.TryGet(PdeTag.Of(1, 6, 0xFFFF_FFFF_FFFF_F000), out _).ShouldBeFalse();
        cache.TryGet(PdeTag.Of(1, 6, 0x1000), out _).ShouldBeTrue();
        cache.Invalidate(new PdeEntry.ByIova(2, 0, ulong.MaxValue)).ShouldBe(0);
        cache.Invalidate(new PdeEntry.ByIova(1, 0x40_0000, 0x40_0FFF)).ShouldBe(1, "the level-6 entry covers everything below 2^57");
        cache.Invalidate(new PdeEntry.ByIova(1, 0x20_0000, 0x20_0FFF)).ShouldBe(1);
        cache.Count.ShouldBe(0);
        for (ulong i = 0; i < 6; i++)
            cache.Fill(Pde(1, 2, i << 21, i, 1, true, true, 1));
        cache.Count.ShouldBe(4);
        cache.TryGet(PdeTag.Of(1, 2, 0), out _).ShouldBeFalse();
        cache.TryGet(PdeTag.Of(1, 2, 5UL << 21), out _).ShouldBeTrue();
        cache.InvalidateAll();
        cache.Count.ShouldBe(0);
        PdeEntry.EntryShift(1).ShouldBe(12);
        PdeEntry.EntryShift(4).ShouldBe(39);
    }

    [Fact]
    public void Dte_cache_hits_only_its_device()
    {
        var cache = new DteCache(2);
        var dte = default(AmdDte).WithValid(true).WithDomainId(4);
        cache.Fill(3, dte, 9);
        cache.TryGet(3, out var got, out long epoch).ShouldBeTrue();
        got.ShouldBe(dte);
        epoch.ShouldBe(9);
        cache.TryGet(5, out _, out _).ShouldBeFalse();
        cache.Invalidate(5);
        cache.TryGet(3, out _, out _).ShouldBeTrue();
        cache.Invalidate(3);
        cache.TryGet(3, out _, out _).ShouldBeFalse();
        cache.Fill(3, dte, 1);
        cache.InvalidateAll();
        cache.TryGet(3, out _, out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData(0x5123UL, false, 0x5000UL, 0x5FFFUL)]
    [InlineData(0x4000UL, true, 0x4000UL, 0x5FFFUL)]
    [InlineData(0x5000UL, true, 0x4000UL, 0x7FFFUL)]
    [InlineData(0x7FFF_FFFF_FFFF_F000UL, true, 0UL, ulong.MaxValue)]
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, true, 0UL, ulong.MaxValue)]
    [InlineData(0x3FFF_FFFF_FFFF_F000UL, true, 0UL, 0x7FFF_FFFF_FFFF_FFFFUL)]
    public void Invalidation_ranges_decode(ulong address, bool size, ulong first, ulong last)
    {
        var range = InvalidationRange.Decode(address, size);
        range.ShouldBe(new InvalidationRange(first, last));
        range.Contains(first).ShouldBeTrue();
        range.Contains(last).ShouldBeTrue();
    }

    [Fact]
    public void An_s_bit_range_is_an_aligned_power_of_two_holding_its_address()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).Select(i => (ulong)i << 12).ToArbitrary(), address =>
        {
            var r = InvalidationRange.Decode(address, true);
            ulong size = r.Last - r.First + 1;
            return r.Contains(address) && (size & (size - 1)) == 0 && (r.First & (size - 1)) == 0 && size >= 0x2000;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void A_range_excludes_its_neighbours()
    {
        var r = InvalidationRange.Decode(0x4000, true);
        r.Contains(0x3FFF).ShouldBeFalse();
        r.Contains(0x6000).ShouldBeFalse();
        InvalidationRange.All.Contains(ulong.MaxValue).ShouldBeTrue();
    }
}
