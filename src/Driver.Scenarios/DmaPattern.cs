namespace Driver.Scenarios;

/// <summary>Where the trusted device's DMA goes inside the guest's private memory.</summary>
public enum DmaPattern
{
    /// <summary>Consecutive 4 KiB blocks, wrapping at the end of the DMA window.</summary>
    Sequential,

    /// <summary>Uniformly random 4 KiB blocks in the DMA window.</summary>
    Random,

    /// <summary>Most requests into the 2 MiB pages the guest is converting; the worst case for the debate.</summary>
    Hotspot,
}
