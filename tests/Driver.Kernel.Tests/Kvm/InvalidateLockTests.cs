using Driver.Kernel.Kvm;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>get_pfn takes the invalidate lock shared, so it waits for a conversion and then sees its result.</summary>
public sealed class InvalidateLockTests
{
    [Fact]
    public void GetPfn_DuringAConversion_WaitsForItsEnd_AndSeesTheSplitFolio()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, huge: true);
        file.GetPfn(0, out _, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        Thread? reader = null;
        int seen = -1;
        Errno readerErrno = Errno.EINVAL;
        var notifier = new Mock<IGuestMemfdNotifier>();
        notifier.Setup(n => n.ShouldProceed(file, It.IsAny<ulong>(), It.IsAny<ulong>(), InvalidateReason.ToShared))
            .Returns(() =>
            {
                reader = new Thread(() => readerErrno = file.GetPfn(8, out _, out seen));
                reader.Start();
                reader.Join(TimeSpan.FromMilliseconds(200)).ShouldBeFalse("get_pfn must wait for the exclusive holder");
                return Errno.Ok;
            });
        using var subscription = file.AddNotifier(notifier.Object, 0, M2);

        Convert(file, 0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        reader.ShouldNotBeNull();
        reader.Join(TimeSpan.FromSeconds(10)).ShouldBeTrue();
        readerErrno.ShouldBe(Errno.Ok);
        seen.ShouldBe(0, "after the conversion the 2M folio is split");
    }
}
