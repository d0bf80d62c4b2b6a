using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// A vCPU's KVM_HC_MAP_GPA_RANGE exit as the VMM receives it (args, page size, the records of each step), and the
/// PVALIDATE path against a mocked guest CPU: what reaches the CPU, how often a fault is retried, an RMP fault.
/// </summary>
public sealed class VcpuPageStateExitTests
{
    private const ulong Flag2M = (ulong)KvmMapGpaRangeFlags.PageSize2M;
    private const ulong Flag4K = (ulong)KvmMapGpaRangeFlags.PageSize4K;
    private const ulong Encrypted = (ulong)KvmMapGpaRangeFlags.Encrypted;

    private static string Value(FakeLogRecord record, string key) => record.GetStructuredStateValue(key)!;

    private static KvmExit Request(KvmVcpu vcpu, ulong gpa, ulong size, bool toPrivate)
    {
        vcpu.RequestPageStateChange(gpa, size, toPrivate, out KvmExit? exit).ShouldBe(Errno.Ok);
        return exit!;
    }

    private static (KvmVcpu Vcpu, Mock<ISnpGuestCpu> Cpu) MockedVcpu(SnpRig rig)
    {
        var cpu = new Mock<ISnpGuestCpu>();
        cpu.Setup(c => c.Asid).Returns(Asid);
        rig.Vm.CreateVcpu(cpu.Object, out KvmVcpu? vcpu).ShouldBe(Errno.Ok);
        return (vcpu!, cpu);
    }

    [Theory]
    [InlineData(0UL, M2, false, 512UL, Flag2M)]
    [InlineData(0UL, M2, true, 512UL, Flag2M | Encrypted)]
    [InlineData(0UL, K4, true, 1UL, Flag4K | Encrypted)]
    [InlineData(K4, M2, false, 512UL, Flag4K)]
    [InlineData(M2, 3 * K4, false, 3UL, Flag4K)]
    [InlineData(0UL, 2 * M2, true, 1024UL, Flag2M | Encrypted)]
    public void TheExit_CarriesTheGpaRangeInPages_And2MOnlyWhenStartAndSizeAre2MAligned(ulong offset, ulong size, bool toPrivate, ulong npages, ulong attributes)
    {
        var rig = new SnpRig();
        KvmExit exit = Request(rig.Vcpu, GuestBase + offset, size, toPrivate);
        exit.Npages.ShouldBe(npages);
        exit.Attributes.ShouldBe(attributes);
        exit.Vcpu.ShouldBe(rig.Vcpu.Id);
    }

    [Fact]
    public void EachStep_IsLogged_WithTheVcpuTheRangeAndTheOutcome()
    {
        var rig = new SnpRig();
        KvmExit exit = Request(rig.Vcpu, GuestBase + M2, 2 * K4, toPrivate: false);
        var asked = rig.Logs.Single(6038, LogLevel.Debug);
        asked.Category.ShouldBe("Driver.Kernel.Kvm.KvmVcpu");
        Value(asked, "Vcpu").ShouldBe("0");
        Value(asked, "Gpa").ShouldBe(CapturedLogs.Value(GuestBase + M2));
        Value(asked, "Size").ShouldBe(CapturedLogs.Value(2 * K4));
        Value(asked, "State").ShouldBe("shared");

        rig.Vcpu.RequestPageStateChange(GuestBase, K4, true, out _).ShouldBe(Errno.EBUSY);
        var busy = rig.Logs.Single(6040, LogLevel.Information);
        Value(busy, "Errno").ShouldBe(nameof(Errno.EBUSY));
        Value(busy, "Reason").ShouldBe("an exit is pending");
        rig.Vcpu.LastPageStateChange.ShouldBe(Errno.Ok, "EBUSY is not the guest's result: its exit is still pending");

        rig.Vcpu.CompletePageStateChange(exit, Errno.EFAULT).ShouldBe(Errno.Ok);
        var done = rig.Logs.Single(6039, LogLevel.Debug);
        Value(done, "Gpa").ShouldBe(CapturedLogs.Value(GuestBase + M2));
        Value(done, "Size").ShouldBe(CapturedLogs.Value(2 * K4));
        Value(done, "Errno").ShouldBe(nameof(Errno.EFAULT));

        KvmExit second = Request(rig.Vcpu, GuestBase + M2, 2 * K4, toPrivate: true);
        Value(rig.Logs.All.Last(r => r.Id.Id == 6038), "State").ShouldBe("private");
        rig.Vcpu.CompletePageStateChange(second, Errno.Ok).ShouldBe(Errno.Ok);

        rig.Vcpu.RequestPageStateChange(GuestBase + 1, K4, true, out _).ShouldBe(Errno.EINVAL);
        var bad = rig.Logs.All.Last(r => r.Id.Id == 6040);
        Value(bad, "Errno").ShouldBe(nameof(Errno.EINVAL));
        Value(bad, "Reason").ShouldBe("a bad range");
    }

    [Fact]
    public void ANullExit_IsAnArgumentError_ForTheVmmsCalls()
    {
        var rig = new SnpRig();
        Should.Throw<ArgumentNullException>(() => rig.Vcpu.CompletePageStateChange(null!, Errno.Ok));
        Should.Throw<ArgumentNullException>(() => rig.Vcpu.HandlePageStateChange(null!));
        rig.Vcpu.LastPageStateChange.ShouldBe(Errno.Ok);
    }

    [Fact]
    public void A2MValidationOfAnAddressNot2MAligned_GoesToTheCpuAsIs_WithoutAFault()
    {
        var rig = new SnpRig();
        var (vcpu, cpu) = MockedVcpu(rig);
        cpu.Setup(c => c.Pvalidate(GuestBase + K4, 0, true, true)).Returns(PvalidateResult.FailInput);
        vcpu.Pvalidate(GuestBase + K4, pageSize2M: true, validate: true).ShouldBe(PvalidateResult.FailInput);
        cpu.Verify(c => c.Pvalidate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<bool>(), It.IsAny<bool>()), Times.Once);
        rig.File.TryFindPage(1, out _).ShouldBeFalse("no fault-in for an instruction that fails on its input");
        rig.Stage2.TryLookup(Gfn(K4), out _, out _, out _).ShouldBeFalse();
    }

    [Fact]
    public void AFaultThatCannotBeResolved_IsTakenOnce_AndNothingReachesTheCpu()
    {
        var rig = new SnpRig();
        var (vcpu, cpu) = MockedVcpu(rig);
        rig.Convert(0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        vcpu.Pvalidate(GuestBase, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.NestedPageFault);
        rig.Logs.All.Count(r => r.Id.Id == 6029).ShouldBe(1, "a memory fault exit: the page is shared, the access private");
        cpu.Verify(c => c.Pvalidate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<bool>(), It.IsAny<bool>()), Times.Never);
    }

    [Fact]
    public void AFaultDuringAnInvalidation_IsRetriedSixteenTimes_ThenIsANestedPageFault()
    {
        RmpHooks? hooks = null;
        var rig = new SnpRig(rmp: inner => hooks = new RmpHooks(inner));
        var (vcpu, cpu) = MockedVcpu(rig);
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out _).ShouldBe(Errno.Ok);
        PvalidateResult? during = null;
        int retries = -1;
        hooks!.BeforeMakeShared = _ =>
        {
            if (during is not null)
                return;
            int before = rig.Logs.All.Count(r => r.Id.Id == 6030);
            during = vcpu.Pvalidate(GuestBase, pageSize2M: false, validate: true);
            retries = rig.Logs.All.Count(r => r.Id.Id == 6030) - before;
        };
        rig.Convert(0, K4, toPrivate: false).ShouldBe(Errno.Ok);
        during.ShouldBe(PvalidateResult.NestedPageFault);
        retries.ShouldBe(16);
        cpu.Verify(c => c.Pvalidate(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<bool>(), It.IsAny<bool>()), Times.Never);
    }

    [Fact]
    public void An4KValidationInsideA2MEntry_IsSmashed_AndRetriedOnce()
    {
        var rig = new SnpRig();
        var (vcpu, cpu) = MockedVcpu(rig);
        ulong gpa = GuestBase + (3 * K4);
        cpu.SetupSequence(c => c.Pvalidate(gpa, It.IsAny<ulong>(), false, true))
            .Returns(PvalidateResult.NestedPageFault)
            .Returns(PvalidateResult.Success);
        vcpu.Pvalidate(gpa, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.Success);
        ulong spa = (rig.Pfn(0) + 3) << 12;
        cpu.Verify(c => c.Pvalidate(gpa, spa, false, true), Times.Exactly(2));
        rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(0);
        var record = rig.Logs.Single(6041, LogLevel.Debug);
        record.Category.ShouldBe("Driver.Kernel.Kvm.KvmVcpu");
        Value(record, "Vcpu").ShouldBe(CapturedLogs.Value(vcpu.Id));
        Value(record, "Gpa").ShouldBe(CapturedLogs.Value(gpa));
        Value(record, "Action").ShouldBe("the 2M RMP entry is smashed and the guest retries");
    }

    [Fact]
    public void AnRmpFaultKvmCannotResolve_IsTheGuestsNestedPageFault_WithoutARetry()
    {
        RmpHooks? hooks = null;
        var rig = new SnpRig(rmp: inner => hooks = new RmpHooks(inner));
        var (vcpu, cpu) = MockedVcpu(rig);
        hooks!.PsmashFails = Errno.EBUSY;
        ulong gpa = GuestBase + (3 * K4);
        cpu.Setup(c => c.Pvalidate(gpa, It.IsAny<ulong>(), false, true)).Returns(PvalidateResult.NestedPageFault);
        vcpu.Pvalidate(gpa, pageSize2M: false, validate: true).ShouldBe(PvalidateResult.NestedPageFault);
        cpu.Verify(c => c.Pvalidate(gpa, (rig.Pfn(0) + 3) << 12, false, true), Times.Once);
        rig.Arch.RmpOrder(rig.Pfn(0)).ShouldBe(9, "nothing was smashed");
        Value(rig.Logs.Single(6041, LogLevel.Debug), "Action").ShouldBe("not resolved (EBUSY)");
    }
}
