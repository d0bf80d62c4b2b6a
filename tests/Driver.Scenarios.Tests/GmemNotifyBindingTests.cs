using Driver.Kernel;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Strategies;
using Shouldly;
using Xunit;

namespace Driver.Scenarios.Tests;

/// <summary>
/// `gmem-notify` runs on iommufd: the trusted device bound to an iommufd, its guest-private HWPT filled by
/// IOAS_MAP_GUEST_MEMFD, and every conversion followed by the binding itself (no step of the strategy's own).
/// </summary>
public sealed class GmemNotifyBindingTests
{
    private static (Testbed Bed, IConversionStrategy Strategy) BringUp(string strategyName, ScenarioOptions? options = null) =>
        BroughtUp.Run(strategyName, options);

    private static (bool Mapped, int Level, ulong Pa) Leaf(Testbed bed, ulong gpa) => BroughtUp.TrustedLeaf(bed, gpa);

    [Fact]
    public void TheBinding_MapsEveryBlockAt2M_ThroughAnIommufdThatOwnsTheDevice()
    {
        var (bed, strategy) = BringUp(StrategyNames.GmemNotify);
        strategy.BindsGuestMemfd.ShouldBeTrue();
        bed.Iommufd.ShouldNotBeNull();
        bed.Iommufd!.File.Ctx.Subsystem.OwnedDevices.ShouldBe([Testbed.TrustedDeviceId]);
        for (int block = 0; block < bed.Layout.Blocks; block++)
        {
            ulong gpa = bed.Layout.BlockGpa(block) + 0x5000;
            Leaf(bed, gpa).ShouldBe((true, 1, bed.Layout.Spa(bed.Layout.PageOf(gpa))));
        }
    }

    [Fact]
    public void AShare_TakesThePageOutOfTheTrustedTable_AndTheReturnMapsItAgain_WithTheRestOfTheBlockAt4K()
    {
        var (bed, _) = BringUp(StrategyNames.GmemNotify);
        ulong gpa = bed.Layout.BlockGpa(1) + 0x7000;
        ulong spa = bed.Layout.Spa(bed.Layout.PageOf(gpa));

        bed.SetAttributes(gpa, toPrivate: false).ShouldBe(Errno.Ok);
        Leaf(bed, gpa).Mapped.ShouldBeFalse();
        Leaf(bed, gpa + 0x1000).ShouldBe((true, 0, spa + 0x1000));
        Leaf(bed, gpa - 0x7000).ShouldBe((true, 0, spa - 0x7000));
        bed.Layout.RmpSplit[1].ShouldBeTrue();
        Leaf(bed, bed.Layout.BlockGpa(0)).Level.ShouldBe(1);

        bed.SetAttributes(gpa, toPrivate: true).ShouldBe(Errno.Ok);
        // The RMP stays 4K after the return (the page is not validated yet), so the binding maps it 4K.
        Leaf(bed, gpa).ShouldBe((true, 0, spa));
        bed.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void TheUntrustedDevice_IsOnTheSameIoas_WhereTheBindingMapsOnlyTheSharedPage()
    {
        var (bed, _) = BringUp(StrategyNames.GmemNotify, Workloads.Small with { UntrustedDevice = true });
        var untrusted = bed.UntrustedDomain!;
        bed.Iommufd!.File.Ctx.Subsystem.OwnedDevices.Count.ShouldBe(2);
        ulong gpa = bed.Layout.BlockGpa(2) + 0x3000;
        ulong spa = bed.Layout.Spa(bed.Layout.PageOf(gpa));
        untrusted.Ops!.IovaToPhys(gpa).ShouldBe(0UL);

        bed.SetAttributes(gpa, toPrivate: false).ShouldBe(Errno.Ok);
        untrusted.Ops.IovaToPhys(gpa).ShouldBe(spa);
        untrusted.Ops.IovaToPhys(gpa + 0x1000).ShouldBe(0UL);
        bed.SetAttributes(gpa, toPrivate: true).ShouldBe(Errno.Ok);
        untrusted.Ops.IovaToPhys(gpa).ShouldBe(0UL);
        Leaf(bed, gpa).ShouldBe((true, 0, spa));
    }

    [Theory]
    [InlineData(StrategyNames.Force4K)]
    [InlineData(StrategyNames.Sequenced)]
    [InlineData(StrategyNames.FwSmash)]
    [InlineData(StrategyNames.MirroredS2)]
    public void TheOtherStrategies_MapThroughTheIommuCore_WithNoIommufd(string name)
    {
        var (bed, strategy) = BringUp(name);
        strategy.BindsGuestMemfd.ShouldBeFalse();
        bed.Iommufd.ShouldBeNull();
        Leaf(bed, bed.Layout.BlockGpa(0)).Mapped.ShouldBeTrue();
    }
}
