using Driver.Hw.AmdIommu;
using Driver.Hw.Kvm;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Driver.Kernel.Tests.Psp;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Driver.Platform.Iommu;
using Shouldly;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// An SNP guest with a bound device on the machine, monitors on: SNP and SEV-TIO up, a KVM VM whose
/// guest_memfd (2M folios) is bound at <see cref="GuestBase"/>, the guest's context active with
/// <see cref="Asid"/>, a TDI for <see cref="Trusted"/> bound to it, and one IOAS with a guest-private
/// HWPT for the TDI and an automatic (shared) one for the untrusted <see cref="Untrusted"/>. Guest
/// frames announce their frees to the monitor, the AMD driver's frames theirs as tables.
/// </summary>
internal sealed class SnpBindingRig
{
    public const ulong K4 = 4096;
    public const ulong M2 = 2UL << 20;
    public const ushort Asid = 1;
    public const ushort Trusted = 0x31;
    public const ushort Untrusted = 0x32;
    public const ulong GuestZone = 0x8_0000_0000;
    public const ulong GuestBase = 0x4000_0000;
    public const ulong FileSize = 2 * M2;

    /// <param name="skipNotifier">The binding without its guest_memfd notifier (the test switch).</param>
    /// <param name="kvm">The VM made by KVM_CREATE_VM of an SNP type (a stage-2 table, the context from SNP_LAUNCH_START)
    /// with a vCPU, so the guest's PVALIDATE goes through KVM's fault paths; else only guest_memfd and the RMP.</param>
    public SnpBindingRig(bool skipNotifier = false, bool kvm = false)
    {
        Psp = new PspRig(
            new SevDeviceConfig { MmioBase = Machine.PspMmioBase, Tio = true },
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, HugePagesWithSnp = true },
            machine: new MachineConfig { Iommu = new IommuConfig { Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true) } });
        Psp.Allocator.FrameAllocated += Machine.Notify.TableFrameAllocated;
        Psp.Allocator.FrameFreed += Machine.Notify.TableFrameFreed;
        Psp.Up();
        Psp.Sev.TioInit(out _).ShouldBe(Errno.Ok);

        Frames = new FrameAllocator(Machine.KernelMemory, GuestZone, 32UL << 20, Logs);
        Frames.FrameAllocated += Machine.Notify.MemoryFrameAllocated;
        Frames.FrameFreed += Machine.Notify.MemoryFrameFreed;
        Pages = new PageCounts(Frames, null, Logs);
        Fds = new FdTable();
        var helpers = new SevRmpHelpers(Psp.Sev, Machine.Cpu);
        if (kvm)
        {
            var config = new KvmSnpConfig
            {
                Pages = Pages,
                Memory = Machine.KernelMemory,
                Fds = Fds,
                TableFrames = Psp.Allocator,
                Sev = Psp.Sev,
                Cpu = Machine.Cpu,
                Asids = new SevAsidPool(4),
                Rmp = helpers,
                LoggerFactory = Logs,
            };
            KvmVm.CreateSnp(config, out KvmVm? vm).ShouldBe(Errno.Ok);
            Vm = vm!;
            Vm.Sev!.Asid.ShouldBe(Asid);
        }
        else
        {
            Vm = new KvmVm(Pages, Machine.KernelMemory, Fds, new GuestMemfdOptions { HugePages = true, LoggerFactory = Logs, SupportsInitShared = false },
                vm => new SnpGuestMemfdArch(helpers, Asid, vm, Logs));
        }
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(FileSize).CopyTo(create);
        Vm.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        Fd = fd;
        Fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        File = file!;
        Vm.SetUserMemoryRegion2(0, GuestBase, FileSize, fd, 0).ShouldBe(Errno.Ok);

        SnpGuestContext? guest;
        if (kvm)
        {
            Vm.SnpLaunchStart(out _).ShouldBe(Errno.Ok);
            guest = Vm.Sev!.Context;
            Vm.CreateVcpu(Machine.GuestCpu(Asid), out KvmVcpu? vcpu).ShouldBe(Errno.Ok);
            Vcpu = vcpu;
        }
        else
        {
            Psp.Sev.SnpGctxCreate(out guest, out _).ShouldBe(Errno.Ok);
            Psp.Sev.SnpActivate(guest!, Asid, out _).ShouldBe(Errno.Ok);
        }
        Psp.Sev.TdiCreate(Trusted, out var tdi, out _).ShouldBe(Errno.Ok);
        Psp.Sev.TdiBind(tdi!, guest!, out _).ShouldBe(Errno.Ok);

        Core = new IommuCore(Psp.Amd, Machine.Clock, new IommuCoreConfig { Strict = true }, Logs);
        var arch = (SnpGuestMemfdArch)Vm.Arch!;
        Subsystem = new IommufdSubsystem(Core, Machine.KernelMemory, Logs)
        {
            GuestMemfdRmpMaxOrder = pfn => Math.Max(0, arch.RmpOrder(pfn)),
            SkipGuestMemfdNotifier = skipNotifier,
        };
        Ctx = Subsystem.Open();
        Utils = new IommufdUtils(new IommufdFile(Ctx, new UserAddressSpace(Pages, Machine.KernelMemory), Fds));
        Core.ProbeDevice(Trusted).ShouldBe(Errno.Ok);
        Core.ProbeDevice(Untrusted).ShouldBe(Errno.Ok);
        Ctx.DeviceBind(Trusted, out uint trustedDev).ShouldBe(Errno.Ok);
        Ctx.DeviceBind(Untrusted, out uint untrustedDev).ShouldBe(Errno.Ok);
        Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        Ioas = ioas;
        Utils.HwptAlloc(trustedDev, ioas, HwptAllocFlags.GuestPrivate, out uint hwpt).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        Ctx.DeviceAttach(trustedDev, ref pt).ShouldBe(Errno.Ok);
        PrivateHwpt = hwpt;
        pt = ioas;
        Ctx.DeviceAttach(untrustedDev, ref pt).ShouldBe(Errno.Ok);
        SharedHwpt = pt;
    }

    public PspRig Psp { get; }

    public Machine Machine => Psp.Machine;

    public CapturedLogs Logs => Psp.Logs;

    public FrameAllocator Frames { get; }

    public PageCounts Pages { get; }

    public FdTable Fds { get; }

    public KvmVm Vm { get; }

    public SnpGuestMemfdArch Arch => (SnpGuestMemfdArch)Vm.Arch!;

    /// <summary>The guest's vCPU when the rig was made with KVM; else null.</summary>
    public KvmVcpu? Vcpu { get; }

    public int Fd { get; }

    public GuestMemfd File { get; }

    public IommuCore Core { get; }

    public IommufdSubsystem Subsystem { get; }

    public IommufdContext Ctx { get; }

    public IommufdUtils Utils { get; }

    public uint Ioas { get; }

    public uint PrivateHwpt { get; }

    public uint SharedHwpt { get; }

    public AmdProtectionDomain Domain(uint hwptId)
    {
        Ctx.Objects.Get<IommufdHwptPaging>(hwptId, IommufdObjectType.HwptPaging, out var hwpt).ShouldBe(Errno.Ok);
        return (AmdProtectionDomain)hwpt!.Domain.Ops!;
    }

    /// <summary>KVM's fault-in of the 2M block at <paramref name="offset"/>: a 2M folio, prepared as one 2M RMP entry, then validated by the guest at 2M.</summary>
    public ulong FaultIn2M(ulong offset)
    {
        File.GetPfn(offset / K4, out ulong pfn, out int order).ShouldBe(Errno.Ok);
        order.ShouldBe(9);
        Arch.Prepare((GuestBase + offset) >> 12, pfn, 9, out int mappable).ShouldBe(Errno.Ok);
        mappable.ShouldBe(9);
        Machine.GuestCpu(Asid).Pvalidate(GuestBase + offset, pfn << 12, pageSize2M: true, validate: true).ShouldBe(Driver.Hw.Interfaces.PvalidateResult.Success);
        return pfn << 12;
    }

    public Errno Convert(ulong offset, ulong size, bool toPrivate, string operation)
    {
        Machine.Notify.SetOperation(operation);
        try
        {
            return Kvm.GmemFixture.Convert(File, offset, size, toPrivate);
        }
        finally
        {
            Machine.Notify.SetOperation(null);
        }
    }

    public Errno Bind(IoasMapGuestMemfdFlags mode = IoasMapGuestMemfdFlags.KernelRemap)
    {
        ulong iova = GuestBase;
        return Utils.IoasMapGuestMemfd(Ioas, Fd, 0, FileSize, ref iova,
            IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable | mode);
    }

    /// <summary>The RMP fault flags of a refused DMA.</summary>
    public static RmpFaultFlags Flags(Driver.Platform.Dma.DmaRecord record) =>
        (RmpFaultFlags)new RmpPageFaultEvent([record.EventWord0, record.EventWord1]).RmpFlags;
}
