using Driver.Hw.Interfaces;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Psp;

/// <summary>The RMP helpers against a mocked CPU: the exact RMPUPDATE and PSMASH operands, the retries, the errnos.</summary>
public sealed class SnpRmpTests
{
    private readonly Mock<ISnpCpu> _cpu = new(MockBehavior.Strict);
    private readonly CapturedLogs _logs = new();

    private SnpRmp Rmp(int retries = 1000) =>
        new(_cpu.Object, new SevDeviceConfig { RmpUpdateRetries = retries, PsmashRetries = retries }, _logs);

    [Theory]
    [InlineData(RmpPageLevel.Level4K, false)]
    [InlineData(RmpPageLevel.Level2M, true)]
    public void MakePrivate_SendsTheGuestsState(RmpPageLevel level, bool is2M)
    {
        _cpu.Setup(c => c.Rmpupdate(0x20_0000, new RmpUpdateArgs(0x4000_0000, true, is2M, true, 7))).Returns(RmpUpdateResult.Success);
        Rmp().RmpMakePrivate(0x20_0000, 0x4000_0000, level, 7, immutable: true, out var result).ShouldBe(Errno.Ok);
        result.ShouldBe(RmpUpdateResult.Success);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Once);
    }

    [Theory]
    [InlineData(RmpPageLevel.Level4K, false)]
    [InlineData(RmpPageLevel.Level2M, true)]
    public void MakeShared_SendsAnUnassignedEntry(RmpPageLevel level, bool is2M)
    {
        _cpu.Setup(c => c.Rmpupdate(0x20_0000, new RmpUpdateArgs(0, false, is2M, false, 0))).Returns(RmpUpdateResult.Success);
        Rmp().RmpMakeShared(0x20_0000, level, out _).ShouldBe(Errno.Ok);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Once);
    }

    [Fact]
    public void Overlap_IsRetried_UntilTheUpdateGoesThrough()
    {
        _cpu.SetupSequence(c => c.Rmpupdate(0x1000, It.IsAny<RmpUpdateArgs>()))
            .Returns(RmpUpdateResult.Overlap).Returns(RmpUpdateResult.Overlap).Returns(RmpUpdateResult.Success);
        Rmp().RmpMakeShared(0x1000, RmpPageLevel.Level4K, out var result).ShouldBe(Errno.Ok);
        result.ShouldBe(RmpUpdateResult.Success);
        _cpu.Verify(c => c.Rmpupdate(0x1000, It.IsAny<RmpUpdateArgs>()), Times.Exactly(3));
        _logs.All.ShouldBeEmpty();
    }

    [Fact]
    public void Overlap_IsRetriedABoundedNumberOfTimes_ThenEfault()
    {
        _cpu.Setup(c => c.Rmpupdate(0x1000, It.IsAny<RmpUpdateArgs>())).Returns(RmpUpdateResult.Overlap);
        Rmp(retries: 5).RmpMakePrivate(0x1000, 0, RmpPageLevel.Level4K, 1, false, out var result).ShouldBe(Errno.EFAULT);
        result.ShouldBe(RmpUpdateResult.Overlap);
        _cpu.Verify(c => c.Rmpupdate(0x1000, It.IsAny<RmpUpdateArgs>()), Times.Exactly(5));
        var record = _logs.Single(5020, LogLevel.Error);
        record.Message.ShouldContain("0x1000");
        record.Message.ShouldContain("asid 1");
    }

    [Theory]
    [InlineData(RmpUpdateResult.Input)]
    [InlineData(RmpUpdateResult.Permission)]
    [InlineData(RmpUpdateResult.InUse)]
    public void EveryOtherFailure_IsEfaultAtOnce_AsLinuxMapsIt(RmpUpdateResult code)
    {
        _cpu.Setup(c => c.Rmpupdate(0x2000, It.IsAny<RmpUpdateArgs>())).Returns(code);
        Rmp().RmpMakeShared(0x2000, RmpPageLevel.Level2M, out var result).ShouldBe(Errno.EFAULT);
        result.ShouldBe(code);
        _cpu.Verify(c => c.Rmpupdate(0x2000, It.IsAny<RmpUpdateArgs>()), Times.Once);
        _logs.Single(5020, LogLevel.Error).Message.ShouldContain("Level2M");
    }

    [Fact]
    public void Psmash_RetriesInUse()
    {
        _cpu.SetupSequence(c => c.Psmash(0x40_0000)).Returns(PsmashResult.InUse).Returns(PsmashResult.InUse).Returns(PsmashResult.Success);
        Rmp().Psmash(0x40_0000, out var result).ShouldBe(Errno.Ok);
        result.ShouldBe(PsmashResult.Success);
        _cpu.Verify(c => c.Psmash(0x40_0000), Times.Exactly(3));
    }

    [Fact]
    public void Psmash_StillInUseAfterTheRetries_IsEbusy()
    {
        _cpu.Setup(c => c.Psmash(0x40_0000)).Returns(PsmashResult.InUse);
        Rmp(retries: 4).Psmash(0x40_0000, out var result).ShouldBe(Errno.EBUSY);
        result.ShouldBe(PsmashResult.InUse);
        _cpu.Verify(c => c.Psmash(0x40_0000), Times.Exactly(4));
        _logs.Single(5021, LogLevel.Warning);
    }

    [Theory]
    [InlineData(PsmashResult.Input, Errno.EINVAL)]
    [InlineData(PsmashResult.Permission, Errno.EPERM)]
    [InlineData(PsmashResult.BadAddress, Errno.EINVAL)]
    public void Psmash_Failures_MapToErrno(PsmashResult code, Errno errno)
    {
        _cpu.Setup(c => c.Psmash(0x40_0000)).Returns(code);
        Rmp().Psmash(0x40_0000, out var result).ShouldBe(errno);
        result.ShouldBe(code);
        _cpu.Verify(c => c.Psmash(0x40_0000), Times.Once);
    }

    [Theory]
    [InlineData(0x40_1000UL)]
    [InlineData(0x10_0000UL)]
    public void Psmash_OfAnAddressNot2MAligned_IsEinval_WithoutTheInstruction(ulong spa)
    {
        Rmp().Psmash(spa, out var result).ShouldBe(Errno.EINVAL);
        result.ShouldBe(PsmashResult.Input);
        _cpu.VerifyNoOtherCalls();
        _logs.Single(5021, LogLevel.Warning);
    }

    [Fact]
    public void LeakedPages_AreCountedAndRemembered()
    {
        var rmp = Rmp();
        rmp.SnpLeakPages(0x5000, 0);
        rmp.LeakedPages.ShouldBe(0);
        _logs.All.ShouldBeEmpty();
        rmp.SnpLeakPages(0x5123, 3);
        rmp.LeakedPages.ShouldBe(3);
        rmp.IsLeaked(0x5000).ShouldBeTrue();
        rmp.IsLeaked(0x6FFF).ShouldBeTrue();
        rmp.IsLeaked(0x7000).ShouldBeTrue();
        rmp.IsLeaked(0x8000).ShouldBeFalse();
        rmp.IsLeaked(0x4000).ShouldBeFalse();
        var record = _logs.Single(5022, LogLevel.Warning);
        record.Message.ShouldContain("0x5-0x7");
        record.Message.ShouldContain("3 pages");
        rmp.SnpLeakPages(0x7000, 2);
        rmp.LeakedPages.ShouldBe(4);
    }

    [Fact]
    public void ANullCpu_IsABug() => Should.Throw<ArgumentNullException>(() => new SnpRmp(null!));
}
