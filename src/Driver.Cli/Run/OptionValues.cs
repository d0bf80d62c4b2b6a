using System.Globalization;
using Driver.Platform.Iommu;
using Driver.Scenarios;
using Driver.Scenarios.Sweep;

namespace Driver.Cli.Run;

/// <summary>
/// The values of `driver run`'s options, read from their text; each bad value is a
/// <see cref="UsageException"/> naming the option and what it takes.
/// </summary>
internal static class OptionValues
{
    private static readonly (string Suffix, int Shift)[] SizeSuffixes = [("K", 10), ("M", 20), ("G", 30), ("T", 40)];

    private static readonly (string Suffix, ulong Ns)[] TimeUnits = [("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)];

    /// <summary>Bytes: a hwdef number, optionally with K, M, G or T (binary, KiB and KB alike): 4K, 2M, 64M, 1T, 0x20_0000.</summary>
    public static ulong Size(string text, string option)
    {
        foreach ((string suffix, int shift) in SizeSuffixes)
        {
            foreach (string tail in new[] { suffix + "iB", suffix + "B", suffix })
            {
                if (text.Length > tail.Length && text.EndsWith(tail, StringComparison.OrdinalIgnoreCase)
                    && Generators.Parsing.HwdefNumber.TryParse(text[..^tail.Length], out ulong count))
                {
                    return count <= (ulong.MaxValue >> shift) ? count << shift : throw NotASize(text, option);
                }
            }
        }

        return Generators.Parsing.HwdefNumber.TryParse(text, out ulong bytes) ? bytes : throw NotASize(text, option);
    }

    /// <summary>Simulated time: a number with ns, us, ms or s; a plain number is nanoseconds.</summary>
    public static ulong Duration(string text, string option)
    {
        foreach ((string suffix, ulong unit) in TimeUnits.OrderByDescending(u => u.Suffix.Length))
        {
            if (text.Length > suffix.Length && text.EndsWith(suffix, StringComparison.Ordinal)
                && Generators.Parsing.HwdefNumber.TryParse(text[..^suffix.Length], out ulong count))
            {
                return count <= ulong.MaxValue / unit ? count * unit : throw NotADuration(text, option);
            }
        }

        return Generators.Parsing.HwdefNumber.TryParse(text, out ulong ns) ? ns : throw NotADuration(text, option);
    }

    /// <summary>A rate: a decimal number above 0 (0.5, 4, 1e3).</summary>
    public static double Rate(string text, string option)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || !double.IsFinite(rate))
            throw new UsageException("'" + text + "' is not a number (" + option + "); use a decimal such as 4 or 0.5");
        return rate > 0 ? rate : throw new UsageException(option + " must be above 0, not " + text);
    }

    /// <summary>One strategy, a comma-separated list of them, or all, in table order.</summary>
    public static IReadOnlyList<string> Strategies(string text)
    {
        if (string.Equals(text, "all", StringComparison.OrdinalIgnoreCase))
            return StrategyNames.All;
        var chosen = new List<string>();
        foreach (string name in text.Split(','))
        {
            string strategy = StrategyNames.All.FirstOrDefault(s => string.Equals(s, name, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException("unknown strategy '" + name + "'; strategies: " + string.Join(", ", StrategyNames.All) + " or all");
            if (!chosen.Contains(strategy))
                chosen.Add(strategy);
        }

        return [.. StrategyNames.All.Where(chosen.Contains)];
    }

    /// <summary>AmdToday, DeriveSmallest (or amd-today, derive-smallest) or all.</summary>
    public static IReadOnlyList<RmpGranularity> Rules(string text)
    {
        string folded = text.Replace("-", string.Empty, StringComparison.Ordinal);
        if (string.Equals(folded, "all", StringComparison.OrdinalIgnoreCase))
            return [RmpGranularity.AmdToday, RmpGranularity.DeriveSmallest];
        foreach (RmpGranularity rule in Enum.GetValues<RmpGranularity>())
        {
            if (string.Equals(folded, rule.ToString(), StringComparison.OrdinalIgnoreCase))
                return [rule];
        }

        throw new UsageException("unknown rule '" + text + "'; rules: AmdToday (amd-today), DeriveSmallest (derive-smallest) or all");
    }

    public static DmaPattern Pattern(string text)
    {
        foreach (DmaPattern pattern in Enum.GetValues<DmaPattern>())
        {
            if (string.Equals(text, pattern.ToString(), StringComparison.OrdinalIgnoreCase))
                return pattern;
        }

        throw new UsageException("unknown pattern '" + text + "'; patterns: " + string.Join(", ", Enum.GetValues<DmaPattern>().Select(CommandLineText.Pattern)));
    }

    /// <summary>A whole number from <paramref name="min"/> to int.MaxValue.</summary>
    public static int Count(string text, string option, int min)
    {
        ulong value = NumberParser.Parse(text, option);
        return value >= (ulong)min && value <= int.MaxValue ? (int)value : throw new UsageException(option + " must be from " + min + " to " + int.MaxValue + ", not " + text);
    }

    /// <summary>
    /// <c>I/N</c> (I from 0 to N - 1), or <c>auto</c> / <c>auto/N</c>: I from SLURM_ARRAY_TASK_ID (less
    /// SLURM_ARRAY_TASK_MIN, so that an array may start at 1) with N from SLURM_ARRAY_TASK_COUNT, or
    /// from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), where N must be given.
    /// </summary>
    public static Shard Shard(string text, Func<string, string?> environment)
    {
        string[] parts = text.Split('/');
        if (parts.Length > 2 || (parts.Length == 1 && parts[0] != "auto"))
            throw new UsageException("'" + text + "' is not a shard; use I/N (I from 0 to N - 1), auto or auto/N");
        int? count = parts.Length == 2 ? Count(parts[1], "shard count", 1) : null;
        long index;
        if (parts[0] == "auto")
        {
            string? slurm = environment("SLURM_ARRAY_TASK_ID");
            string? kubernetes = environment("JOB_COMPLETION_INDEX");
            if (slurm != null)
            {
                index = EnvironmentNumber("SLURM_ARRAY_TASK_ID", slurm);
                string? min = environment("SLURM_ARRAY_TASK_MIN");
                if (min != null)
                    index -= EnvironmentNumber("SLURM_ARRAY_TASK_MIN", min);
                string? slurmCount = environment("SLURM_ARRAY_TASK_COUNT");
                count ??= slurmCount != null ? (int)Math.Min(EnvironmentNumber("SLURM_ARRAY_TASK_COUNT", slurmCount), int.MaxValue) : null;
                if (count == null)
                    throw new UsageException("--shard auto found SLURM_ARRAY_TASK_ID but not SLURM_ARRAY_TASK_COUNT; give the count as --shard auto/N");
            }
            else if (kubernetes != null)
            {
                index = EnvironmentNumber("JOB_COMPLETION_INDEX", kubernetes);
                if (count == null)
                    throw new UsageException("--shard auto under JOB_COMPLETION_INDEX needs the count: --shard auto/N with N the Job's completions");
            }
            else
            {
                throw new UsageException("--shard auto needs SLURM_ARRAY_TASK_ID (a Slurm array job) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)");
            }
        }
        else
        {
            index = (long)Math.Min(NumberParser.Parse(parts[0], "shard index"), long.MaxValue);
        }

        if (count < 1)
            throw new UsageException("the shard count must be at least 1, not " + count);
        if (index < 0 || index >= count)
            throw new UsageException("shard index " + index + " is out of range for " + count + " shards (0 to " + (count - 1) + ")");
        return new Shard((int)index, count!.Value);
    }

    private static long EnvironmentNumber(string name, string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : throw new UsageException(name + "='" + text + "' is not a whole number");

    private static UsageException NotASize(string text, string option) =>
        new("'" + text + "' is not a size (" + option + "); use bytes or a number with K, M, G or T, e.g. 4K, 2M, 64M, 1T");

    private static UsageException NotADuration(string text, string option) =>
        new("'" + text + "' is not a duration (" + option + "); use a number with ns, us, ms or s, e.g. 10ms");
}
