namespace Driver.Kernel.Mm;

/// <summary>The kernel's page geometry.</summary>
public static class Page
{
    public const int Shift = 12;
    public const ulong Size = 1UL << Shift;
    public const ulong Mask = Size - 1;
}
