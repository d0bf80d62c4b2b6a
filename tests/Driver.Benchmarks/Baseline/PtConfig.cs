namespace Driver.Benchmarks.Baseline.IommuPt;

/// <summary>How a page table is set up; zero values mean the format's maximum.</summary>
public sealed record PtConfig
{
    /// <summary>Level of the first top table (AMDv1 mode - 1; x86 3 or 4; RISC-V 2, 3, 4 for Sv39/48/57).</summary>
    public int TopLevel { get; init; }

    /// <summary>IOVA bits the hardware translates; 0 for the format's maximum.</summary>
    public int VaBits { get; init; }

    /// <summary>Output address bits the hardware produces; 0 for the format's maximum.</summary>
    public int OaBits { get; init; }

    /// <summary>Add levels on top when a mapping needs them (formats that support it).</summary>
    public bool DynamicTop { get; init; }

    /// <summary>The IOVA space is a lower and a sign-extended upper half (formats that support it).</summary>
    public bool SignExtend { get; init; }

    /// <summary>Page sizes the domain may use (bit n = 2^n bytes); 0 for every size the format offers.</summary>
    public ulong PageSizes { get; init; }

    public IotlbFlushMode FlushMode { get; init; } = IotlbFlushMode.FlushRange;
}
