namespace Driver.Kernel.Psp;

/// <summary>The page size of one RMP operation (Linux PG_LEVEL_4K, PG_LEVEL_2M).</summary>
public enum RmpPageLevel
{
    Level4K,
    Level2M,
}
