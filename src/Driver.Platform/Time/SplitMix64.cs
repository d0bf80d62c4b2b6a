namespace Driver.Platform.Time;

/// <summary>
/// A tiny seeded generator (SplitMix64). Written out rather than System.Random
/// so that a seed replays the same run on every .NET version.
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A value in [0, <paramref name="bound"/>).</summary>
    public int NextInt(int bound) => bound <= 0
        ? throw new ArgumentOutOfRangeException(nameof(bound))
        : (int)(Next() % (ulong)bound);

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => (Next() >> 11) * (1.0 / (1UL << 53)) < p;
}
