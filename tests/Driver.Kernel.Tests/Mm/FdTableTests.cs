using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

public sealed class FdTableTests
{
    [Fact]
    public void Fds_AreTheLowestFree_BadOnesAreEBADF_AndTheLastCloseReleases()
    {
        var u = new UserMemory();
        var table = new FdTable();
        MemFdHandle file = u.NewMemFd(Page.Size);
        table.Install(file).ShouldBe(0);
        table.Dup(0, out int dup).ShouldBe(Errno.Ok);
        dup.ShouldBe(1);
        MemFdHandle other = u.NewMemFd(Page.Size);
        table.Install(other).ShouldBe(2);
        table.Count.ShouldBe(3);

        table.TryGet(1, out MemFdHandle? got).ShouldBeTrue();
        got.ShouldBeSameAs(file);
        table.Get(7, out _).ShouldBe(Errno.EBADF);
        table.Get(-1, out _).ShouldBe(Errno.EBADF);
        table.Dup(9, out _).ShouldBe(Errno.EBADF);

        table.Close(0).ShouldBe(Errno.Ok);
        file.File.Alive.ShouldBeTrue("fd 1 still refers to it");
        table.Close(0).ShouldBe(Errno.EBADF);
        table.Install(other).ShouldBe(0, "the lowest free fd");
        table.Close(1).ShouldBe(Errno.Ok);
        file.File.Alive.ShouldBeFalse();
        table.Close(0).ShouldBe(Errno.Ok);
        other.File.Alive.ShouldBeTrue();
        table.Close(2).ShouldBe(Errno.Ok);
        other.File.Alive.ShouldBeFalse();
        table.Count.ShouldBe(0);
    }
}
