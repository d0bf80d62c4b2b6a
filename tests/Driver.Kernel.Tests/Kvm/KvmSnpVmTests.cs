using Driver.Hw.Sev;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Platform.Snp;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The SNP VM's life on the machine: ASID, guest context (GCTX_CREATE, ACTIVATE), DECOMMISSION and reclaim, errnos as sev.c.</summary>
public sealed class KvmSnpVmTests
{
    private static KvmSnpConfig Config(SnpRig rig, SevAsidPool? asids = null) => new()
    {
        Pages = rig.Pages,
        Memory = rig.Machine.KernelMemory,
        Fds = rig.Fds,
        TableFrames = rig.Psp.Allocator,
        Sev = rig.Psp.Sev,
        Cpu = rig.Machine.Cpu,
        Asids = asids ?? rig.Asids,
        LoggerFactory = rig.Logs,
    };

    [Fact]
    public void LaunchStart_CreatesTheContext_AndBindsTheAsid_Once()
    {
        var rig = new SnpRig(launch: false);
        rig.Vm.Sev!.Active.ShouldBeFalse();
        rig.Vm.SnpLaunchStart(out SevStatus status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        var context = rig.Vm.Sev.Context!;
        context.Asid.ShouldBe(Asid);
        rig.Vm.Sev.Active.ShouldBeTrue();
        rig.Psp.State(context.Pa).ShouldBe(RmpState.Context);
        rig.Vm.SnpLaunchStart(out _).ShouldBe(Errno.EINVAL, "one context per VM");
        rig.Logs.Single(6034, LogLevel.Information);
        rig.Logs.Single(6032, LogLevel.Information).GetStructuredStateValue("Asid").ShouldBe("1");
    }

    [Fact]
    public void APlainVm_HasNoSnpLaunch()
    {
        var rig = new SnpRig();
        KvmVm.Create(rig.Pages, rig.Machine.KernelMemory, rig.Fds, rig.Psp.Allocator, out KvmVm? plain).ShouldBe(Errno.Ok);
        plain!.SnpLaunchStart(out _).ShouldBe(Errno.ENOTTY);
        plain.Sev.ShouldBeNull();
        plain.Destroy().ShouldBe(Errno.Ok);
    }

    [Fact]
    public void WhenEveryAsidIsTaken_CreationIsEbusy_AndTakesNothing()
    {
        var rig = new SnpRig();
        var one = new SevAsidPool(1);
        KvmVm.CreateSnp(Config(rig, one), out KvmVm? first).ShouldBe(Errno.Ok);
        long frames = rig.Psp.Allocator.FramesInUse;
        KvmVm.CreateSnp(Config(rig, one), out KvmVm? second).ShouldBe(Errno.EBUSY);
        second.ShouldBeNull();
        rig.Psp.Allocator.FramesInUse.ShouldBe(frames);
        rig.Logs.All.Count(r => r.Id.Id == 6033).ShouldBe(1);
        first!.Destroy().ShouldBe(Errno.Ok);
        one.InUse.ShouldBe(0);
        KvmVm.CreateSnp(Config(rig, one), out _).ShouldBe(Errno.Ok, "the ASID is free again");
    }

    [Fact]
    public void WithoutStage2Frames_CreationIsEnomem_AndTheAsidGoesBack()
    {
        var rig = new SnpRig();
        var pool = new SevAsidPool(2);
        var empty = new FrameAllocator(rig.Machine.KernelMemory, 0x9_0000_0000, K4);
        empty.TryAlloc(out _).ShouldBeTrue();
        KvmVm.CreateSnp(Config(rig, pool) with { TableFrames = empty }, out KvmVm? vm).ShouldBe(Errno.ENOMEM);
        vm.ShouldBeNull();
        pool.InUse.ShouldBe(0);
    }

    [Fact]
    public void WithoutTheSnpPlatform_CreationFails_WithTheDevicesErrno()
    {
        var rig = new SnpRig();
        var unprobed = rig.Psp.NewDevice();
        KvmVm.CreateSnp(Config(rig) with { Sev = unprobed }, out KvmVm? vm).ShouldBe(Errno.ENODEV);
        vm.ShouldBeNull();
        rig.Asids.InUse.ShouldBe(1, "only the rig's own VM");
    }

    [Fact]
    public void Destroy_WaitsForTheFiles_ThenDecommissions_ReclaimsTheContext_AndFreesTheAsid()
    {
        var rig = new SnpRig();
        rig.Vcpu.FaultIn(GuestBase, isPrivate: true, out _).ShouldBe(Errno.Ok);
        ulong context = rig.Vm.Sev!.Context!.Pa;
        ulong pfn = rig.Pfn(0);
        rig.Vm.Destroy().ShouldBe(Errno.EBUSY, "the guest_memfd file still holds the VM");
        rig.Logs.Single(6037, LogLevel.Information);

        rig.Fds.Close(rig.Fd).ShouldBe(Errno.Ok);
        rig.State(pfn).ShouldBe(RmpState.Hypervisor, "the file's release gave the pages back");
        rig.Vm.Destroy().ShouldBe(Errno.Ok);
        rig.Psp.State(context).ShouldBe(RmpState.Hypervisor, "the context page was reclaimed");
        rig.Psp.Allocator.IsAllocated(context).ShouldBeFalse();
        rig.Asids.InUse.ShouldBe(0);
        rig.Vm.Destroy().ShouldBe(Errno.Ok, "once");
        rig.Vm.CreateGuestMemfd(new byte[64], out _).ShouldBe(Errno.EIO);
        rig.Vm.SnpLaunchStart(out _).ShouldBe(Errno.EINVAL);
        rig.Vm.CreateVcpu(rig.Machine.GuestCpu(Asid), out _).ShouldBe(Errno.EIO);
        rig.Logs.Single(6036, LogLevel.Information);
    }

    [Fact]
    public void AReusedAsid_IsActivatedAfterADfFlush()
    {
        var rig = new SnpRig(launch: false);
        var pool = new SevAsidPool(1);
        KvmVm.CreateSnp(Config(rig, pool), out KvmVm? first).ShouldBe(Errno.Ok);
        first!.SnpLaunchStart(out _).ShouldBe(Errno.Ok);
        first.Destroy().ShouldBe(Errno.Ok);
        KvmVm.CreateSnp(Config(rig, pool), out KvmVm? second).ShouldBe(Errno.Ok);
        second!.SnpLaunchStart(out SevStatus status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Logs.All.Count(r => r.Id.Id == 5016).ShouldBe(1, "SNP_ACTIVATE asked for SNP_DF_FLUSH once");
    }

    [Fact]
    public void AVcpuOfAnSnpVm_RunsWithItsAsid()
    {
        var rig = new SnpRig();
        rig.Vm.CreateVcpu(rig.Machine.GuestCpu(2), out _).ShouldBe(Errno.EINVAL);
        rig.Vm.CreateVcpu(null, out _).ShouldBe(Errno.EINVAL);
        rig.Vm.CreateVcpu(rig.Machine.GuestCpu(Asid), out KvmVcpu? second).ShouldBe(Errno.Ok);
        second!.Id.ShouldBe(1);
    }
}
