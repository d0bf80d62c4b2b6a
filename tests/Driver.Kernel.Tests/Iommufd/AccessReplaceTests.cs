using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// An in-kernel access moving between IOASes (Linux iommufd_access_replace, which VFIO's emulated
/// devices use) and the access list of one IOAS (ids in xa_limit_16b): the new IOAS is joined first,
/// the user lets go of the old one's pins, and a failure leaves the access where it was.
/// </summary>
public class AccessReplaceTests
{
    private const ulong Pg = IoPageTable.PageSize;
    private const ulong Base = MockDomainOptions.DefaultApertureStart;

    private readonly IommufdRig _rig = new();
    private readonly uint _from;
    private readonly uint _to;
    private readonly ulong _buffer;

    public AccessReplaceTests()
    {
        _rig.Utils.IoasAlloc(out _from).ShouldBe(Errno.Ok);
        _rig.Utils.IoasAlloc(out _to).ShouldBe(Errno.Ok);
        _buffer = _rig.Buffer(16 * Pg);
        MapAt(_from, Base, _buffer, 4 * Pg).ShouldBe(Errno.Ok);
        MapAt(_to, Base, _buffer + (8 * Pg), 4 * Pg).ShouldBe(Errno.Ok);
    }

    private Errno MapAt(uint ioas, ulong iova, ulong uva, ulong length) => _rig.Utils.IoasMap(ioas, uva, length, ref iova);

    private (IommufdAccess Access, TestAccessOps Ops) Attached(uint ioas)
    {
        var ops = new TestAccessOps(_rig.Ctx);
        _rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(access!, ioas).ShouldBe(Errno.Ok);
        return (access!, ops);
    }

    private ulong Pin(IommufdAccess access, TestAccessOps ops, ulong iova)
    {
        Span<ulong> pfn = stackalloc ulong[1];
        _rig.Ctx.AccessPin(access, iova, Pg, write: true, pfn).ShouldBe(Errno.Ok);
        ops.Pins.Add((iova, Pg));
        return pfn[0];
    }

    [Fact]
    public void Replace_lets_go_of_the_old_ioas_pins_and_pins_come_from_the_new_one()
    {
        var (access, ops) = Attached(_from);
        long pinsBefore = _rig.Pages.TotalPins;
        ulong oldPfn = Pin(access, ops, Base);
        _rig.Pages.TotalPins.ShouldBe(pinsBefore + 1);
        _rig.Utils.Destroy(_from).ShouldBe(Errno.EBUSY, "the access holds the IOAS");

        _rig.Ctx.AccessReplace(access, _to).ShouldBe(Errno.Ok);
        access.UnmapRequests.ShouldBe(1, "the user is asked once to unpin everything");
        ops.Pins.ShouldBeEmpty();
        _rig.Pages.TotalPins.ShouldBe(pinsBefore, "the unpin reached the old IOAS");
        access.Ioas!.Id.ShouldBe(_to);

        ulong newPfn = Pin(access, ops, Base);
        newPfn.ShouldNotBe(oldPfn, "the same IOVA is another buffer in the new IOAS");
        newPfn.ShouldBe(oldPfn + 8, "the new IOAS maps the buffer's ninth page at its base");
        _rig.Utils.Destroy(_from).ShouldBe(Errno.Ok, "nothing holds the old IOAS now");
        _rig.Utils.Destroy(_to).ShouldBe(Errno.EBUSY);

        ops.Unmap(access, 0, ulong.MaxValue);
        _rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Replace_without_an_ioas_or_to_a_bad_id_is_enoent_and_to_the_same_ioas_does_nothing()
    {
        var ops = new TestAccessOps(_rig.Ctx);
        _rig.Ctx.AccessCreate(ops, out var detached).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessReplace(detached!, _to).ShouldBe(Errno.ENOENT, "replace needs an IOAS to replace");
        detached!.Ioas.ShouldBeNull();

        var (access, accessOps) = Attached(_from);
        Pin(access, accessOps, Base);
        _rig.Ctx.AccessReplace(access, 999).ShouldBe(Errno.ENOENT);
        _rig.Ctx.AccessReplace(access, detached.Id).ShouldBe(Errno.ENOENT, "an access is not an IOAS");
        _rig.Ctx.AccessReplace(access, _from).ShouldBe(Errno.Ok);
        access.UnmapRequests.ShouldBe(0, "neither a refused replace nor one to the same IOAS asks for unpins");
        access.Ioas!.Id.ShouldBe(_from);
        accessOps.Pins.ShouldHaveSingleItem();
    }

    [Fact]
    public void Replace_into_an_ioas_the_access_cannot_pin_is_eaddrinuse_and_keeps_the_old_one()
    {
        ulong iova = Base + 0x10_0000;
        MapAt(_to, iova + 0x10, _buffer + (12 * Pg) + 0x10, 0x30).ShouldBe(Errno.Ok);
        var (access, ops) = Attached(_from);
        Pin(access, ops, Base);
        long pins = _rig.Pages.TotalPins;

        _rig.Ctx.AccessReplace(access, _to).ShouldBe(Errno.EADDRINUSE, "an area of the new IOAS is not on pages");
        access.Ioas!.Id.ShouldBe(_from);
        access.UnmapRequests.ShouldBe(0);
        _rig.Pages.TotalPins.ShouldBe(pins);
        Pin(access, ops, Base + Pg);
        _rig.Utils.Destroy(_to).ShouldBe(Errno.Ok, "the failed replace left no reference on the new IOAS");
    }

    [Fact]
    public void Attaching_while_a_detach_still_asks_the_user_to_unpin_is_ebusy()
    {
        var ops = new ReattachingOps(_rig.Ctx, _to);
        _rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(access!, _from).ShouldBe(Errno.Ok);

        _rig.Ctx.AccessDetach(access!).ShouldBe(Errno.Ok);
        ops.AttachInsideUnmap.ShouldBe(Errno.EBUSY, "the old IOAS still takes the unpins");
        access!.Ioas.ShouldBeNull();
        _rig.Ctx.AccessAttach(access, _to).ShouldBe(Errno.Ok, "once the detach is done");
        _rig.Utils.Destroy(_from).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void An_ioas_holds_at_most_65536_accesses()
    {
        var ops = new TestAccessOps(_rig.Ctx) { NeedsPinPages = false };
        var accesses = new List<IommufdAccess>(IoPageTable.MaxAccesses);
        for (int i = 0; i < IoPageTable.MaxAccesses; i++)
        {
            _rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
            var err = _rig.Ctx.AccessAttach(access!, _from);
            if (err != Errno.Ok)
                err.ShouldBe(Errno.Ok, $"access {i}");
            accesses.Add(access!);
        }
        _rig.Ctx.AccessCreate(ops, out var extra).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(extra!, _from).ShouldBe(Errno.EBUSY, "no access list id is left");
        extra!.Ioas.ShouldBeNull();
        _rig.Ctx.AccessAttach(extra, _to).ShouldBe(Errno.Ok, "the limit is per IOAS");
        _rig.Ctx.AccessReplace(extra, _from).ShouldBe(Errno.EBUSY);
        extra.Ioas!.Id.ShouldBe(_to);

        _rig.Ctx.AccessDetach(accesses[^1]).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessReplace(extra, _from).ShouldBe(Errno.Ok, "a detach frees an id");
    }

    // An access whose user tries to attach elsewhere while its detach asks it to unpin.
    private sealed class ReattachingOps(IommufdContext ctx, uint other) : IIommufdAccessOps
    {
        public Errno? AttachInsideUnmap { get; private set; }

        public bool NeedsPinPages => true;

        public void Unmap(IommufdAccess access, ulong iova, ulong length) =>
            AttachInsideUnmap ??= ctx.AccessAttach(access, other);
    }
}
