using System.Collections.Generic;

namespace Driver.Generators.Parsing;

/// <summary>
/// A hwdef's path relative to its project directory, '/'-separated. Generated names are derived
/// from it, so that the output is the same wherever the checkout lives.
/// </summary>
internal static class ProjectPath
{
    /// <summary>The MSBuild property (visible to analyzers by default in the .NET SDK) that names the project directory.</summary>
    public const string ProjectDirOption = "build_property.ProjectDir";

    /// <summary>The path relative to <paramref name="projectDir"/>; the path as given when there is no project directory or no common root.</summary>
    public static string Relative(string path, string? projectDir)
    {
        if (projectDir == null || projectDir.Length == 0)
        {
            return path;
        }

        List<string> file = Segments(path);
        List<string> directory = Segments(projectDir);
        int common = 0;
        while (common < directory.Count && common < file.Count - 1 && directory[common] == file[common])
        {
            common++;
        }

        // Nothing shared (another drive, or one path not rooted): no relative path exists.
        if (common == 0)
        {
            return path.Replace('\\', '/');
        }

        var relative = new List<string>();
        for (int i = common; i < directory.Count; i++)
        {
            relative.Add("..");
        }

        relative.AddRange(file.GetRange(common, file.Count - common));
        return string.Join("/", relative);
    }

    /// <summary>The path's segments with '.' dropped and '..' applied; the root (empty or a drive) is the first.</summary>
    private static List<string> Segments(string path)
    {
        var segments = new List<string>();
        string[] parts = path.Replace('\\', '/').Split('/');
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            if (i > 0 && (part.Length == 0 || part == "."))
            {
                continue;
            }

            if (part == ".." && segments.Count > 1 && segments[segments.Count - 1] != "..")
            {
                segments.RemoveAt(segments.Count - 1);
                continue;
            }

            segments.Add(part);
        }

        return segments;
    }
}
