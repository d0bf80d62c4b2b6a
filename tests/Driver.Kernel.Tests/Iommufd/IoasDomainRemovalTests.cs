using Driver.Kernel.Iommu;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// iopt_table_add_domain / iopt_table_remove_domain on a table of its own: a domain taken out has
/// none of the table's mappings left, its aperture reservations are gone, the alignment falls back
/// (iopt_calculate_iova_alignment), and a failed add leaves no trace of the domain's kind.
/// </summary>
public class IoasDomainRemovalTests
{
    private const ulong Pg = 4096;
    private const ulong Start = MockDomainOptions.DefaultApertureStart;

    // A mock domain made by a HWPT on a first IOAS; a second IOAS whose table the test drives directly.
    private static (IommufdRig Rig, IommuDomain Domain, IommufdIoas Ioas, uint IoasId) Setup()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint first).ShouldBe(Errno.Ok);
        var (_, hwptId, _) = rig.MockDomain(first);
        rig.Ctx.Objects.Get<IommufdHwptPaging>(hwptId, IommufdObjectType.HwptPaging, out var hwpt).ShouldBe(Errno.Ok);
        rig.Ctx.IoasAlloc(out uint second).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(second, out var ioas).ShouldBe(Errno.Ok);
        return (rig, hwpt!.Domain, ioas!, second);
    }

    [Fact]
    public void A_removed_domain_keeps_no_mapping_no_reservation_and_the_alignment_falls_back()
    {
        var (rig, domain, ioas, id) = Setup();
        var iopt = ioas.Iopt;
        ulong iova = Start;
        rig.Utils.IoasMap(id, rig.Buffer(2 * Pg), 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        iopt.AddDomain(domain).ShouldBe(Errno.Ok);
        iopt.IsGuestPrivate(domain).ShouldBeFalse("the one-argument add maps shared pages");
        iopt.IovaAlignment.ShouldBe(Pg);
        domain.Ops!.IovaToPhys(Start + Pg).ShouldNotBe(0UL);
        iopt.UsableRanges().ShouldNotContain(s => s.Start == 0, "below the aperture is reserved");
        rig.Pages.TotalPins.ShouldBe(2, "the area is pinned once for the domain");
        iopt.RemoveDomain(domain);
        domain.Ops!.IovaToPhys(Start).ShouldBe(0UL);
        domain.Ops!.IovaToPhys(Start + Pg).ShouldBe(0UL);
        iopt.IovaAlignment.ShouldBe(1UL);
        iopt.UsableRanges().ShouldBe([new IovaSpan(0, ulong.MaxValue, IsHole: true)]);
        rig.Pages.TotalPins.ShouldBe(0);
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_guest_private_domain_is_one_no_longer_once_removed()
    {
        var (rig, domain, ioas, _) = Setup();
        ioas.Iopt.AddDomain(domain, guestPrivate: true).ShouldBe(Errno.Ok);
        ioas.Iopt.IsGuestPrivate(domain).ShouldBeTrue();
        ioas.Iopt.AddDomain(domain, guestPrivate: true).ShouldBe(Errno.EEXIST);
        ioas.Iopt.RemoveDomain(domain);
        ioas.Iopt.IsGuestPrivate(domain).ShouldBeFalse();
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_refused_guest_private_add_leaves_the_domain_of_no_kind_and_the_table_as_it_was()
    {
        // An area below the mock's aperture: reserving that IOVA for the domain is EADDRINUSE.
        var (rig, domain, ioas, id) = Setup();
        ulong iova = Start - (2 * Pg);
        rig.Utils.IoasMap(id, rig.Buffer(Pg), Pg, ref iova).ShouldBe(Errno.Ok);
        var before = ioas.Iopt.UsableRanges();
        ioas.Iopt.AddDomain(domain, guestPrivate: true).ShouldBe(Errno.EADDRINUSE);
        ioas.Iopt.IsGuestPrivate(domain).ShouldBeFalse();
        ioas.Iopt.UsableRanges().ShouldBe(before);
        ioas.Iopt.IovaAlignment.ShouldBe(1UL);
        rig.Pages.TotalPins.ShouldBe(0);
        domain.Ops!.IovaToPhys(Start - (2 * Pg)).ShouldBe(0UL);
        rig.CheckNoLeak();
    }

    [Fact]
    public void Huge_pages_on_again_keep_the_alignment_an_attached_domain_needs()
    {
        // iopt_enable_large_pages recalculates: the mock's 4K page stays the floor, not 1.
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint ioasId).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(ioasId, out var ioas).ShouldBe(Errno.Ok);
        ulong value = 0;
        rig.Ctx.IoasOptionHugePages(ioasId, set: true, ref value).ShouldBe(Errno.Ok);
        ioas!.Iopt.IovaAlignment.ShouldBe(Pg);
        value = 1;
        rig.Ctx.IoasOptionHugePages(ioasId, set: true, ref value).ShouldBe(Errno.Ok);
        ioas.Iopt.IovaAlignment.ShouldBe(1UL, "nothing needs more than a byte again");
        rig.MockDomain(ioasId);
        ioas.Iopt.IovaAlignment.ShouldBe(Pg);
        value = 1;
        rig.Ctx.IoasOptionHugePages(ioasId, set: true, ref value).ShouldBe(Errno.Ok);
        ioas.Iopt.IovaAlignment.ShouldBe(Pg);
        rig.CheckNoLeak();
    }
}
