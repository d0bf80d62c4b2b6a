using Hwdef.Runtime;

namespace Driver.Cli;

/// <summary>Finds generated layouts by name in the catalog the hwdef generator builds for Driver.Hw.</summary>
internal static class LayoutCatalog
{
    public static IReadOnlyList<HwdefLayoutInfo> All => HwdefCatalog.Layouts;

    /// <summary>By simple name (AmdV1Pte) or full name (Driver.Hw.AmdIommu.AmdV1Pte); a unique case-insensitive match is accepted.</summary>
    public static HwdefLayoutInfo Find(string name)
    {
        HwdefLayoutInfo[] exact = All.Where(l => l.Name == name || l.FullName == name).ToArray();
        if (exact.Length == 1)
        {
            return exact[0];
        }

        if (exact.Length > 1)
        {
            throw new UsageException("layout '" + name + "' is ambiguous: " + string.Join(", ", exact.Select(l => l.FullName)) + "; give the full name");
        }

        HwdefLayoutInfo[] folded = All.Where(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase)).ToArray();
        if (folded.Length == 1)
        {
            return folded[0];
        }

        throw new UsageException("unknown layout '" + name + "'; `driver hwdefs` lists them");
    }
}
