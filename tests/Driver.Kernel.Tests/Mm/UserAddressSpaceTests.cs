using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>Anonymous mappings, pin_user_pages and copy to/from user, with Linux's errnos.</summary>
public sealed class UserAddressSpaceTests
{
    private const ulong K4 = Page.Size;

    [Fact]
    public void Mmap_RoundsUp_AlignsLargeMappingsTo2M_AndRefusesZeroOrHugeLengths()
    {
        var u = new UserMemory();
        u.Mm.Mmap(K4 + 1, out ulong small).ShouldBe(Errno.Ok);
        small.ShouldBe(UserAddressSpace.MmapMin);
        u.Mm.Mmap(UserAddressSpace.HugeAlign, out ulong huge).ShouldBe(Errno.Ok);
        (huge % UserAddressSpace.HugeAlign).ShouldBe(0UL);
        huge.ShouldBeGreaterThanOrEqualTo(small + (2 * K4));
        u.Mm.Mmap(K4, out ulong next).ShouldBe(Errno.Ok);
        next.ShouldBe(small + (2 * K4), "the gap after the first mapping is reused");
        u.Mm.MappingCount.ShouldBe(3);

        u.Mm.Mmap(0, out _).ShouldBe(Errno.EINVAL);
        u.Mm.Mmap(ulong.MaxValue, out _).ShouldBe(Errno.ENOMEM);
        u.Mm.Mmap(UserAddressSpace.TaskSize, out _).ShouldBe(Errno.ENOMEM);
        u.Mm.MappingCount.ShouldBe(3);
        u.Frames.FramesInUse.ShouldBe(0, "mappings are populated lazily");
    }

    [Fact]
    public void Munmap_RefusesBadArguments_SplitsMappings_AndAcceptsHoles()
    {
        var u = new UserMemory();
        u.Mm.Mmap(4 * K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Populate(va, 4 * K4).ShouldBe(Errno.Ok);
        u.Frames.FramesInUse.ShouldBe(4);

        u.Mm.Munmap(va + 1, K4).ShouldBe(Errno.EINVAL);
        u.Mm.Munmap(va, 0).ShouldBe(Errno.EINVAL);
        u.Mm.Munmap(UserAddressSpace.TaskSize - K4, 2 * K4).ShouldBe(Errno.EINVAL);
        u.Frames.FramesInUse.ShouldBe(4);

        u.Mm.Munmap(va + K4, K4).ShouldBe(Errno.Ok);
        u.Mm.MappingCount.ShouldBe(2);
        u.Frames.FramesInUse.ShouldBe(3);
        u.Mm.CopyToUser(va + K4, [1]).ShouldBe(Errno.EFAULT);
        u.Mm.CopyToUser(va + (2 * K4), [1]).ShouldBe(Errno.Ok);

        u.Mm.Munmap(va - (16 * K4), 64 * K4).ShouldBe(Errno.Ok, "unmapping a range with holes is fine");
        u.Mm.MappingCount.ShouldBe(0);
        u.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void Pin_FaultsPagesIn_CountsEachPin_AndUnpinReleasesThem()
    {
        var u = new UserMemory();
        u.Mm.Mmap(3 * K4, out ulong va).ShouldBe(Errno.Ok);
        var pfns = new ulong[3];
        u.Mm.PinUserPages(va, 3, write: true, pfns).ShouldBe(Errno.Ok);
        pfns.Distinct().Count().ShouldBe(3);
        foreach (ulong pfn in pfns)
        {
            u.Pages.PinCount(pfn).ShouldBe(1);
            u.Pages.RefCount(pfn).ShouldBe(2, "the mapping's reference and the pin's");
            (pfn << Page.Shift).ShouldBeGreaterThanOrEqualTo(UserMemory.Base);
            u.Frames.IsAllocated(pfn << Page.Shift).ShouldBeTrue();
        }
        u.Pages.TotalPins.ShouldBe(3);

        var again = new ulong[3];
        u.Mm.PinUserPages(va, 3, write: false, again).ShouldBe(Errno.Ok);
        again.ShouldBe(pfns, "the same pages, pinned twice");
        u.Pages.PinCount(pfns[1]).ShouldBe(2);

        u.Mm.UnpinUserPages(again);
        u.Mm.UnpinUserPages(pfns);
        u.Pages.TotalPins.ShouldBe(0);
        u.Pages.RefCount(pfns[0]).ShouldBe(1);
        u.Frames.FramesInUse.ShouldBe(3);
    }

    [Fact]
    public void Pin_ThatMeetsAHoleHalfWay_IsEFAULT_WithNothingPinned()
    {
        var u = new UserMemory();
        u.Mm.Mmap(4 * K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Munmap(va + (2 * K4), K4).ShouldBe(Errno.Ok);
        var pfns = new ulong[4];
        u.Mm.PinUserPages(va, 4, write: false, pfns).ShouldBe(Errno.EFAULT);
        u.Pages.TotalPins.ShouldBe(0);
        pfns.ShouldAllBe(p => p == 0);
        u.Mm.PinUserPages(UserAddressSpace.TaskSize - K4, 2, write: false, pfns).ShouldBe(Errno.EFAULT);
        u.Mm.PinUserPages(0x1000, 1, write: false, pfns).ShouldBe(Errno.EFAULT);
        u.Mm.PinUserPages(va + 1, 1, write: false, pfns).ShouldBe(Errno.EINVAL);
        u.Mm.PinUserPages(va, 2, write: false, pfns.AsSpan(0, 1)).ShouldBe(Errno.EINVAL);
        u.Mm.PinUserPages(va, 0, write: false, pfns).ShouldBe(Errno.Ok);
        u.Pages.TotalPins.ShouldBe(0);
    }

    [Fact]
    public void AWritePin_OfAReadOnlyMapping_IsEFAULT_AndAReadPinIsNot()
    {
        var u = new UserMemory();
        u.Mm.Mmap(2 * K4, writable: false, out ulong va).ShouldBe(Errno.Ok);
        var pfns = new ulong[2];
        u.Mm.PinUserPages(va, 2, write: true, pfns).ShouldBe(Errno.EFAULT);
        u.Pages.TotalPins.ShouldBe(0);
        u.Mm.CopyToUser(va, [1, 2]).ShouldBe(Errno.EFAULT);
        u.Mm.PinUserPages(va, 2, write: false, pfns).ShouldBe(Errno.Ok);
        u.Pages.TotalPins.ShouldBe(2);
        u.Mm.UnpinUserPages(pfns);
    }

    [Fact]
    public void MunmapOfAPinnedPage_KeepsItsFrameUntilTheUnpin()
    {
        var u = new UserMemory();
        u.Mm.Mmap(2 * K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.CopyToUser(va + 8, [0xAB]).ShouldBe(Errno.Ok);
        var pfns = new ulong[2];
        u.Mm.PinUserPages(va, 2, write: true, pfns).ShouldBe(Errno.Ok);

        u.Mm.Munmap(va, 2 * K4).ShouldBe(Errno.Ok);
        u.Frames.FramesInUse.ShouldBe(2, "the pins keep the frames");
        u.Pages.RefCount(pfns[0]).ShouldBe(1);
        var seen = new byte[1];
        u.Memory.Read((pfns[0] << Page.Shift) + 8, seen);
        seen[0].ShouldBe((byte)0xAB, "a device still sees the data");

        u.Mm.UnpinUserPages(pfns.AsSpan(0, 1));
        u.Frames.FramesInUse.ShouldBe(1);
        u.Pages.IsLive(pfns[0]).ShouldBeFalse();
        u.Mm.UnpinUserPages(pfns.AsSpan(1));
        u.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void Copies_CrossPages_FaultOnAnyUnmappedByte_AndChangeNothingThen()
    {
        var u = new UserMemory();
        u.Mm.Mmap(2 * K4, out ulong va).ShouldBe(Errno.Ok);
        byte[] data = [.. Enumerable.Range(0, 100).Select(i => (byte)i)];
        u.Mm.CopyToUser(va + K4 - 50, data).ShouldBe(Errno.Ok);
        var back = new byte[100];
        u.Mm.CopyFromUser(va + K4 - 50, back).ShouldBe(Errno.Ok);
        back.ShouldBe(data);

        u.Mm.CopyToUser(va + (2 * K4) - 10, new byte[20]).ShouldBe(Errno.EFAULT);
        u.Mm.CopyFromUser(va + K4 - 50, back).ShouldBe(Errno.Ok);
        back.ShouldBe(data, "a refused copy wrote nothing");
        u.Mm.CopyFromUser(va + (2 * K4) - 10, new byte[20]).ShouldBe(Errno.EFAULT);
        u.Mm.CopyFromUser(ulong.MaxValue - 4, new byte[20]).ShouldBe(Errno.EFAULT);
        u.Mm.CopyToUser(va, []).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void ReadingAnUntouchedPage_GivesZeros_WithoutAllocating()
    {
        var u = new UserMemory();
        u.Mm.Mmap(K4, out ulong va).ShouldBe(Errno.Ok);
        var buffer = new byte[16];
        buffer.AsSpan().Fill(7);
        u.Mm.CopyFromUser(va, buffer).ShouldBe(Errno.Ok);
        buffer.ShouldAllBe(b => b == 0);
        u.Frames.FramesInUse.ShouldBe(0);
        u.Mm.ResidentPages.ShouldBe(0);
    }

    [Fact]
    public void MmapFixed_ReplacesWhatWasThere_AndRefusesBadAddresses()
    {
        var u = new UserMemory();
        u.Mm.Mmap(4 * K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Populate(va, 4 * K4).ShouldBe(Errno.Ok);
        u.Mm.MmapFixed(va + K4, K4, writable: false).ShouldBe(Errno.Ok);
        u.Frames.FramesInUse.ShouldBe(3);
        u.Mm.MappingCount.ShouldBe(3);
        u.Mm.CopyToUser(va + K4, [1]).ShouldBe(Errno.EFAULT);
        u.Mm.MmapFixed(va + 1, K4, writable: true).ShouldBe(Errno.EINVAL);
        u.Mm.MmapFixed(0, K4, writable: true).ShouldBe(Errno.EINVAL);
        u.Mm.MmapFixed(UserAddressSpace.TaskSize, K4, writable: true).ShouldBe(Errno.EINVAL);
        u.Mm.MappingCount.ShouldBe(3);
    }

    [Fact]
    public void Dispose_FreesEveryFrame_ButPinnedPagesWaitForTheirUnpin()
    {
        var u = new UserMemory();
        u.Mm.Mmap(8 * K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Populate(va, 8 * K4).ShouldBe(Errno.Ok);
        var pfn = new ulong[1];
        u.Mm.PinUserPages(va, 1, write: true, pfn).ShouldBe(Errno.Ok);
        u.Mm.Dispose();
        u.Frames.FramesInUse.ShouldBe(1);
        u.Mm.Mmap(K4, out _).ShouldBe(Errno.ENOMEM, "a space that is gone maps nothing");
        u.Mm.UnpinUserPages(pfn);
        u.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void WhenFramesRunOut_APinIsENOMEM_WithNothingPinned()
    {
        var u = new UserMemory(frames: 2);
        u.Mm.Mmap(4 * K4, out ulong va).ShouldBe(Errno.Ok);
        var pfns = new ulong[4];
        u.Mm.PinUserPages(va, 4, write: true, pfns).ShouldBe(Errno.ENOMEM);
        u.Pages.TotalPins.ShouldBe(0);
        u.Mm.Munmap(va, 4 * K4).ShouldBe(Errno.Ok);
        u.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void UnpinningAPageThatIsNotPinned_IsABug()
    {
        var u = new UserMemory();
        u.Mm.Mmap(K4, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Populate(va, K4).ShouldBe(Errno.Ok);
        u.Mm.TryTranslate(va, out ulong pfn).ShouldBeTrue();
        Should.Throw<InvalidOperationException>(() => u.Mm.UnpinUserPages([pfn]));
        Should.Throw<InvalidOperationException>(() => u.Pages.Put(pfn + 100));
        u.Pages.RefCount(pfn).ShouldBe(1);
    }
}
