using Driver.Hw.Kvm;
using Driver.Hw.Sev;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.SnpRig;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// An SNP VM's creation refusals, KVM_SEV_SNP_LAUNCH_START's failures (GCTX_CREATE, ACTIVATE) and sev_vm_destroy's
/// teardown: the errno, what stays taken (nothing), and the record each logs.
/// </summary>
public sealed class SnpVmLaunchTests
{
    private static KvmSnpConfig Config(SnpRig rig, SevAsidPool asids) => new()
    {
        Pages = rig.Pages,
        Memory = rig.Machine.KernelMemory,
        Fds = rig.Fds,
        TableFrames = rig.Psp.Allocator,
        Sev = rig.Psp.Sev,
        Cpu = rig.Machine.Cpu,
        Asids = asids,
        LoggerFactory = rig.Logs,
    };

    private static string Value(Microsoft.Extensions.Logging.Testing.FakeLogRecord record, string key) => record.GetStructuredStateValue(key)!;

    [Fact]
    public void CreateSnp_WithoutAConfig_Throws()
    {
        Should.Throw<ArgumentNullException>(() => KvmVm.CreateSnp(null!, out _));
    }

    [Fact]
    public void WithoutTheSnpPlatform_TheRefusalIsLogged_WithTheDevicesErrno()
    {
        var rig = new SnpRig();
        KvmVm.CreateSnp(Config(rig, new SevAsidPool(2)) with { Sev = rig.Psp.NewDevice() }, out _).ShouldBe(Errno.ENODEV);
        var record = rig.Logs.Single(6033, LogLevel.Warning);
        record.Category.ShouldBe("Driver.Kernel.Kvm.KvmVm");
        Value(record, "Errno").ShouldBe(nameof(Errno.ENODEV));
        Value(record, "Reason").ShouldBe("the SNP platform is not up");
    }

    [Fact]
    public void WithoutAFreeAsid_TheRefusalSaysSo()
    {
        var rig = new SnpRig();
        var none = new SevAsidPool(1);
        none.Alloc(out _).ShouldBe(Errno.Ok);
        KvmVm.CreateSnp(Config(rig, none), out _).ShouldBe(Errno.EBUSY);
        var record = rig.Logs.Single(6033, LogLevel.Warning);
        Value(record, "Errno").ShouldBe(nameof(Errno.EBUSY));
        Value(record, "Reason").ShouldBe("no free ASID");
    }

    [Fact]
    public void WithoutAStage2Root_TheRefusalSaysSo()
    {
        var rig = new SnpRig();
        var empty = new FrameAllocator(rig.Machine.KernelMemory, 0x9_0000_0000, K4);
        empty.TryAlloc(out _).ShouldBeTrue();
        KvmVm.CreateSnp(Config(rig, new SevAsidPool(2)) with { TableFrames = empty }, out _).ShouldBe(Errno.ENOMEM);
        var record = rig.Logs.Single(6033, LogLevel.Warning);
        Value(record, "Errno").ShouldBe(nameof(Errno.ENOMEM));
        Value(record, "Reason").ShouldBe("no frame for the stage-2 root");
    }

    [Fact]
    public void ItsGuestMemfdFiles_OfferMmapButNotInitShared()
    {
        var rig = new SnpRig();
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(M2).WithFlags((ulong)GuestMemfdFlags.InitShared).CopyTo(create);
        rig.Vm.CreateGuestMemfd(create, out _).ShouldBe(Errno.EINVAL, "an SNP guest's memory starts private");
        default(KvmCreateGuestMemfd).WithSize(M2).WithFlags((ulong)GuestMemfdFlags.Mmap).CopyTo(create);
        rig.Vm.CreateGuestMemfd(create, out _).ShouldBe(Errno.Ok);
    }

    [Fact]
    public void LaunchStart_WithoutAFrameForTheContext_IsEnomem_LeavesNoContext_AndMayBeRetried()
    {
        var rig = new SnpRig(launch: false);
        var taken = new List<ulong>();
        while (rig.Psp.Allocator.TryAlloc(out ulong pa))
            taken.Add(pa);
        rig.Vm.SnpLaunchStart(out _).ShouldBe(Errno.ENOMEM);
        rig.Vm.Sev!.Context.ShouldBeNull();
        rig.Vm.Sev.Active.ShouldBeFalse();
        var record = rig.Logs.Single(6035, LogLevel.Warning);
        Value(record, "Command").ShouldBe("SNP_GCTX_CREATE");
        Value(record, "Errno").ShouldBe(nameof(Errno.ENOMEM));
        Value(record, "Asid").ShouldBe("1");
        rig.Logs.All.ShouldNotContain(r => r.Id.Id == 6034);

        foreach (ulong pa in taken)
            rig.Psp.Allocator.Free(pa);
        rig.Vm.SnpLaunchStart(out SevStatus status).ShouldBe(Errno.Ok);
        status.ShouldBe(SevStatus.Success);
        rig.Vm.Sev.Active.ShouldBeTrue();
    }

    [Fact]
    public void LaunchStart_WhenActivateIsRefused_GivesTheFirmwaresStatus_AndDecommissionsTheContext()
    {
        var rig = new SnpRig();
        // A second pool hands out ASID 1 again, which the firmware knows bound to the rig's guest.
        KvmVm.CreateSnp(Config(rig, new SevAsidPool(4)), out KvmVm? twin).ShouldBe(Errno.Ok);
        twin!.Sev!.Asid.ShouldBe(Asid);
        long frames = rig.Psp.Allocator.FramesInUse;
        twin.SnpLaunchStart(out SevStatus status).ShouldBe(Errno.EIO);
        status.ShouldBe(SevStatus.AsidOwned);
        twin.Sev.Context.ShouldBeNull();
        twin.Sev.Active.ShouldBeFalse();
        rig.Psp.Allocator.FramesInUse.ShouldBe(frames, "the context page was decommissioned, reclaimed and freed");
        var record = rig.Logs.Single(6035, LogLevel.Warning);
        Value(record, "Command").ShouldBe("SNP_ACTIVATE");
        Value(record, "Errno").ShouldBe(nameof(Errno.EIO));
        Value(record, "Status").ShouldBe(nameof(SevStatus.AsidOwned));
        rig.Vm.Sev!.Active.ShouldBeTrue("the owner's guest is untouched");
    }

    [Fact]
    public void Destroy_GivesBackEveryTableFrame_TheContextAndTheAsid_AndForgetsTheSlots()
    {
        var rig = new SnpRig();
        var pool = new SevAsidPool(4);
        pool.Alloc(out ushort rigs).ShouldBe(Errno.Ok);
        rigs.ShouldBe(Asid, "this pool must not hand the rig's ASID out again");
        long before = rig.Psp.Allocator.FramesInUse;
        KvmVm.CreateSnp(Config(rig, pool), out KvmVm? vm).ShouldBe(Errno.Ok);
        vm!.SnpLaunchStart(out _).ShouldBe(Errno.Ok);
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(M2).CopyTo(create);
        vm.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        vm.SetUserMemoryRegion2(0, GuestBase, M2, fd, 0).ShouldBe(Errno.Ok);
        vm.FaultIn(GuestBase + K4, isPrivate: true, out _).ShouldBe(Errno.Ok);
        rig.Psp.Allocator.FramesInUse.ShouldBeGreaterThan(before + 2, "root, lower tables and the context");
        rig.Fds.Close(fd).ShouldBe(Errno.Ok);

        vm.Destroy().ShouldBe(Errno.Ok);
        rig.Psp.Allocator.FramesInUse.ShouldBe(before);
        vm.Slot(0).ShouldBeNull();
        vm.SlotOf(Gfn(K4)).ShouldBeNull();
        vm.Sev!.Context.ShouldBeNull();
        pool.InUse.ShouldBe(1, "only the one taken above");
        rig.Logs.All.ShouldNotContain(r => r.Id.Id == 6035, "nothing failed");
        Value(rig.Logs.Single(6036, LogLevel.Information), "Asid").ShouldBe("2");
    }

    [Fact]
    public void Destroy_WhenDecommissionFails_ReturnsItsErrno_AndStillFreesTheAsid()
    {
        var rig = new SnpRig();
        rig.Fds.Close(rig.Fd).ShouldBe(Errno.Ok);
        rig.Psp.Sev.SnpShutdown(out _).ShouldBe(Errno.Ok);
        Errno e = rig.Vm.Destroy();
        e.ShouldNotBe(Errno.Ok);
        var record = rig.Logs.Single(6035, LogLevel.Warning);
        Value(record, "Command").ShouldBe("SNP_DECOMMISSION");
        Value(record, "Errno").ShouldBe(e.ToString());
        rig.Vm.Sev!.Context.ShouldBeNull();
        rig.Asids.InUse.ShouldBe(0);
        rig.Logs.Single(6036, LogLevel.Information);
        rig.Vm.Destroy().ShouldBe(Errno.Ok, "once");
    }
}
