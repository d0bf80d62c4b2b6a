namespace Driver.Generators.Parsing;

/// <summary>Stable, unique hint names for generated files, one per hwdef file, from its project-relative path.</summary>
internal static class HintNames
{
    public static string For(string path)
    {
        string fileName = System.IO.Path.GetFileNameWithoutExtension(path);
        var safe = new System.Text.StringBuilder();
        foreach (char c in fileName)
        {
            safe.Append(char.IsLetterOrDigit(c) && c < 128 ? c : '_');
        }

        // FNV-1a over the project-relative path keeps two "pte.hwdef" files in different folders apart.
        uint hash = 2166136261;
        foreach (char c in path)
        {
            hash = unchecked((hash ^ c) * 16777619);
        }

        return safe + "." + hash.ToString("x8") + ".g.cs";
    }
}
