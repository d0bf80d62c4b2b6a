using Driver.Kernel;

namespace Driver.Scenarios.Strategies;

/// <summary>
/// What the host does, and in which order, when the guest shares a 4 KiB page inside a 2 MiB private
/// page that a trusted device is doing DMA to, and when the page becomes private again. The VMM calls
/// <see cref="BeforeShare"/>, then converts through guest_memfd, whose architecture hook calls
/// <see cref="SplitRmp"/>, <see cref="MakeShared"/> and <see cref="MakePrivate"/>; after a return to
/// private it calls <see cref="AfterPrivate"/>. Each step is built from the kernel's real operations.
/// </summary>
internal interface IConversionStrategy
{
    /// <summary>The name on the command line (<see cref="StrategyNames"/>).</summary>
    string Name { get; }

    /// <summary>Whether the trusted device's domain may map 2 MiB I/O pages under SNP.</summary>
    bool HugeIoPages { get; }

    /// <summary>
    /// Whether the trusted device's table is iommufd's binding of the guest_memfd (IOAS_MAP_GUEST_MEMFD), which maps
    /// after boot and follows every conversion by itself; else a paging domain of the IOMMU core that the strategy maps.
    /// </summary>
    bool BindsGuestMemfd { get; }

    /// <summary>Takes the booted system; a strategy that listens to guest_memfd subscribes here.</summary>
    void Attach(Engine.Testbed bed, StrategyCounters counters);

    /// <summary>
    /// Makes 2 MiB block <paramref name="block"/> private to the guest and mapped for the trusted device.
    /// <paramref name="validate"/> is the guest's PVALIDATE (gpa, spa, 2 MiB?) and says whether it succeeded.
    /// </summary>
    void Populate(int block, Func<ulong, ulong, bool, bool> validate);

    /// <summary>The host's steps before guest_memfd converts the page at <paramref name="gpa"/> to shared.</summary>
    Errno BeforeShare(ulong gpa);

    /// <summary>guest_memfd splits the 2 MiB folio of <paramref name="block"/>: the RMP side of the split.</summary>
    Errno SplitRmp(int block);

    /// <summary>The RMP side of a page becoming shared (guest_memfd's execute_work).</summary>
    Errno MakeShared(ulong page);

    /// <summary>The RMP side of a page becoming private again.</summary>
    Errno MakePrivate(ulong page);

    /// <summary>The host's steps after guest_memfd made the page at <paramref name="gpa"/> private again.</summary>
    Errno AfterPrivate(ulong gpa);
}
