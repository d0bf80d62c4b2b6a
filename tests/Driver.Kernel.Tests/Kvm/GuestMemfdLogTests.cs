using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>What guest_memfd prints: creation, conversions, splits and merges, refused host faults, fallbacks, holes, failed rollbacks.</summary>
public sealed class GuestMemfdLogTests
{
    [Fact]
    public void Create_PrintsTheSizeAndFlags()
    {
        var logs = new CapturedLogs();
        new GmemFixture(logs: logs).Create(8 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        var record = logs.Single(6000, LogLevel.Debug);
        record.GetStructuredStateValue("Size").ShouldBe(CapturedLogs.Value(8 * K4));
        record.GetStructuredStateValue("Flags").ShouldBe(CapturedLogs.Value(3UL));
    }

    [Fact]
    public void AConversion_PrintsItsRangeAndNewState_AndANoOpPrintsNothing()
    {
        var logs = new CapturedLogs();
        GuestMemfd file = new GmemFixture(logs: logs).Create(8 * K4);
        Convert(file, 2 * K4, 3 * K4, toPrivate: true).ShouldBe(Errno.Ok);
        logs.All.Count(r => r.Id.Id == 6001).ShouldBe(0, "already private");

        Convert(file, 2 * K4, 3 * K4, toPrivate: false).ShouldBe(Errno.Ok);
        var shared = logs.Single(6001, LogLevel.Debug);
        shared.GetStructuredStateValue("Offset").ShouldBe(CapturedLogs.Value(2 * K4));
        shared.GetStructuredStateValue("Size").ShouldBe(CapturedLogs.Value(3 * K4));
        shared.GetStructuredStateValue("State").ShouldBe("shared");

        Convert(file, 3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        var records = logs.All.Where(r => r.Id.Id == 6001).ToList();
        records.Count.ShouldBe(2);
        records[1].GetStructuredStateValue("Offset").ShouldBe(CapturedLogs.Value(3 * K4));
        records[1].GetStructuredStateValue("Size").ShouldBe(CapturedLogs.Value(K4));
        records[1].GetStructuredStateValue("State").ShouldBe("private");
    }

    [Fact]
    public void ASplitAndAMerge_PrintTheFoliosHeadFrame()
    {
        var logs = new CapturedLogs();
        GuestMemfd file = new GmemFixture(logs: logs).Create(M2, huge: true);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        Convert(file, 5 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        logs.Single(6004, LogLevel.Debug).GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(head));
        logs.All.Count(r => r.Id.Id == 6005).ShouldBe(0);
        Convert(file, 5 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        logs.Single(6005, LogLevel.Debug).GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(head));
    }

    [Fact]
    public void AHostFaultOnAPrivatePage_IsPrinted_WithItsIndex()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        GuestMemfd file = f.Create(4 * K4, GuestMemfdFlags.Mmap | GuestMemfdFlags.InitShared);
        file.Mmap(f.User.Mm, 0, 4 * K4, writable: true, out ulong va).ShouldBe(Errno.Ok);
        Convert(file, 3 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        f.User.Mm.CopyToUser(va + (2 * K4), [1]).ShouldBe(Errno.Ok);
        logs.All.Count(r => r.Id.Id == 6006).ShouldBe(0, "a shared page faults in");
        f.User.Mm.CopyToUser(va + (3 * K4), [1], out UserFault fault).ShouldBe(Errno.EFAULT);
        fault.ShouldBe(UserFault.Bus);
        logs.Single(6006, LogLevel.Debug).GetStructuredStateValue("Index").ShouldBe(CapturedLogs.Value(3UL));
    }

    [Fact]
    public void WhenNo2MFolioCanBeHad_A4KPageIsTaken_AndThatIsPrinted()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        GuestMemfd file = f.Create(M2, huge: true);
        f.User.FailNth.Arm(1);
        file.GetPfn(7, out _, out int order).ShouldBe(Errno.Ok);
        f.User.FailNth.Disarm();
        order.ShouldBe(0);
        file.FolioOrderAt(7).ShouldBe(0);
        file.FolioOrderAt(8).ShouldBe(-1);
        file.PresentPages.ShouldBe(1);
        logs.Single(6007, LogLevel.Debug).GetStructuredStateValue("Index").ShouldBe(CapturedLogs.Value(7UL));
    }

    [Fact]
    public void APunchedHole_PrintsTheRangeAndThePagesDropped()
    {
        var logs = new CapturedLogs();
        GuestMemfd file = new GmemFixture(logs: logs).Create(8 * K4);
        file.Fallocate(GuestMemfd.FallocKeepSize, K4, 2 * K4).ShouldBe(Errno.Ok);
        file.Fallocate(GuestMemfd.FallocKeepSize | GuestMemfd.FallocPunchHole, K4, 4 * K4).ShouldBe(Errno.Ok);
        var record = logs.Single(6009, LogLevel.Debug);
        record.GetStructuredStateValue("Offset").ShouldBe(CapturedLogs.Value(K4));
        record.GetStructuredStateValue("Length").ShouldBe(CapturedLogs.Value(4 * K4));
        record.GetStructuredStateValue("Pages").ShouldBe(CapturedLogs.Value(2UL));
    }

    [Fact]
    public void ARollbackStepThatFails_IsAnError_NamingThePage_AndTheConversionKeepsItsFirstErrno()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        var arch = GmemFixture.SplittingArch(unsplit: Errno.EBUSY, makePrivate: Errno.EIO);
        GuestMemfd file = f.Create(M2, huge: true, arch: arch.Object);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        int calls = 0;
        arch.Setup(a => a.MakeShared(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>())).Returns(() => ++calls == 2 ? Errno.EFAULT : Errno.Ok);

        Convert(file, K4, 2 * K4, toPrivate: false, out ulong errorOffset).ShouldBe(Errno.EFAULT);
        errorOffset.ShouldBe(2 * K4);
        var failed = logs.All.Where(r => r.Id.Id == 6008).ToList();
        failed.Count.ShouldBe(2, "the page made shared, then the split");
        failed.ShouldAllBe(r => r.Level == LogLevel.Error);
        failed[0].GetStructuredStateValue("What").ShouldBe("page made shared");
        failed[0].GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(head + 1));
        failed[0].GetStructuredStateValue("Errno").ShouldBe("EIO");
        failed[1].GetStructuredStateValue("What").ShouldBe("split 2M folio");
        failed[1].GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(head));
        failed[1].GetStructuredStateValue("Errno").ShouldBe("EBUSY");
        var rolledBack = logs.Single(6003, LogLevel.Warning);
        rolledBack.GetStructuredStateValue("Errno").ShouldBe("EFAULT");
        rolledBack.GetStructuredStateValue("ErrorOffset").ShouldBe(CapturedLogs.Value(2 * K4));
        rolledBack.GetStructuredStateValue("Offset").ShouldBe(CapturedLogs.Value(K4));
        rolledBack.GetStructuredStateValue("Size").ShouldBe(CapturedLogs.Value(2 * K4));
        rolledBack.GetStructuredStateValue("Steps").ShouldBe("2");
        file.IsPrivate(1).ShouldBeTrue("the shareability never changed");
        file.FolioOrderAt(0).ShouldBe(0, "the split the architecture could not undo stays");
    }

    [Fact]
    public void AMergeTheArchitectureRefuses_IsAWarning_AndThePagesStay4K_WhileTheConversionSucceeds()
    {
        var logs = new CapturedLogs();
        var f = new GmemFixture(logs: logs);
        var arch = new Mock<IGuestMemfdArch>();
        arch.Setup(a => a.MergeFolio(It.IsAny<GuestMemfd>(), 0, It.IsAny<ulong>(), 9)).Returns(Errno.EIO);
        GuestMemfd file = f.Create(M2, huge: true, arch: arch.Object);
        file.GetPfn(0, out ulong head, out _).ShouldBe(Errno.Ok);
        Convert(file, 9 * K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        Convert(file, 9 * K4, K4, toPrivate: true).ShouldBe(Errno.Ok);
        file.FolioOrderAt(0).ShouldBe(0);
        file.IsPrivate(9).ShouldBeTrue();
        var record = logs.Single(6011, LogLevel.Warning);
        record.GetStructuredStateValue("Pfn").ShouldBe(CapturedLogs.Value(head));
        record.GetStructuredStateValue("Errno").ShouldBe("EIO");
        logs.All.Count(r => r.Id.Id == 6005).ShouldBe(0);
        arch.Verify(a => a.MergeFolio(file, 0, head, 9), Times.Once);
    }
}
