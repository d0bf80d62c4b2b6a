using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// The context's kernel half of MAP, COPY and ALLOW_IOVAS once the structs are read, and closing
/// the file: the user address range's own overflow (iopt_alloc_pages), automatic against fixed IOVA
/// for COPY, a range with start == last, and an access told to let go before it is destroyed.
/// </summary>
public class IoasKernelApiTests
{
    private const ulong Pg = 4096;
    private const ulong Start = MockDomainOptions.DefaultApertureStart;
    private const IoasMapFlags Rw = IoasMapFlags.Readable | IoasMapFlags.Writeable;

    private static Errno Map(IommufdRig rig, IommufdIoas ioas, ulong addr, ulong length, ref ulong iova) =>
        rig.Ctx.IoasMapPages(ioas, new UserPagesProvider(rig.Mm), addr, length, writableSource: true, Rw | IoasMapFlags.FixedIova, ref iova);

    [Fact]
    public void A_user_range_whose_last_page_rounds_past_the_end_of_memory_is_EOVERFLOW()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint id).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(id, out var ioas).ShouldBe(Errno.Ok);
        ulong iova = Start;
        // addr + length does not wrap, but its page end does.
        Map(rig, ioas!, ulong.MaxValue - 0x10, 5, ref iova).ShouldBe(Errno.EOVERFLOW);
        ioas!.Iopt.Areas.IsEmpty.ShouldBeTrue();
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_high_user_address_maps_lazily_without_a_domain()
    {
        // Without a domain nothing is pinned at MAP (Linux pins on fill): an address far above
        // 2^31 pages is only a number, and its page count is one.
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint id).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(id, out var ioas).ShouldBe(Errno.Ok);
        ulong iova = Start;
        Map(rig, ioas!, 1UL << 46, Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Pages.TotalPins.ShouldBe(0);
        rig.Utils.IoasUnmap(id, Start, Pg, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(Pg);
        rig.CheckNoLeak();
    }

    [Fact]
    public void A_null_source_throws_even_for_a_length_of_zero()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint id).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(id, out var ioas).ShouldBe(Errno.Ok);
        ulong iova = Start;
        Should.Throw<ArgumentNullException>(() => rig.Ctx.IoasMapPages(ioas!, null!, 0, 0, true, Rw, ref iova))
            .ParamName.ShouldBe("source");
    }

    [Fact]
    public void Copy_without_FIXED_IOVA_picks_the_destination_and_with_it_keeps_the_one_given()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint src).ShouldBe(Errno.Ok);
        rig.Ctx.IoasAlloc(out uint dst).ShouldBe(Errno.Ok);
        rig.MockDomain(dst);
        ulong iova = Start;
        rig.Utils.IoasMap(src, rig.Buffer(4 * Pg), 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        ulong picked = 0;
        rig.Ctx.IoasCopy(dst, src, Start, 4 * Pg, Rw, ref picked).ShouldBe(Errno.Ok);
        picked.ShouldNotBe(0UL, "IOVA 0 is never chosen");
        (picked >= Start).ShouldBeTrue("the mock reserves what is below its aperture");
        ulong fixedIova = Start + (64 * Pg);
        rig.Ctx.IoasCopy(dst, src, Start, 4 * Pg, Rw | IoasMapFlags.FixedIova, ref fixedIova).ShouldBe(Errno.Ok);
        fixedIova.ShouldBe(Start + (64 * Pg));
        rig.Ctx.GetIoas(dst, out var ioas).ShouldBe(Errno.Ok);
        ioas!.Iopt.Areas.First(picked, picked).ShouldNotBeNull();
        ioas.Iopt.Areas.First(fixedIova, fixedIova + (4 * Pg) - 1)!.Start.ShouldBe(fixedIova);
        rig.Pages.TotalPins.ShouldBe(4, "both copies share the one pin of each page");
        rig.CheckNoLeak();
    }

    [Fact]
    public void An_allowed_range_whose_start_is_its_last_is_EINVAL_and_the_old_list_stays()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint id).ShouldBe(Errno.Ok);
        rig.Ctx.IoasAllowIovas(id, [(Start, Start + (16 * Pg) - 1)]).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(id, out var ioas).ShouldBe(Errno.Ok);
        rig.Ctx.IoasAllowIovas(id, [(Start, Start)]).ShouldBe(Errno.EINVAL);
        ulong auto = 0;
        rig.Ctx.IoasMapPages(ioas!, new UserPagesProvider(rig.Mm), rig.Buffer(Pg), Pg, true, Rw, ref auto).ShouldBe(Errno.Ok);
        auto.ShouldBeInRange(Start, Start + (15 * Pg));
        rig.CheckNoLeak();
    }

    [Fact]
    public void Closing_tells_an_attached_access_to_unmap_everything_and_marks_the_context_closed()
    {
        var rig = new IommufdRig();
        rig.Ctx.IoasAlloc(out uint id).ShouldBe(Errno.Ok);
        var attached = new Mock<IIommufdAccessOps>();
        var loose = new Mock<IIommufdAccessOps>();
        rig.Ctx.AccessCreate(attached.Object, out var a).ShouldBe(Errno.Ok);
        rig.Ctx.AccessCreate(loose.Object, out _).ShouldBe(Errno.Ok);
        rig.Ctx.AccessAttach(a!, id).ShouldBe(Errno.Ok);
        rig.Ctx.Closed.ShouldBeFalse();
        rig.Ctx.Close();
        rig.Ctx.Closed.ShouldBeTrue();
        rig.Ctx.Objects.Count.ShouldBe(0);
        attached.Verify(o => o.Unmap(a!, 0, ulong.MaxValue), Times.AtLeastOnce);
        loose.Verify(o => o.Unmap(It.IsAny<IommufdAccess>(), It.IsAny<ulong>(), It.IsAny<ulong>()), Times.Never);
    }
}
