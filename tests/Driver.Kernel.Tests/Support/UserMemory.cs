using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Tests.Support;

/// <summary>A process's user memory over a zone of simulated physical memory, with fault injection.</summary>
internal sealed class UserMemory
{
    public const ulong Base = 0x4000_0000;

    public UserMemory(ulong frames = 4096, ILoggerFactory? logs = null)
    {
        Memory = new PhysicalMemory();
        Frames = new FrameAllocator(Memory, Base, frames * Page.Size, logs);
        FailNth = new FailNth(logs);
        Pages = new PageCounts(Frames, FailNth, logs);
        Mm = new UserAddressSpace(Pages, Memory, logs);
    }

    public PhysicalMemory Memory { get; }

    public FrameAllocator Frames { get; }

    public FailNth FailNth { get; }

    public PageCounts Pages { get; }

    public UserAddressSpace Mm { get; }

    public MemFdHandle NewMemFd(ulong size)
    {
        Errno e = MemFd.Create(Pages, Memory, size, out MemFdHandle? handle);
        if (e != Errno.Ok)
            throw new InvalidOperationException($"memfd_create: {e}");
        return handle!;
    }
}
