using Driver.Hw.Kvm;
using Driver.Hw.Sev;
using Driver.Kernel.Kvm;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Psp;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Driver.Platform.Snp;
using Shouldly;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>
/// The machine with SNP up and guest memory in a zone the RMP covers: a KVM VM whose guest_memfd files
/// use <see cref="SnpGuestMemfdArch"/> for ASID <see cref="Asid"/>, one file bound at <see cref="GuestBase"/>.
/// </summary>
internal sealed class SnpRig
{
    public const ulong K4 = 4096;
    public const ulong M2 = 2UL << 20;
    public const ushort Asid = 1;

    // Guest frames: 2 MiB aligned, inside the RMP's 64 GiB, apart from the PSP rig's zone.
    public const ulong GuestZone = 0x8_0000_0000;
    public const ulong GuestBase = 0x4000_0000;

    public SnpRig(ulong fileSize = 4 * M2, ulong zoneBytes = 32UL << 20, bool huge = true, bool bind = true)
    {
        Psp = new PspRig();
        Psp.Up();
        Frames = new FrameAllocator(Psp.Machine.KernelMemory, GuestZone, zoneBytes, Logs);
        FailNth = new FailNth(Logs);
        Pages = new PageCounts(Frames, FailNth, Logs);
        Fds = new FdTable();
        Helpers = new SevRmpHelpers(Psp.Sev, Psp.Machine.Cpu);
        Vm = new KvmVm(Pages, Psp.Machine.KernelMemory, Fds, new GuestMemfdOptions { HugePages = huge, LoggerFactory = Logs, SupportsInitShared = false },
            vm => new SnpGuestMemfdArch(Helpers, Asid, vm, Logs));
        var create = new byte[KvmCreateGuestMemfd.Bytes];
        default(KvmCreateGuestMemfd).WithSize(fileSize).CopyTo(create);
        Vm.CreateGuestMemfd(create, out int fd).ShouldBe(Errno.Ok);
        Fd = fd;
        Fds.TryGet(fd, out GuestMemfd? file).ShouldBeTrue();
        File = file!;
        if (bind)
            Vm.SetUserMemoryRegion2(0, GuestBase, fileSize, fd, 0).ShouldBe(Errno.Ok);
    }

    public PspRig Psp { get; }

    public CapturedLogs Logs => Psp.Logs;

    public Machine Machine => Psp.Machine;

    public FrameAllocator Frames { get; }

    public FailNth FailNth { get; }

    public PageCounts Pages { get; }

    public FdTable Fds { get; }

    public SevRmpHelpers Helpers { get; }

    public KvmVm Vm { get; }

    public int Fd { get; }

    public GuestMemfd File { get; }

    public SnpGuestMemfdArch Arch => (SnpGuestMemfdArch)Vm.Arch!;

    public static ulong Gfn(ulong offset) => (GuestBase + offset) >> 12;

    /// <summary>The frame of file offset <paramref name="offset"/>, allocated if needed.</summary>
    public ulong Pfn(ulong offset)
    {
        File.GetPfn(offset / K4, out ulong pfn, out _).ShouldBe(Errno.Ok);
        return pfn;
    }

    public RmpEntry Entry(ulong pfn, out bool is2M) => Machine.Rmp.ReadEffective(pfn, out is2M);

    public RmpState State(ulong pfn) => RmpStates.Classify(Entry(pfn, out _));

    public Errno Convert(ulong offset, ulong size, bool toPrivate) => GmemFixture.Convert(File, offset, size, toPrivate);

    /// <summary>The RMP of every page of the file as one string, for "exactly as before".</summary>
    public string Rmp()
    {
        var parts = new List<string>();
        for (ulong i = 0; i < File.Size / K4; i++)
        {
            if (!File.TryFindPage(i, out ulong pfn))
            {
                parts.Add("-");
                continue;
            }
            var e = Entry(pfn, out bool is2M);
            parts.Add($"{RmpStates.Classify(e)}{(is2M ? "2M" : "")}:{e.Gpa:x}");
        }
        return string.Join(",", parts);
    }
}
