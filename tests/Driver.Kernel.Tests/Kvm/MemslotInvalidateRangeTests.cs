using Driver.Kernel.Kvm;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// A memslot bound at a non-zero file offset: file pages to guest frames and back, and which frames an
/// invalidation of file bytes holds off (mmu_invalidate_range_start/_end, mmu_invalidate_seq).
/// </summary>
public sealed class MemslotInvalidateRangeTests
{
    // Slot 0: gfns [0x1000, 0x1200) backed by file bytes [2M, 4M) of a 6M file.
    private const ulong Base = 0x1000;

    private static (GuestMemfd File, KvmMemorySlot Slot) NewSlot(KvmStage2? stage2 = null, ulong offset = M2, ulong pages = 512)
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(3 * M2);
        var slot = new KvmMemorySlot(0, Base, pages, stage2);
        file.Bind(slot, null, offset, pages * K4, out GuestMemfdBinding? binding).ShouldBe(Errno.Ok);
        slot.Binding = binding;
        return (file, slot);
    }

    private static ulong[] HeldOff(KvmMemorySlot slot, long sequence, params ulong[] gfns)
    {
        var unsafeHeld = gfns.Where(slot.InvalidatingUnsafe).ToArray();
        gfns.Where(g => slot.MustRetry(g, sequence)).ToArray().ShouldBe(unsafeHeld, "the locked and the early check agree");
        return unsafeHeld;
    }

    [Fact]
    public void TryGetGfn_MapsOnlyTheBindingsPages()
    {
        var unbound = new KvmMemorySlot(1, Base, 512);
        unbound.TryGetGfn(0, out ulong none).ShouldBeFalse("no binding");
        none.ShouldBe(0UL);

        var (_, slot) = NewSlot();
        slot.TryGetGfn(511, out _).ShouldBeFalse("below the binding");
        slot.TryGetGfn(512, out ulong first).ShouldBeTrue();
        first.ShouldBe(Base);
        slot.TryGetGfn(700, out ulong mid).ShouldBeTrue();
        mid.ShouldBe(Base + 188);
        slot.TryGetGfn(1023, out ulong last).ShouldBeTrue();
        last.ShouldBe(Base + 511);
        slot.TryGetGfn(1024, out ulong past).ShouldBeFalse("the binding's end");
        past.ShouldBe(0UL);
        slot.IndexOf(Base + 188).ShouldBe(700UL);
        slot.IndexOf(Base).ShouldBe(512UL);
    }

    [Fact]
    public void InvalidateBegin_HoldsOffExactlyTheFramesOfTheFileRange()
    {
        var (file, slot) = NewSlot();
        long sequence = slot.InvalidateSequence;
        slot.InvalidateBegin(file, M2 + (10 * K4), M2 + (20 * K4), InvalidateReason.ToShared);
        slot.InvalidationsInProgress.ShouldBe(1);
        slot.Invalidations[(int)InvalidateReason.ToShared].ShouldBe(1);
        HeldOff(slot, sequence, Base, Base + 9, Base + 10, Base + 19, Base + 20, Base + 511)
            .ShouldBe([Base + 10, Base + 19]);

        slot.InvalidateEnd(file, M2 + (10 * K4), M2 + (20 * K4), InvalidateReason.ToShared);
        slot.InvalidationsInProgress.ShouldBe(0);
        slot.InvalidateSequence.ShouldBe(sequence + 1);
        slot.MustRetry(Base + 10, sequence).ShouldBeTrue("the fault read the sequence before the invalidation ended");
        slot.MustRetry(Base + 10, sequence + 1).ShouldBeFalse();
        slot.InvalidatingUnsafe(Base + 10).ShouldBeFalse();
    }

    [Fact]
    public void AFileRangePastTheSlotsEnd_IsCutAtIt()
    {
        var (file, slot) = NewSlot();
        slot.InvalidateBegin(file, M2 + (M2 / 2), 3 * M2, InvalidateReason.Truncate);
        HeldOff(slot, slot.InvalidateSequence, Base + 255, Base + 256, Base + 511, Base + 512)
            .ShouldBe([Base + 256, Base + 511]);
    }

    [Fact]
    public void AFileRangeOutsideTheSlot_HoldsOffNothing()
    {
        var (file, slot) = NewSlot();
        slot.InvalidateBegin(file, 0, K4, InvalidateReason.ToPrivate);
        slot.InvalidationsInProgress.ShouldBe(1);
        HeldOff(slot, slot.InvalidateSequence, Base, Base + 1, Base + 511).ShouldBeEmpty();
    }

    [Fact]
    public void NestedInvalidations_KeepTheMergedRange_UntilTheLastEnds()
    {
        var (file, slot) = NewSlot();
        slot.InvalidateBegin(file, M2, M2 + K4, InvalidateReason.ToShared);
        slot.InvalidateBegin(file, M2 + (100 * K4), M2 + (101 * K4), InvalidateReason.ToShared);
        slot.InvalidateEnd(file, M2, M2 + K4, InvalidateReason.ToShared);
        slot.InvalidationsInProgress.ShouldBe(1);
        HeldOff(slot, slot.InvalidateSequence, Base, Base + 50, Base + 100, Base + 101)
            .ShouldBe([Base, Base + 50, Base + 100], "Linux widens the range to cover both and keeps it while one is in progress");
        slot.InvalidateEnd(file, M2 + (100 * K4), M2 + (101 * K4), InvalidateReason.ToShared);

        slot.InvalidateBegin(file, M2 + (300 * K4), M2 + (301 * K4), InvalidateReason.ToShared);
        HeldOff(slot, slot.InvalidateSequence, Base, Base + 100, Base + 300)
            .ShouldBe([Base + 300], "the range started afresh once none was in progress");
    }

    [Fact]
    public void SplitHuge_CutsEvery2MLeafOfTheRange_AndMovesTheSequence()
    {
        var f = new GmemFixture();
        KvmStage2.Create(f.User.Memory, f.User.Frames, null, out KvmStage2? stage2).ShouldBe(Errno.Ok);
        GuestMemfd file = f.Create(3 * M2);
        var slot = new KvmMemorySlot(0, Base, 1024, stage2);
        file.Bind(slot, null, 0, 2 * M2, out GuestMemfdBinding? binding).ShouldBe(Errno.Ok);
        slot.Binding = binding;
        stage2!.Map(Base, 0x4_0000, 9, isPrivate: true).ShouldBe(Errno.Ok);
        stage2.Map(Base + 512, 0x4_0200, 9, isPrivate: true).ShouldBe(Errno.Ok);
        long sequence = slot.InvalidateSequence;

        slot.SplitHuge(file, 2 * M2, 3 * M2).ShouldBe(Errno.Ok);
        slot.InvalidateSequence.ShouldBe(sequence, "nothing of the slot in the range: no fault needs to retry");
        stage2.TryLookup(Base, out _, out int order, out _).ShouldBeTrue();
        order.ShouldBe(9);

        slot.SplitHuge(file, 0, M2 + K4).ShouldBe(Errno.Ok, "the range ends one page into the second 2M leaf");
        slot.InvalidateSequence.ShouldBe(sequence + 1);
        foreach (ulong gfn in new[] { Base, Base + 511, Base + 512, Base + 1023 })
        {
            stage2.TryLookup(gfn, out ulong pfn, out int small, out bool isPrivate).ShouldBeTrue();
            small.ShouldBe(0, $"gfn 0x{gfn:x}");
            pfn.ShouldBe(0x4_0000 + (gfn - Base));
            isPrivate.ShouldBeTrue();
        }
    }
}
