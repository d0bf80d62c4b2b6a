using Driver.Hw.Interfaces;
using Driver.Kernel.Mm;
using Driver.Kernel.Psp;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Kvm;

/// <summary>What an SNP VM (KVM_X86_SNP_VM) is built from: host memory, the PSP driver and CPU for the RMP, the ASIDs.</summary>
public sealed record KvmSnpConfig
{
    public required PageCounts Pages { get; init; }

    public required IPhysicalMemory Memory { get; init; }

    public required FdTable Fds { get; init; }

    /// <summary>Frames for the stage-2 tables (kernel memory).</summary>
    public required IFrameAllocator TableFrames { get; init; }

    public required SevDevice Sev { get; init; }

    public required ISnpCpu Cpu { get; init; }

    public required SevAsidPool Asids { get; init; }

    /// <summary>Back 2M-aligned private ranges of its guest_memfd files with 2M folios.</summary>
    public bool HugePages { get; init; } = true;

    /// <summary>The RMP helpers; <see cref="SevRmpHelpers"/> over <see cref="Sev"/> and <see cref="Cpu"/> when null (tests mock them).</summary>
    public ISnpRmpHelpers? Rmp { get; init; }

    public ILoggerFactory? LoggerFactory { get; init; }
}
