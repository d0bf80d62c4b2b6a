using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>An in-kernel user that unpins what it is told to (or, stubborn, never does).</summary>
internal sealed class TestAccessOps(IommufdContext ctx) : IIommufdAccessOps
{
    public List<(ulong Iova, ulong Length)> Pins { get; } = [];

    public bool Stubborn { get; set; }

    public void Unmap(IommufdAccess access, ulong iova, ulong length)
    {
        if (Stubborn)
            return;
        foreach (var pin in Pins.ToArray())
        {
            if (pin.Iova <= iova + length - 1 && pin.Iova + pin.Length - 1 >= iova)
            {
                ctx.AccessUnpin(access, pin.Iova, pin.Length);
                Pins.Remove(pin);
            }
        }
    }
}

public abstract partial class IoasFixture
{
    private (IommufdAccess Access, TestAccessOps Ops) NewAccess()
    {
        var ops = new TestAccessOps(Rig.Ctx);
        Rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        Rig.Ctx.AccessAttach(access!, IoasId).ShouldBe(Errno.Ok);
        return (access!, ops);
    }

    [Fact]
    public void Access_pin()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 16 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        var pfns = new ulong[4];
        Rig.Ctx.AccessPin(access, Base + Pg, 4 * Pg, write: true, pfns).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base + Pg, 4 * Pg));
        for (int i = 0; i < 4; i++)
        {
            Rig.Mm.TryTranslate(Buffer + ((ulong)(i + 1) * Pg), out ulong pfn);
            pfns[i].ShouldBe(pfn);
            Rig.Pages.PinCount(pfn).ShouldBe(1, "a page is pinned once however many hold it");
        }
        Rig.Ctx.AccessPin(access, Base + (16 * Pg), Pg, write: false, pfns).ShouldBe(Errno.ENOENT);
        Rig.Ctx.AccessPin(access, Base, 0, write: false, pfns).ShouldBe(Errno.EINVAL);
        Rig.Ctx.AccessPin(access, ulong.MaxValue, 2, write: false, pfns).ShouldBe(Errno.EOVERFLOW);
        U.Destroy(IoasId).ShouldBe(Errno.EBUSY, "the access holds the IOAS");
        Rig.Ctx.AccessUnpin(access, Base + Pg, 4 * Pg);
        Rig.Pages.TotalPins.ShouldBe(MockDomains == 0 ? 0 : 16);
        Rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_pin_read_only_area()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 4 * Pg, ref iova, IoasMapFlags.Readable | IoasMapFlags.FixedIova).ShouldBe(Errno.Ok);
        var (access, _) = NewAccess();
        var pfns = new ulong[4];
        Rig.Ctx.AccessPin(access, Base, 4 * Pg, write: true, pfns).ShouldBe(Errno.EPERM);
        Rig.Ctx.AccessPin(access, Base, 4 * Pg, write: false, pfns).ShouldBe(Errno.Ok);
        Rig.Ctx.AccessUnpin(access, Base, 4 * Pg);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_pin_unmap()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        var pfns = new ulong[8];
        Rig.Ctx.AccessPin(access, Base, 8 * Pg, write: false, pfns).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base, 8 * Pg));
        U.IoasUnmap(IoasId, Base, 8 * Pg, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(8 * Pg);
        access.UnmapRequests.ShouldBe(1);
        ops.Pins.ShouldBeEmpty();
        Rig.Pages.TotalPins.ShouldBe(0);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_unmap_gives_up_on_a_stubborn_access()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        ops.Stubborn = true;
        var pfns = new ulong[2];
        Rig.Ctx.AccessPin(access, Base, 2 * Pg, write: false, pfns).ShouldBe(Errno.Ok);
        U.IoasUnmap(IoasId, Base, 2 * Pg).ShouldBe(Errno.EDEADLOCK);
        access.UnmapRequests.ShouldBe(IoPageTable.MaxUnmapTries + 1);
        Rig.Ctx.AccessPin(access, Base, Pg, write: false, pfns).ShouldBe(Errno.EINVAL, "the area is being unmapped");
        Rig.Ctx.AccessUnpin(access, Base, 2 * Pg);
        U.IoasUnmap(IoasId, Base, 2 * Pg).ShouldBe(Errno.Ok);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_rw()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, _) = NewAccess();
        var data = Enumerable.Range(0, 3 * (int)Pg).Select(i => (byte)(i * 7)).ToArray();
        Rig.Ctx.AccessRw(access, Base + 100, data, write: true).ShouldBe(Errno.Ok);
        var seen = new byte[data.Length];
        Rig.Mm.CopyFromUser(Buffer + 100, seen).ShouldBe(Errno.Ok);
        seen.ShouldBe(data);
        var back = new byte[data.Length];
        Rig.Ctx.AccessRw(access, Base + 100, back, write: false).ShouldBe(Errno.Ok);
        back.ShouldBe(data);
        Rig.Ctx.AccessRw(access, Base + (8 * Pg) - 1, new byte[2], write: false).ShouldBe(Errno.ENOENT);
        Rig.Ctx.AccessRw(access, Base, [], write: false).ShouldBe(Errno.EINVAL);
        Rig.Pages.TotalPins.ShouldBe(MockDomains == 0 ? 0 : 8, "the copy pinned only for itself");
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_rw_across_areas()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        iova = Base + (2 * Pg);
        U.IoasMap(IoasId, Buffer + (8 * Pg), 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, _) = NewAccess();
        var data = Enumerable.Range(0, (int)Pg).Select(i => (byte)(i + 1)).ToArray();
        Rig.Ctx.AccessRw(access, Base + Pg + (Pg / 2), data, write: true).ShouldBe(Errno.Ok);
        var first = new byte[Pg / 2];
        var second = new byte[Pg / 2];
        Rig.Mm.CopyFromUser(Buffer + Pg + (Pg / 2), first);
        Rig.Mm.CopyFromUser(Buffer + (8 * Pg), second);
        first.ShouldBe(data[..(int)(Pg / 2)]);
        second.ShouldBe(data[(int)(Pg / 2)..]);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }
}
