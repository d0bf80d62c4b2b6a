using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Kvm;

/// <summary>How a guest_memfd is built: its folio sizes, the architecture's conversion hook, its VM.</summary>
public sealed record GuestMemfdOptions
{
    /// <summary>Back 2M-aligned private ranges with 2M folios (beyond upstream, which has 4K only).</summary>
    public bool HugePages { get; init; }

    /// <summary>The SNP (or other) part of conversions; none for a VM without protected memory.</summary>
    public IGuestMemfdArch? Arch { get; init; }

    /// <summary>The VM the file belongs to: a memslot of another VM may not bind it.</summary>
    public object? Owner { get; init; }

    /// <summary>Whether GUEST_MEMFD_FLAG_INIT_SHARED is offered (not for SNP VMs).</summary>
    public bool SupportsInitShared { get; init; } = true;

    public ILoggerFactory? LoggerFactory { get; init; }
}
