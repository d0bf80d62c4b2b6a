namespace Driver.Kernel.Iommufd;

/// <summary>The kinds of object an iommufd context holds (Linux enum iommufd_object_type).</summary>
public enum IommufdObjectType
{
    /// <summary>An IOVA address space: what user memory is mapped where.</summary>
    Ioas,

    /// <summary>A paging domain linked to an IOAS (IOMMUFD_OBJ_HWPT_PAGING).</summary>
    HwptPaging,

    /// <summary>A bound device, which owns its DMA.</summary>
    Device,

    /// <summary>An in-kernel user that pins pages or reads and writes by IOVA.</summary>
    Access,
}
