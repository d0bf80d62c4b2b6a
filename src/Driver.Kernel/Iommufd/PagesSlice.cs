namespace Driver.Kernel.Iommufd;

/// <summary>
/// A slice of pages to map as one area (Linux struct iopt_pages_list): <paramref name="Length"/>
/// bytes of <paramref name="Pages"/> from byte <paramref name="StartByte"/> on. The slice holds a
/// reference on the pages until the map hands it to its area.
/// </summary>
public sealed record PagesSlice(IoptPages Pages, ulong StartByte, ulong Length);
