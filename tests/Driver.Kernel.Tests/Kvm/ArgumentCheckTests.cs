using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Psp;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>What the KVM helpers refuse outright: pages past the end of a shareability set, missing RMP parts.</summary>
public sealed class ArgumentCheckTests
{
    [Fact]
    public void AnEmptyShareabilitySet_HasNoRanges()
    {
        new ShareabilityRanges(0, shared: true).Ranges.ShouldBeEmpty();
        new ShareabilityRanges(0, shared: false).Pages.ShouldBe(0UL);
    }

    [Fact]
    public void PagesPastTheEnd_AreRefused_NamingTheArgument()
    {
        var r = new ShareabilityRanges(10, shared: false);
        var set = Should.Throw<ArgumentOutOfRangeException>(() => r.Set(5, 11, shared: true));
        set.ParamName.ShouldBe("end");
        set.Message.ShouldContain("the range lies past the end of the file");
        var find = Should.Throw<ArgumentOutOfRangeException>(() => r.IsShared(10));
        find.ParamName.ShouldBe("index");
        find.Message.ShouldContain("the page lies past the end of the file");
        r.Ranges.ShouldBe([new(0, 10, false)]);
    }

    [Fact]
    public void TheMachinesRmpHelpers_NeedTheDeviceAndTheCpu()
    {
        var psp = new PspRig();
        Should.Throw<ArgumentNullException>(() => new SevRmpHelpers(null!, psp.Machine.Cpu)).ParamName.ShouldBe("sev");
        Should.Throw<ArgumentNullException>(() => new SevRmpHelpers(psp.Sev, null!)).ParamName.ShouldBe("cpu");
    }

    [Fact]
    public void AnSnpArchOfAsid0_IsRefused_SayingWhy()
    {
        var rmp = new Moq.Mock<ISnpRmpHelpers>().Object;
        var gfns = new Moq.Mock<IGuestMemfdGfnLookup>().Object;
        Should.Throw<ArgumentOutOfRangeException>(() => new SnpGuestMemfdArch(rmp, 0, gfns)).Message.ShouldContain("ASID above 0");
    }
}
