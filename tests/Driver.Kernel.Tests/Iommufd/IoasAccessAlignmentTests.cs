using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// The IOVA alignment an in-kernel access imposes on its IOAS (Linux iopt_add_access and
/// iopt_calculate_iova_alignment): an access whose ops need pin_pages wants whole pages, one
/// that only copies wants nothing; the IOAS needs the largest want of its domains and accesses.
/// </summary>
public class IoasAccessAlignmentTests
{
    private const ulong Pg = IoPageTable.PageSize;
    private const ulong Base = MockDomainOptions.DefaultApertureStart;

    private readonly IommufdRig _rig = new();
    private readonly uint _ioas;
    private readonly ulong _buffer;

    public IoasAccessAlignmentTests()
    {
        _rig.Utils.IoasAlloc(out _ioas).ShouldBe(Errno.Ok);
        _buffer = _rig.Buffer(64 * Pg);
    }

    private ulong Alignment()
    {
        uint n = 0;
        var err = _rig.Utils.IoasIovaRanges(_ioas, 0, ref n, out ulong alignment);
        err.ShouldBeOneOf(Errno.Ok, Errno.EMSGSIZE);
        return alignment;
    }

    private (IommufdAccess Access, TestAccessOps Ops) Create(bool needsPinPages)
    {
        var ops = new TestAccessOps(_rig.Ctx) { NeedsPinPages = needsPinPages };
        _rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        return (access!, ops);
    }

    private Errno MapAt(ulong iova, ulong uva, ulong length) => _rig.Utils.IoasMap(_ioas, uva, length, ref iova);

    [Fact]
    public void An_access_that_needs_pin_pages_wants_a_page_and_one_that_does_not_wants_nothing()
    {
        var (copier, _) = Create(needsPinPages: false);
        var (pinner, _) = Create(needsPinPages: true);
        copier.IovaAlignment.ShouldBe(1UL);
        pinner.IovaAlignment.ShouldBe(Pg);
        Alignment().ShouldBe(1UL, "an IOAS without domains or accesses has no alignment");
        _rig.Ctx.AccessAttach(copier, _ioas).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(1UL);
        MapAt(Base + 0x10, _buffer + 0x10, 0x30).ShouldBe(Errno.Ok, "a copying access leaves sub-page maps allowed");
        _rig.Ctx.AccessDetach(copier).ShouldBe(Errno.Ok);
        _rig.Utils.IoasUnmap(_ioas, Base + 0x10, 0x30).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(pinner, _ioas).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(Pg);
        MapAt(Base + 0x10, _buffer + 0x10, Pg).ShouldBe(Errno.EINVAL, "the IOVA is not on a page");
        MapAt(Base, _buffer, Pg + 1).ShouldBe(Errno.EINVAL, "the length is not whole pages");
        MapAt(Base, _buffer + 0x800, Pg).ShouldBe(Errno.EINVAL, "the memory does not start on a page");
        MapAt(Base, _buffer, Pg).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDestroy(pinner).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(1UL, "the alignment goes back down when the access leaves");
        _rig.Ctx.AccessDestroy(copier).ShouldBe(Errno.Ok);
        _rig.CheckNoLeak();
    }

    [Theory]
    [InlineData(0x10UL, 0x10UL, Pg, "an area IOVA off a page")]
    [InlineData(0UL, 0UL, Pg + 0x10, "an area length off whole pages")]
    [InlineData(0UL, 0x800UL, Pg, "an area whose memory starts inside a page")]
    public void Attaching_a_pinning_access_over_an_area_it_cannot_pin_is_eaddrinuse_and_changes_nothing(
        ulong iovaOffset, ulong uvaOffset, ulong length, string why)
    {
        MapAt(Base + iovaOffset, _buffer + uvaOffset, length).ShouldBe(Errno.Ok);
        var (pinner, _) = Create(needsPinPages: true);
        var before = _rig.Snapshot();
        _rig.Ctx.AccessAttach(pinner, _ioas).ShouldBe(Errno.EADDRINUSE, why);
        _rig.Snapshot().ShouldBe(before);
        pinner.Ioas.ShouldBeNull();
        _rig.Ctx.GetIoas(_ioas, out var ioas).ShouldBe(Errno.Ok);
        ioas!.Iopt.Accesses.ShouldBeEmpty();
        Alignment().ShouldBe(1UL);
        _rig.Ctx.AccessPin(pinner, Base, Pg, write: false, new ulong[1]).ShouldBe(Errno.ENOENT, "the failed attach left it detached");
        _rig.Ctx.AccessDetach(pinner).ShouldBe(Errno.EINVAL);
        var (copier, _) = Create(needsPinPages: false);
        _rig.Ctx.AccessAttach(copier, _ioas).ShouldBe(Errno.Ok, "an access that only copies fits any area");
        _rig.Ctx.AccessDestroy(copier).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDestroy(pinner).ShouldBe(Errno.Ok);
        _rig.Utils.Destroy(_ioas).ShouldBe(Errno.Ok, "the failed attach took no reference on the IOAS");
        _rig.CheckNoLeak();
    }

    [Fact]
    public void The_alignment_is_the_largest_want_of_the_domains_and_the_accesses()
    {
        var (a, _) = Create(needsPinPages: true);
        var (b, _) = Create(needsPinPages: true);
        var (c, _) = Create(needsPinPages: false);
        _rig.Ctx.AccessAttach(a, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(b, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(c, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDetach(a).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(Pg, "the other pinning access still wants a page");
        _rig.Ctx.AccessDetach(b).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(1UL, "the copying access wants nothing");
        _rig.Ctx.AccessAttach(a, _ioas).ShouldBe(Errno.Ok);
        var (dev, _, _) = _rig.MockDomain(_ioas);
        Alignment().ShouldBe(Pg);
        _rig.Ctx.DeviceUnbind(dev).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(Pg, "removing the domain keeps what the access wants");
        _rig.Ctx.AccessDetach(a).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(1UL);
        ulong value = 0;
        _rig.Utils.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, _ioas, ref value).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(Pg, "huge pages off map page by page");
        _rig.Ctx.AccessAttach(a, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDetach(a).ShouldBe(Errno.Ok);
        Alignment().ShouldBe(Pg, "the access leaving does not undo the option");
        _rig.Ctx.AccessDestroy(a).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDestroy(b).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDestroy(c).ShouldBe(Errno.Ok);
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Pin_pages_by_an_access_that_does_not_need_them_is_einval_before_any_other_check()
    {
        MapAt(Base, _buffer, 4 * Pg).ShouldBe(Errno.Ok);
        var (copier, _) = Create(needsPinPages: false);
        var pfns = new ulong[4];
        _rig.Ctx.AccessPin(copier, Base, Pg, write: false, pfns).ShouldBe(Errno.EINVAL, "before the IOAS check (ENOENT)");
        _rig.Ctx.AccessPin(copier, ulong.MaxValue, 2, write: false, pfns).ShouldBe(Errno.EINVAL, "before the overflow check");
        _rig.Ctx.AccessAttach(copier, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(copier, Base, 4 * Pg, write: false, pfns).ShouldBe(Errno.EINVAL);
        _rig.Pages.TotalPins.ShouldBe(0, "nothing was pinned");
        var data = new byte[16];
        _rig.Ctx.AccessRw(copier, Base + 3, data, write: false).ShouldBe(Errno.Ok, "copying is what it may do");
        var (pinner, _) = Create(needsPinPages: true);
        _rig.Ctx.AccessAttach(pinner, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(pinner, Base, 4 * Pg, write: false, pfns).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessUnpin(pinner, Base, 4 * Pg);
        _rig.Ctx.AccessDestroy(pinner).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDestroy(copier).ShouldBe(Errno.Ok);
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Detaching_asks_the_user_to_unpin_everything_while_its_unpins_still_reach_the_ioas()
    {
        MapAt(Base, _buffer, 8 * Pg).ShouldBe(Errno.Ok);
        var requests = new List<(ulong Iova, ulong Length, Errno PinDuring)>();
        IommufdAccess? access = null;
        var ops = new RecordingOps(_rig.Ctx, (iova, length) =>
            requests.Add((iova, length, _rig.Ctx.AccessPin(access!, Base, Pg, write: false, new ulong[1]))));
        _rig.Ctx.AccessCreate(ops, out access).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(access!, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(access!, Base, 2 * Pg, write: false, new ulong[2]).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base, 2 * Pg));
        _rig.Ctx.AccessPin(access!, Base + (4 * Pg), Pg, write: true, new ulong[1]).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base + (4 * Pg), Pg));
        _rig.Pages.TotalPins.ShouldBe(3);
        _rig.Ctx.AccessDetach(access!).ShouldBe(Errno.Ok);
        requests.ShouldBe([(0UL, ulong.MaxValue, Errno.ENOENT)], "one request for everything, with new pins already refused");
        ops.Pins.ShouldBeEmpty();
        _rig.Pages.TotalPins.ShouldBe(0);
        access!.UnmapRequests.ShouldBe(1);
        _rig.Utils.IoasUnmap(_ioas, Base, 8 * Pg, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(8 * Pg, "nothing pins the area any more");
        _rig.Ctx.AccessDetach(access).ShouldBe(Errno.EINVAL);
        requests.Count.ShouldBe(1, "a second detach asks nothing");
        _rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
        requests.Count.ShouldBe(1, "a detached access is destroyed without a request");
        _rig.CheckNoLeak();
    }

    [Fact]
    public void Destroying_an_attached_access_unpins_what_it_holds()
    {
        MapAt(Base, _buffer, 4 * Pg).ShouldBe(Errno.Ok);
        var (access, ops) = Create(needsPinPages: true);
        _rig.Ctx.AccessAttach(access, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(access, Base + Pg, 2 * Pg, write: false, new ulong[2]).ShouldBe(Errno.Ok);
        ops.Pins.Add((Base + Pg, 2 * Pg));
        _rig.Utils.Destroy(_ioas).ShouldBe(Errno.EBUSY, "the access holds the IOAS");
        _rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
        ops.Pins.ShouldBeEmpty();
        access.UnmapRequests.ShouldBe(1);
        _rig.Pages.TotalPins.ShouldBe(0);
        _rig.Utils.Destroy(_ioas).ShouldBe(Errno.Ok, "the access let go of the IOAS");
        _rig.CheckNoLeak();
    }

    [Fact]
    public void A_user_that_keeps_its_pins_over_a_detach_blocks_the_unmap_as_linux_does()
    {
        MapAt(Base, _buffer, 2 * Pg).ShouldBe(Errno.Ok);
        var (access, ops) = Create(needsPinPages: true);
        ops.Stubborn = true;
        _rig.Ctx.AccessAttach(access, _ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(access, Base, Pg, write: false, new ulong[1]).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessDetach(access).ShouldBe(Errno.Ok);
        _rig.Pages.TotalPins.ShouldBe(1, "the user did not let go");
        _rig.Utils.IoasUnmap(_ioas, Base, 2 * Pg).ShouldBe(Errno.EDEADLOCK, "no access is left to ask");
        access.UnmapRequests.ShouldBe(1, "the detached access is not asked again");
        _rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
    }

    /// <summary>An access that records each unmap request, then unpins as asked.</summary>
    private sealed class RecordingOps(IommufdContext ctx, Action<ulong, ulong> seen) : IIommufdAccessOps
    {
        private readonly TestAccessOps _inner = new(ctx);

        public List<(ulong Iova, ulong Length)> Pins => _inner.Pins;

        public bool NeedsPinPages => true;

        public void Unmap(IommufdAccess access, ulong iova, ulong length)
        {
            seen(iova, length);
            _inner.Unmap(access, iova, length);
        }
    }
}
