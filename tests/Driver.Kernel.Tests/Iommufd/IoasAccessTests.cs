using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>An in-kernel user that unpins what it is told to (or, stubborn, never does).</summary>
internal sealed class TestAccessOps(IommufdContext ctx) : IIommufdAccessOps
{
    public List<(ulong Iova, ulong Length)> Pins { get; } = [];

    public bool NeedsPinPages { get; init; } = true;

    public bool Stubborn { get; set; }

    /// <summary>Lets go of a pin the test recorded in <see cref="Pins"/>.</summary>
    public void Unpin(IommufdAccess access, ulong iova, ulong length)
    {
        Pins.Remove((iova, length)).ShouldBeTrue("the test pinned it");
        ctx.AccessUnpin(access, iova, length);
    }

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
        ops.Unpin(access, Base + Pg, 4 * Pg);
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

    [Fact]
    public void Access_pin_needs_a_page_aligned_start_but_not_length()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        var pfns = new ulong[4];
        long pins = Rig.Pages.TotalPins;
        Rig.Ctx.AccessPin(access, Base + 1, Pg, write: false, pfns).ShouldBe(Errno.EINVAL, "iommufd_access_pin_pages always needs a page-aligned iova");
        Rig.Ctx.AccessPin(access, Base + Pg - 8, 16, write: false, pfns).ShouldBe(Errno.EINVAL, "crossing a page from inside it");
        Rig.Pages.TotalPins.ShouldBe(pins, "a refused pin holds nothing");
        Rig.Ctx.AccessPin(access, Base + Pg, Pg + 1, write: false, pfns).ShouldBe(Errno.Ok, "the length may end inside a page");
        ops.Pins.Add((Base + Pg, Pg + 1));
        for (int i = 0; i < 2; i++)
        {
            Rig.Mm.TryTranslate(Buffer + ((ulong)(i + 1) * Pg), out ulong pfn);
            pfns[i].ShouldBe(pfn);
        }
        ops.Unpin(access, Base + Pg, Pg + 1);
        Rig.Pages.TotalPins.ShouldBe(pins);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_pin_across_areas_needs_each_area_to_end_on_a_page()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        iova = Base + (2 * Pg);
        U.IoasMap(IoasId, Buffer + (8 * Pg), 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        var pfns = new ulong[4];
        Rig.Ctx.AccessPin(access, Base + Pg, 2 * Pg, write: true, pfns).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base + Pg, 2 * Pg));
        Rig.Mm.TryTranslate(Buffer + Pg, out ulong a);
        Rig.Mm.TryTranslate(Buffer + (8 * Pg), out ulong b);
        pfns[..2].ShouldBe([a, b]);
        ops.Unpin(access, Base + Pg, 2 * Pg);
        if (MockDomains == 0)
        {
            // The pinning access keeps even a domain-less IOAS in whole pages (iopt_calculate_iova_alignment).
            iova = Base + (16 * Pg);
            U.IoasMap(IoasId, Buffer + (16 * Pg), Pg + (Pg / 2), ref iova).ShouldBe(Errno.EINVAL);
            iova = Base + (17 * Pg) + (Pg / 2);
            U.IoasMap(IoasId, Buffer + (24 * Pg) + (Pg / 2), Pg, ref iova).ShouldBe(Errno.EINVAL);
        }
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_checks_run_in_linux_order_and_a_detached_access_is_enoent()
    {
        var ops = new TestAccessOps(Rig.Ctx);
        Rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        var pfns = new ulong[1];
        Rig.Ctx.AccessPin(access!, Base, 0, write: false, pfns).ShouldBe(Errno.EINVAL, "length before the IOAS");
        Rig.Ctx.AccessPin(access!, ulong.MaxValue - 10, 12, write: false, pfns).ShouldBe(Errno.EOVERFLOW);
        Rig.Ctx.AccessPin(access!, Base, Pg, write: false, pfns).ShouldBe(Errno.ENOENT);
        Rig.Ctx.AccessRw(access!, Base, [], write: false).ShouldBe(Errno.EINVAL);
        Rig.Ctx.AccessRw(access!, ulong.MaxValue, new byte[2], write: true).ShouldBe(Errno.EOVERFLOW);
        Rig.Ctx.AccessRw(access!, ulong.MaxValue, new byte[1], write: false).ShouldBe(Errno.ENOENT, "the last byte of the space does not overflow");
        Rig.Ctx.AccessRw(access!, Base, new byte[1], write: false).ShouldBe(Errno.ENOENT);
        Rig.Ctx.AccessDestroy(access!).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Access_to_a_write_only_area_is_refused_for_reads()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 2 * Pg, ref iova, IoasMapFlags.Writeable | IoasMapFlags.FixedIova).ShouldBe(Errno.Ok);
        var (access, ops) = NewAccess();
        var pfns = new ulong[2];
        Rig.Ctx.AccessPin(access, Base, 2 * Pg, write: false, pfns).ShouldBe(Errno.EPERM);
        Rig.Ctx.AccessRw(access, Base + 5, new byte[10], write: false).ShouldBe(Errno.EPERM);
        Rig.Ctx.AccessRw(access, Base + 5, [1, 2, 3], write: true).ShouldBe(Errno.Ok);
        Rig.Ctx.AccessPin(access, Base, 2 * Pg, write: true, pfns).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base, 2 * Pg));
        ops.Unpin(access, Base, 2 * Pg);
        Rig.Ctx.AccessDestroy(access);
        Rig.CheckNoLeak();
    }
}
