using Driver.Hw.Kvm;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Shouldly;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// The proposed guest_memfd binding on the mock IOMMU: one IOAS with a shared domain (an automatic
/// HWPT) and a guest-private one (HWPT_ALLOC GuestPrivate), and a guest_memfd of 2M folios in the
/// fd table, every page present and private.
/// </summary>
internal sealed class GuestMemfdRig
{
    public const ulong K4 = 4096;
    public const ulong M2 = 2UL << 20;
    public const ulong Iova = 0x100_0000;

    public GuestMemfdRig(ulong size = 2 * M2, bool huge = true, bool skipNotifier = false, Func<ulong, int>? rmpMaxOrder = null, bool domains = true)
    {
        Logs = new CapturedLogs();
        Rig = new IommufdRig(MockDomainOptions.HugePages, logs: Logs, skipGuestMemfdNotifier: skipNotifier, rmpMaxOrder: rmpMaxOrder);
        GuestMemfd.Create(Rig.Pages, Rig.Memory, size, 0, out var file, new GuestMemfdOptions { HugePages = huge, LoggerFactory = Logs }).ShouldBe(Errno.Ok);
        File = file!;
        File.Fallocate(GuestMemfd.FallocKeepSize, 0, size).ShouldBe(Errno.Ok);
        Fd = Rig.Fds.Install(File);
        Rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        Ioas = ioas;
        if (domains)
        {
            (SharedDev, SharedHwpt, _) = Rig.MockDomain(ioas);
            PrivateHwpt = AllocPrivate(SharedDev);
        }
    }

    public CapturedLogs Logs { get; }

    public IommufdRig Rig { get; }

    public GuestMemfd File { get; }

    public int Fd { get; }

    public uint Ioas { get; }

    public uint SharedDev { get; }

    public uint SharedHwpt { get; }

    public uint PrivateHwpt { get; }

    /// <summary>Another guest_memfd of <paramref name="size"/> bytes, present and private, in the fd table.</summary>
    public int OtherFile(ulong size)
    {
        GuestMemfd.Create(Rig.Pages, Rig.Memory, size, 0, out var other, new GuestMemfdOptions { HugePages = true }).ShouldBe(Errno.Ok);
        other!.Fallocate(GuestMemfd.FallocKeepSize, 0, size).ShouldBe(Errno.Ok);
        return Rig.Fds.Install(other);
    }

    public uint AllocPrivate(uint devId)
    {
        Rig.Utils.HwptAlloc(devId, Ioas, HwptAllocFlags.GuestPrivate, out uint hwpt).ShouldBe(Errno.Ok);
        return hwpt;
    }

    public MockDomain Domain(uint hwptId)
    {
        Rig.Ctx.Objects.Get<IommufdHwptPaging>(hwptId, IommufdObjectType.HwptPaging, out var hwpt).ShouldBe(Errno.Ok);
        return (MockDomain)hwpt!.Domain.Ops!;
    }

    public MockDomain Shared => Domain(SharedHwpt);

    public MockDomain Private => Domain(PrivateHwpt);

    public Errno Bind(ulong offset, ulong length, IoasMapGuestMemfdFlags mode = IoasMapGuestMemfdFlags.KernelRemap, ulong iova = Iova)
    {
        ulong at = iova;
        return Rig.Utils.IoasMapGuestMemfd(Ioas, Fd, offset, length, ref at,
            IoasMapGuestMemfdFlags.Readable | IoasMapGuestMemfdFlags.Writeable | IoasMapGuestMemfdFlags.FixedIova | mode);
    }

    public ulong Pa(ulong offset)
    {
        File.TryFindPage(offset / K4, out ulong pfn).ShouldBeTrue();
        return pfn * K4;
    }

    /// <summary>What the domain maps at file offset <paramref name="offset"/> (through the binding at <see cref="Iova"/>): (physical address, entry size), or (0, 0).</summary>
    public static (ulong Pa, ulong Size) At(MockDomain domain, ulong offset) =>
        domain.Table.TryLookup(Iova + offset, out PtEntryInfo entry) ? (entry.Oa + (Iova + offset - entry.Iova), entry.Size) : (0, 0);

    public Errno Convert(ulong offset, ulong size, bool toPrivate) => Kvm.GmemFixture.Convert(File, offset, size, toPrivate);

    public Errno Convert(ulong offset, ulong size, bool toPrivate, out ulong errorOffset) => Kvm.GmemFixture.Convert(File, offset, size, toPrivate, out errorOffset);

    public static byte[] Attrs(ulong offset, ulong size, bool toPrivate) => Kvm.GmemFixture.Attributes(offset, size, toPrivate, SetMemoryAttributes2Flags.Unspecified);
}
