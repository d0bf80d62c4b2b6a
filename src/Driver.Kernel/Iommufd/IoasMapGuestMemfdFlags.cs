namespace Driver.Kernel.Iommufd;

/// <summary>Flags of the proposed IOAS_MAP_GUEST_MEMFD (seed 004; not upstream), with the values of its hwdef.</summary>
[Flags]
public enum IoasMapGuestMemfdFlags : uint
{
    None = 0,
    FixedIova = 1 << 0,
    Writeable = 1 << 1,
    Readable = 1 << 2,

    /// <summary>After a conversion the kernel maps the range again at once; without it user space re-issues the command with <see cref="Refresh"/>.</summary>
    KernelRemap = 1 << 3,

    /// <summary>The range lies in an existing binding of the same file at the same place: map what its pages' state allows now.</summary>
    Refresh = 1 << 4,
}
