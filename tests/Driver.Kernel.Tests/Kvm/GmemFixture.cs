using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Driver.Kernel.Tests.Support;
using Moq;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>User memory plus guest_memfd helpers: create a file, convert by the uAPI struct.</summary>
internal sealed class GmemFixture
{
    public const ulong K4 = 4096;
    public const ulong M2 = 2UL << 20;

    public GmemFixture(ulong frames = 8192, CapturedLogs? logs = null)
    {
        Logs = logs;
        User = new UserMemory(frames, logs);
    }

    public UserMemory User { get; }

    public CapturedLogs? Logs { get; }

    public GuestMemfd Create(ulong size, GuestMemfdFlags flags = 0, bool huge = false, IGuestMemfdArch? arch = null)
    {
        var options = new GuestMemfdOptions { HugePages = huge, Arch = arch, LoggerFactory = Logs };
        Errno e = GuestMemfd.Create(User.Pages, User.Memory, size, (ulong)flags, out GuestMemfd? file, options);
        if (e != Errno.Ok)
            throw new InvalidOperationException($"create: {e}");
        return file!;
    }

    public static byte[] Attributes(ulong offset, ulong size, bool toPrivate, SetMemoryAttributes2Flags flags = 0)
    {
        var bytes = new byte[KvmMemoryAttributes2.Bytes];
        default(KvmMemoryAttributes2).WithOffset(offset).WithSize(size)
            .WithAttributes(toPrivate ? (ulong)KvmMemoryAttributes.Private : 0).WithFlags((ulong)flags).CopyTo(bytes);
        return bytes;
    }

    public static Errno Convert(GuestMemfd file, ulong offset, ulong size, bool toPrivate, out ulong errorOffset, SetMemoryAttributes2Flags flags = 0)
    {
        byte[] bytes = Attributes(offset, size, toPrivate, flags);
        Errno e = file.SetMemoryAttributes2(bytes);
        errorOffset = KvmMemoryAttributes2.FromBytes(bytes).ErrorOffset;
        return e;
    }

    public static Errno Convert(GuestMemfd file, ulong offset, ulong size, bool toPrivate) => Convert(file, offset, size, toPrivate, out _);

    /// <summary>
    /// A strict architecture hook for a 2M folio at index 0: split answers Ok, unsplit <paramref name="unsplit"/>,
    /// MakePrivate <paramref name="makePrivate"/>; the test sets up MakeShared itself.
    /// </summary>
    public static Mock<IGuestMemfdArch> SplittingArch(Errno unsplit = Errno.Ok, Errno makePrivate = Errno.Ok)
    {
        var arch = new Mock<IGuestMemfdArch>(MockBehavior.Strict);
        arch.Setup(a => a.SplitFolio(It.IsAny<GuestMemfd>(), 0, It.IsAny<ulong>(), 9)).Returns(Errno.Ok);
        arch.Setup(a => a.UnsplitFolio(It.IsAny<GuestMemfd>(), 0, It.IsAny<ulong>(), 9)).Returns(unsplit);
        arch.Setup(a => a.MakePrivate(It.IsAny<GuestMemfd>(), It.IsAny<ulong>(), It.IsAny<ulong>())).Returns(makePrivate);
        return arch;
    }

    /// <summary>Everything a failed call must leave as it was.</summary>
    public static string State(GuestMemfd file, UserMemory user)
    {
        var pages = file.Size / K4;
        var folios = string.Join(",", Enumerable.Range(0, (int)pages).Select(i =>
            file.TryFindPage((ulong)i, out ulong pfn) ? $"{file.FolioOrderAt((ulong)i)}:{pfn:x}:{user.Pages.RefCount(pfn)}" : "-"));
        var ranges = string.Join(",", file.Shareability.Ranges.Select(r => $"{r.Start}-{r.End}:{(r.Shared ? "s" : "p")}"));
        return $"{ranges}|{folios}|{user.Frames.FramesInUse}|{user.Pages.TotalPins}";
    }
}
