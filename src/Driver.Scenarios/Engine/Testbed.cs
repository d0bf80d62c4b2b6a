using Driver.Hw.AmdIommu;
using Driver.Hw.Kvm;
using Driver.Kernel;
using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Iommufd;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Driver.Platform;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging;

namespace Driver.Scenarios.Engine;

/// <summary>
/// One run's system, wired the way a host boots it: a fresh machine seeded with the run's seed and
/// its monitors on, the AMD IOMMU driver and the IOMMU core on it, the PSP driver with SNP and
/// SEV-TIO up, one SNP guest (a guest_memfd bound to a memslot of a VM with a stage-2 table, every
/// page private, validated and faulted into stage 2),
/// the trusted device as a TDI bound to that guest and attached to a paging domain that maps the
/// guest's memory at IOVA = GPA, and optionally an untrusted device with a domain of its own. The
/// trusted domain is either one the strategy maps through the IOMMU core, or (as a VMM holds it)
/// iommufd's: the device bound to an iommufd, a guest-private HWPT of an IOAS, the guest_memfd
/// bound into it with IOAS_MAP_GUEST_MEMFD.
/// </summary>
internal sealed class Testbed
{
    public const ushort TrustedDeviceId = 0x31;
    public const ushort UntrustedDeviceId = 0x32;
    public const ushort GuestAsid = 1;
    public const ulong GuestGpaBase = 0x4000_0000;

    /// <summary>The IVRS range behind the IOMMU: both devices and room to spare, a device table of two pages.</summary>
    private const ushort LastDeviceId = 0x3F;

    // Where each allocator's frames start when the zone below leaves room (it does up to a 256 GiB guest);
    // a bigger guest's kernel zone moves the zones above it up, so no frame belongs to two allocators.
    private const ulong KernelZone = 0x1_0000_0000;
    private const ulong PspZoneMin = 0x1_8000_0000;
    private const ulong PspZoneSize = 16UL << 20;
    private const ulong GuestZoneMin = 0x2_0000_0000;
    private const ulong ZoneAlign = 1UL << 30;
    private const ulong RmpMinCovered = 0x10_0000_0000;

    private SevTdi? _tdi;
    private long _baselineTableFrames;
    private uint _ioas;
    private int _gmemFd = -1;

    public Testbed(ScenarioOptions options, RmpGranularity rule, ulong seed, bool hugeIoPages, ILoggerFactory loggerFactory, bool linearFrames = true)
    {
        Options = options;
        Rule = rule;
        bool hugeFolios = options.FolioSize == GuestLayout.Page2M;
        Layout = new GuestLayout(GuestGpaBase, options.GuestSize, hugeFolios);

        // Folios are aligned inside a run twice their size; the zone leaves room for that.
        ulong guestZoneSize = AlignUp((options.GuestSize * 2) + GuestLayout.Page2M, GuestLayout.Page2M);
        // I/O page tables at 4 KiB cost one table page per 2 MiB, plus the directories and the driver's rings.
        ulong kernelZoneSize = AlignUp((options.GuestSize / 256) + (32UL << 20), GuestLayout.Page2M);
        ulong pspZone = Math.Max(PspZoneMin, AlignUp(KernelZone + kernelZoneSize, ZoneAlign));
        // KVM's stage 2 right after the PSP's: a 4 KiB table per 2 MiB at worst, and the directories.
        ulong stage2Zone = pspZone + PspZoneSize;
        ulong stage2ZoneSize = AlignUp((options.GuestSize / 512) + (4UL << 20), GuestLayout.Page2M);
        ulong guestZone = Math.Max(GuestZoneMin, AlignUp(stage2Zone + stage2ZoneSize, ZoneAlign));
        ulong covered = Math.Max(RmpMinCovered, AlignUp(guestZone + guestZoneSize, ZoneAlign));
        Machine = new Machine(new MachineConfig
        {
            Seed = seed,
            ExtraInterleaving = ExtraInterleaving,
            Monitors = true,
            RmpCoveredBytes = covered,
            RmpBase = covered,
            Iommu = new IommuConfig { RmpRule = rule, Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true) },
            LoggerFactory = loggerFactory,
            LinearFrames = linearFrames,
        });

        KernelFrames = new FrameAllocator(Machine.KernelMemory, KernelZone, kernelZoneSize, loggerFactory);
        PspFrames = new FrameAllocator(Machine.KernelMemory, pspZone, PspZoneSize, loggerFactory);
        Stage2Frames = new FrameAllocator(Machine.KernelMemory, stage2Zone, stage2ZoneSize, loggerFactory);
        GuestFrames = new FrameAllocator(Machine.KernelMemory, guestZone, guestZoneSize, loggerFactory);

        Tap = new Metrics.CommandTap(Machine.Mmio, Machine.Memory, Machine.IommuMmioBase);
        // No interrupt line: Linux drains the event log in a thread on another CPU, while this machine has
        // one kernel thread, the one converting; a fault storm would keep its handler looping inside the
        // very window it measures. The log fills and drops events; the devices count every fault anyway.
        Amd = new AmdIommuDriver(Tap, Machine.KernelMemory, Machine.Clock, KernelFrames,
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, HugePagesWithSnp = hugeIoPages, LastDeviceId = LastDeviceId }, loggerFactory);
        Cpu = new Metrics.CountingSnpCpu(Machine.Cpu);
        Sev = new SevDevice(Machine.Mmio, Machine.KernelMemory, Machine.Clock, Cpu, PspFrames, new AmdIommuSnp(Amd),
            new SevDeviceConfig { MmioBase = Machine.PspMmioBase, Tio = true }, loggerFactory);
        Core = new IommuCore(Amd, Machine.Clock, new IommuCoreConfig { Strict = true }, loggerFactory);
        GuestCpu = Machine.GuestCpu(GuestAsid);
        LoggerFactory = loggerFactory;
        GuestPages = new PageCounts(GuestFrames, loggerFactory: loggerFactory);
    }

    /// <summary>Probability per kernel hardware access that the seed pulls one device event in early.</summary>
    public const double ExtraInterleaving = 0.05;

    public ScenarioOptions Options { get; }

    public RmpGranularity Rule { get; }

    public GuestLayout Layout { get; }

    public Machine Machine { get; }

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The AMD driver's frames: device table, rings and every I/O page table.</summary>
    public FrameAllocator KernelFrames { get; }

    public FrameAllocator PspFrames { get; }

    public FrameAllocator GuestFrames { get; }

    /// <summary>KVM's frames for the VM's stage-2 table.</summary>
    public FrameAllocator Stage2Frames { get; }

    /// <summary>The host's page counts over the guest's frames (guest_memfd's folios, user mappings).</summary>
    public PageCounts GuestPages { get; }

    /// <summary>The host process's files: the guest_memfd, and the iommufd when the trusted domain is iommufd's.</summary>
    public FdTable Fds { get; } = new();

    public Metrics.CommandTap Tap { get; }

    public Metrics.CountingSnpCpu Cpu { get; }

    public AmdIommuDriver Amd { get; }

    public IommuCore Core { get; }

    public SevDevice Sev { get; }

    public Driver.Hw.Interfaces.ISnpGuestCpu GuestCpu { get; }

    public SnpGuestContext? Guest { get; private set; }

    public IommuDomain? TrustedDomain { get; private set; }

    public IommuDomain? UntrustedDomain { get; private set; }

    public GuestMemfd? Gmem { get; private set; }

    public KvmVm? Vm { get; private set; }

    /// <summary>
    /// The VMM's iommufd (through the typed wrappers over its ioctls) when the trusted domain is iommufd's; else null.
    /// Then the untrusted device, if any, is on the same IOAS, where the binding maps the shared pages for it.
    /// </summary>
    public IommufdUtils? Iommufd { get; private set; }

    /// <summary>The trusted device's iommupt table (the AMD driver's protection domain).</summary>
    public IommuPageTable<AmdV1Format> TrustedTable => ((AmdProtectionDomain)TrustedDomain!.Ops!).Table;

    /// <summary>I/O page-table pages in use now: the AMD driver's frames beyond what it had before any domain.</summary>
    public long IoPageTablePages => KernelFrames.FramesInUse - _baselineTableFrames;

    /// <summary>
    /// Boots the host side: IOMMU, SNP and TIO, the guest's context and ASID, the TDI, the domains; with
    /// <paramref name="trustedThroughIommufd"/> the trusted device's domain is a guest-private HWPT of an iommufd IOAS.
    /// </summary>
    public void BootHost(bool trustedThroughIommufd = false)
    {
        Check(Amd.Init(), "AMD IOMMU init");
        _baselineTableFrames = KernelFrames.FramesInUse;
        Tap.Arm(Amd.CommandQueue.RingPa, Amd.CommandQueue.LengthLg2,
            Amd.Registers.ReadRingIndex(AmdIommuMmio.CommandBufferTailOffset));
        // From here every frame the AMD driver takes is a table the monitors watch.
        KernelFrames.FrameAllocated += Machine.Notify.TableFrameAllocated;
        KernelFrames.FrameFreed += Machine.Notify.TableFrameFreed;

        Check(Sev.Probe(), "PSP probe");
        Check(Sev.SnpInit(out _), "SNP_INIT");
        Check(Sev.TioInit(out _), "TIO_INIT");
        Check(Sev.SnpGctxCreate(out var guest, out _), "SNP_GCTX_CREATE");
        Guest = guest;
        Check(Sev.SnpActivate(guest!, GuestAsid, out _), "SNP_ACTIVATE");
        Check(Sev.TdiCreate(TrustedDeviceId, out _tdi, out _), "TIO_TDI_CREATE");

        if (trustedThroughIommufd)
        {
            TrustedDomain = IommufdDomains(out var untrusted);
            UntrustedDomain = untrusted;
        }
        else
        {
            TrustedDomain = PagingDomain(TrustedDeviceId);
            if (Options.UntrustedDevice)
                UntrustedDomain = PagingDomain(UntrustedDeviceId);
        }
    }

    /// <summary>The guest's memory: a guest_memfd with the options' folios, bound at <see cref="GuestGpaBase"/>.</summary>
    public void CreateGuestMemory(IGuestMemfdArch arch)
    {
        Check(KvmVm.Create(GuestPages, Machine.KernelMemory, Fds, Stage2Frames, out var vm, new GuestMemfdOptions
        {
            HugePages = Options.FolioSize == GuestLayout.Page2M,
            Arch = arch,
            SupportsInitShared = false,
            LoggerFactory = LoggerFactory,
        }), "KVM_CREATE_VM");
        var created = vm!;
        Vm = created;
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(Options.GuestSize).CopyTo(create);
        Check(created.CreateGuestMemfd(create, out int fd), "KVM_CREATE_GUEST_MEMFD");
        Check(created.SetUserMemoryRegion2(0, GuestGpaBase, Options.GuestSize, fd, 0), "KVM_SET_USER_MEMORY_REGION2");
        Fds.TryGet(fd, out GuestMemfd? file);
        Gmem = file;
        _gmemFd = fd;
        ulong step = Options.FolioSize / GuestLayout.Page4K;
        for (ulong page = 0; page < Layout.Pages; page += step)
        {
            Check(created.GetPfn((GuestGpaBase / GuestLayout.Page4K) + page, out ulong pfn, out _), "get_pfn");
            Layout.SetFolio(page, pfn * GuestLayout.Page4K);
        }
    }

    /// <summary>
    /// The guest touches private <paramref name="gpa"/> (its PVALIDATE): KVM's stage-2 fault maps it at the order the
    /// folio, the RMP entry and the memslot allow, if stage 2 does not map it already.
    /// </summary>
    public Errno FaultIn(ulong gpa) => Vm!.FaultIn(gpa, isPrivate: true, out _);

    /// <summary>TIO_TDI_BIND: from here the device's T=1 requests carry the guest's ASID.</summary>
    public void BindTdi() => Check(Sev.TdiBind(_tdi!, Guest!, out _), "TIO_TDI_BIND");

    /// <summary>KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd for one 4 KiB page.</summary>
    public Errno SetAttributes(ulong gpa, bool toPrivate)
    {
        Span<byte> bytes = stackalloc byte[KvmMemoryAttributes2.Bytes];
        default(KvmMemoryAttributes2).WithOffset(gpa - GuestGpaBase).WithSize(GuestLayout.Page4K)
            .WithAttributes(toPrivate ? (ulong)KvmMemoryAttributes.Private : 0).CopyTo(bytes);
        return Gmem!.SetMemoryAttributes2(bytes);
    }

    /// <summary>
    /// IOAS_MAP_GUEST_MEMFD of the whole guest_memfd at IOVA = GPA into the devices' IOAS (the
    /// kernel maps the range again after each conversion): its guest-private HWPT maps the private pages,
    /// 2 MiB where the folio and the RMP entry are 2 MiB.
    /// </summary>
    public Errno BindGuestMemfd()
    {
        if (Iommufd is null || _gmemFd < 0)
            throw new InvalidOperationException("BUG: the guest_memfd is bound before the iommufd or the file exists");
        ulong iova = GuestGpaBase;
        return Iommufd.IoasMapGuestMemfd(_ioas, _gmemFd, 0, Options.GuestSize, ref iova,
            IoasMapGuestMemfdFlags.FixedIova | IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable | IoasMapGuestMemfdFlags.KernelRemap);
    }

    /// <summary>On SNP the RMP caps a binding's page size (sev_gmem_max_mapping_level): order 9 only over a 2 MiB entry.</summary>
    private int RmpMaxOrder(ulong pfn) => Layout.RmpIsHuge(pfn << 12) ? 9 : 0;

    // What a VMM does for the devices it hands to an iommufd: bind each (claims its DMA), one IOAS, a guest-private
    // HWPT for the TDI; the untrusted device attached to the IOAS itself (an automatic HWPT: the binding's shared pages).
    private IommuDomain IommufdDomains(out IommuDomain? untrusted)
    {
        var sys = new IommufdSubsystem(Core, Machine.KernelMemory, LoggerFactory) { GuestMemfdRmpMaxOrder = RmpMaxOrder };
        var ctx = sys.Open();
        var utils = new IommufdUtils(new IommufdFile(ctx, new UserAddressSpace(GuestPages, Machine.KernelMemory), Fds));
        Check(utils.IoasAlloc(out _ioas), "IOMMU_IOAS_ALLOC");
        uint devId = IommufdBind(ctx, TrustedDeviceId);
        Check(utils.HwptAlloc(devId, _ioas, HwptAllocFlags.GuestPrivate, out uint hwptId), "IOMMU_HWPT_ALLOC");
        var trusted = IommufdAttach(ctx, devId, hwptId);
        untrusted = Options.UntrustedDevice ? IommufdAttach(ctx, IommufdBind(ctx, UntrustedDeviceId), _ioas) : null;
        Iommufd = utils;
        return trusted;
    }

    private static uint IommufdBind(IommufdContext ctx, ushort deviceId)
    {
        Check(ctx.Subsystem.Core.ProbeDevice(deviceId), "probe device");
        Check(ctx.DeviceBind(deviceId, out uint devId), "iommufd device bind");
        return devId;
    }

    // Attach to an HWPT or an IOAS (then the attach names the automatic HWPT): the domain the device is on.
    private static IommuDomain IommufdAttach(IommufdContext ctx, uint devId, uint ptId)
    {
        Check(ctx.DeviceAttach(devId, ref ptId), "iommufd device attach");
        Check(ctx.Objects.Get<IommufdHwptPaging>(ptId, IommufdObjectType.HwptPaging, out var hwpt), "HWPT lookup");
        return hwpt!.Domain;
    }

    private IommuDomain PagingDomain(ushort deviceId)
    {
        Check(Core.ProbeDevice(deviceId), "probe device");
        Check(Core.AllocPagingDomain(DomainAllocFlags.None, out var domain, strict: true), "paging domain");
        Check(Core.AttachDevice(domain!, deviceId), "attach");
        return domain!;
    }

    /// <summary>A step of bring-up that fails is a bug of the scenario, not a result.</summary>
    public static void Check(Errno err, string what)
    {
        if (err != Errno.Ok)
            throw new InvalidOperationException($"scenario bring-up: {what} failed with {err}");
    }

    private static ulong AlignUp(ulong value, ulong align) => (value + align - 1) & ~(align - 1);
}
