using Driver.Kernel.Kvm;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>sev_asid_new and sev_asid_free: the lowest free ASID from 1, EBUSY when none is, a bad free is a BUG.</summary>
public sealed class SevAsidPoolTests
{
    [Fact]
    public void Alloc_TakesTheLowestFreeAsidFrom1_AndIsEbusyWhenEveryOneIsTaken()
    {
        var pool = new SevAsidPool(3);
        pool.MaxAsid.ShouldBe((ushort)3);
        pool.InUse.ShouldBe(0, "ASID 0 is the host's, never counted");
        pool.Alloc(out ushort a).ShouldBe(Errno.Ok);
        a.ShouldBe((ushort)1);
        pool.Alloc(out ushort b).ShouldBe(Errno.Ok);
        b.ShouldBe((ushort)2);
        pool.Alloc(out ushort c).ShouldBe(Errno.Ok);
        c.ShouldBe((ushort)3);
        pool.InUse.ShouldBe(3);

        pool.Alloc(out ushort none).ShouldBe(Errno.EBUSY);
        none.ShouldBe((ushort)0);
        pool.InUse.ShouldBe(3);

        pool.Free(2);
        pool.InUse.ShouldBe(2);
        pool.Alloc(out ushort again).ShouldBe(Errno.Ok);
        again.ShouldBe((ushort)2, "the lowest free one");
        pool.InUse.ShouldBe(3);
    }

    [Fact]
    public void Free_OfAnAsidNotInUse_IsABug_AndChangesNothing()
    {
        var pool = new SevAsidPool(2);
        pool.Alloc(out ushort asid).ShouldBe(Errno.Ok);
        Should.Throw<InvalidOperationException>(() => pool.Free(0)).Message.ShouldContain("ASID 0");
        Should.Throw<InvalidOperationException>(() => pool.Free(3)).Message.ShouldContain("ASID 3");
        Should.Throw<InvalidOperationException>(() => pool.Free(2)).Message.ShouldContain("not in use");
        pool.InUse.ShouldBe(1);
        pool.Free(asid);
        pool.InUse.ShouldBe(0);
        Should.Throw<InvalidOperationException>(() => pool.Free(asid));
    }

    [Fact]
    public void APoolOfNoAsid_IsRefused()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new SevAsidPool(0));
        var pool = new SevAsidPool(1);
        pool.Alloc(out ushort only).ShouldBe(Errno.Ok);
        only.ShouldBe((ushort)1);
        pool.Free(only);
        pool.InUse.ShouldBe(0, "the highest ASID may be freed too");
    }
}
