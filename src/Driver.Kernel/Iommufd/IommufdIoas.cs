namespace Driver.Kernel.Iommufd;

/// <summary>An IOVA address space (Linux struct iommufd_ioas): its io_pagetable and the automatic HWPTs made for devices attached to it.</summary>
public sealed class IommufdIoas : IommufdObject
{
    internal IommufdIoas(IoPageTable iopt)
        : base(IommufdObjectType.Ioas) => Iopt = iopt;

    public IoPageTable Iopt { get; }

    /// <summary>The HWPTs created automatically by attaching a device to this IOAS, reused by later attaches.</summary>
    internal List<IommufdHwptPaging> AutoHwpts { get; } = [];

    internal override void Destroy() => Iopt.UnmapAll(out _);
}
