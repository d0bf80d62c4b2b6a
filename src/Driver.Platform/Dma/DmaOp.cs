namespace Driver.Platform.Dma;

/// <summary>One DMA transaction a device issues: <paramref name="Size"/> bytes at <paramref name="Iova"/>.</summary>
public readonly record struct DmaOp(ulong Iova, int Size, bool Write);
