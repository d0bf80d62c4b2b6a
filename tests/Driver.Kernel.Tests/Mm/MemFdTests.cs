using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>The memfd: pages by offset, pins, mappings of it, open modes and its lifetime.</summary>
public sealed class MemFdTests
{
    private const ulong K4 = Page.Size;

    [Fact]
    public void PinPages_AllocatesHoles_OncePerPage_AndRefusesWhatLiesPastTheEnd()
    {
        var u = new UserMemory();
        MemFdHandle fd = u.NewMemFd(4 * K4);
        var pfns = new ulong[2];
        fd.PinPages(K4, 2, write: true, pfns).ShouldBe(Errno.Ok);
        fd.File.CachedPages.ShouldBe(2);
        u.Pages.RefCount(pfns[0]).ShouldBe(2, "the page cache's reference and the pin's");
        fd.File.TryFindPage(1, out ulong cached).ShouldBeTrue();
        cached.ShouldBe(pfns[0]);

        fd.PinPages(3 * K4, 2, write: true, new ulong[2]).ShouldBe(Errno.EINVAL);
        fd.PinPages(K4 + 1, 1, write: true, new ulong[1]).ShouldBe(Errno.EINVAL);
        fd.PinPages(5 * K4, 1, write: true, new ulong[1]).ShouldBe(Errno.EINVAL);
        fd.PinPages(0, 2, write: true, new ulong[1]).ShouldBe(Errno.EINVAL);
        u.Pages.TotalPins.ShouldBe(2);
        fd.File.UnpinPages(pfns);
        u.Pages.TotalPins.ShouldBe(0);
        fd.File.CachedPages.ShouldBe(2, "the file keeps its pages");
    }

    [Fact]
    public void AReadOnlyHandle_RefusesWritePinsWithEPERM_AndWritableMappingsWithEACCES()
    {
        var u = new UserMemory();
        MemFdHandle rw = u.NewMemFd(2 * K4);
        MemFdHandle ro = rw.File.Open(writable: false);
        ro.Writable.ShouldBeFalse();
        ro.PinPages(0, 1, write: true, new ulong[1]).ShouldBe(Errno.EPERM);
        u.Mm.MmapFile(ro, 0, K4, writable: true, out _).ShouldBe(Errno.EACCES);
        u.Mm.MappingCount.ShouldBe(0);
        var pfn = new ulong[1];
        ro.PinPages(0, 1, write: false, pfn).ShouldBe(Errno.Ok);
        u.Mm.MmapFile(ro, 0, K4, writable: false, out _).ShouldBe(Errno.Ok);
        ro.File.UnpinPages(pfn);
    }

    [Fact]
    public void AMapping_SeesTheFilesPages_AndWritesThroughItReachTheFile()
    {
        var u = new UserMemory();
        MemFdHandle fd = u.NewMemFd(4 * K4);
        fd.File.Write(2 * K4, [1, 2, 3]).ShouldBe(Errno.Ok);
        u.Mm.MmapFile(fd, K4, 3 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        var read = new byte[3];
        u.Mm.CopyFromUser(va + K4, read).ShouldBe(Errno.Ok);
        read.ShouldBe(new byte[] { 1, 2, 3 });

        u.Mm.CopyToUser(va + (2 * K4), [9]).ShouldBe(Errno.Ok);
        fd.File.Read(3 * K4, read.AsSpan(0, 1)).ShouldBe(Errno.Ok);
        read[0].ShouldBe((byte)9);

        var pfn = new ulong[1];
        u.Mm.PinUserPages(va + K4, 1, write: true, pfn).ShouldBe(Errno.Ok);
        fd.File.TryFindPage(2, out ulong cached).ShouldBeTrue();
        pfn[0].ShouldBe(cached);
        u.Pages.RefCount(cached).ShouldBe(3, "the file, the mapping and the pin");
        u.Mm.UnpinUserPages(pfn);
    }

    [Fact]
    public void MmapFile_RefusesBadOffsets_AndPagesPastTheEndFault()
    {
        var u = new UserMemory();
        MemFdHandle fd = u.NewMemFd(K4);
        u.Mm.MmapFile(fd, 1, K4, writable: true, out _).ShouldBe(Errno.EINVAL);
        u.Mm.MmapFile(fd, 0, 0, writable: true, out _).ShouldBe(Errno.EINVAL);
        u.Mm.MmapFile(fd, ulong.MaxValue & ~Page.Mask, 2 * K4, writable: true, out _).ShouldBe(Errno.EOVERFLOW);
        u.Mm.MmapFile(fd, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.CopyToUser(va + K4, [1]).ShouldBe(Errno.EFAULT);
        u.Mm.PinUserPages(va, 2, write: true, new ulong[2]).ShouldBe(Errno.EFAULT);
        u.Pages.TotalPins.ShouldBe(0);
        u.Mm.PinUserPages(va, 1, write: true, new ulong[1]).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void Truncate_UnmapsThePagesPastTheEnd_AndAPinKeepsItsFrame()
    {
        var u = new UserMemory();
        MemFdHandle fd = u.NewMemFd(4 * K4);
        u.Mm.MmapFile(fd, 0, 4 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.Populate(va, 4 * K4).ShouldBe(Errno.Ok);
        var pinned = new ulong[1];
        fd.PinPages(3 * K4, 1, write: true, pinned).ShouldBe(Errno.Ok);
        u.Frames.FramesInUse.ShouldBe(4);

        fd.File.Truncate(K4 + 10).ShouldBe(Errno.Ok);
        fd.File.CachedPages.ShouldBe(2);
        u.Mm.ResidentPages.ShouldBe(2);
        u.Frames.FramesInUse.ShouldBe(3, "page 2 is gone; page 3 waits for its pin");
        u.Mm.CopyToUser(va + (2 * K4), [1]).ShouldBe(Errno.EFAULT);
        u.Mm.CopyFromUser(va + (2 * K4), new byte[1]).ShouldBe(Errno.EFAULT);
        fd.File.UnpinPages(pinned);
        u.Frames.FramesInUse.ShouldBe(2);
        fd.File.Truncate(MemFd.MaxSize + 1).ShouldBe(Errno.EINVAL);
        fd.File.Size.ShouldBe(K4 + 10);
    }

    [Fact]
    public void TheFileLives_WhileAHandleOrAMappingHoldsIt()
    {
        var u = new UserMemory();
        MemFdHandle fd = u.NewMemFd(2 * K4);
        u.Mm.MmapFile(fd, 0, 2 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        u.Mm.CopyToUser(va, [5]).ShouldBe(Errno.Ok);
        fd.File.Write(K4, [6]).ShouldBe(Errno.Ok);
        fd.Release();
        fd.File.Alive.ShouldBeTrue();
        Should.Throw<InvalidOperationException>(fd.Release);
        var read = new byte[1];
        u.Mm.CopyFromUser(va + K4, read).ShouldBe(Errno.Ok);
        read[0].ShouldBe((byte)6);

        u.Mm.Munmap(va, 2 * K4).ShouldBe(Errno.Ok);
        fd.File.Alive.ShouldBeFalse();
        u.Frames.FramesInUse.ShouldBe(0);
    }

    [Fact]
    public void Create_RefusesTooLargeASize_AndReadsAndWritesStayInsideTheFile()
    {
        var u = new UserMemory();
        MemFd.Create(u.Pages, u.Memory, MemFd.MaxSize + 1, out MemFdHandle? none).ShouldBe(Errno.EINVAL);
        none.ShouldBeNull();
        MemFdHandle fd = u.NewMemFd(100);
        fd.File.Write(90, new byte[11]).ShouldBe(Errno.EINVAL);
        fd.File.Read(101, new byte[1]).ShouldBe(Errno.EINVAL);
        var hole = new byte[10];
        hole.AsSpan().Fill(3);
        fd.File.Read(90, hole).ShouldBe(Errno.Ok);
        hole.ShouldAllBe(b => b == 0);
        fd.File.CachedPages.ShouldBe(0, "a hole reads as zeros without a page");
    }
}
