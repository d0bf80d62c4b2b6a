namespace Driver.Generators.Parsing;

/// <summary>The diagnostic ids of the hwdef language (docs/hwdef-format.md, "Diagnostics").</summary>
internal static class DiagnosticIds
{
    public const string Syntax = "HWDEF001";
    public const string Overlap = "HWDEF002";
    public const string BitOutside = "HWDEF003";
    public const string UnknownType = "HWDEF004";
    public const string Duplicate = "HWDEF005";
    public const string ValueTooWide = "HWDEF006";
    public const string TypeMismatch = "HWDEF007";
    public const string Block = "HWDEF008";
    public const string Uncovered = "HWDEF009";
    public const string Structure = "HWDEF010";
}
