using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// The IOMMU's MMIO window as the driver reaches it (readq/writeq at iommu->mmio_base).
/// A bus error reads as all ones, as a master abort does; the status is kept so that
/// probe can tell a missing device from a present one.
/// </summary>
public sealed class AmdIommuRegisters
{
    private readonly IMmio _mmio;

    public AmdIommuRegisters(IMmio mmio, ulong mmioBase)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        _mmio = mmio;
        MmioBase = mmioBase;
    }

    public ulong MmioBase { get; }

    /// <summary>The status of the last access that failed, or Ok.</summary>
    public MmioStatus LastError { get; private set; } = MmioStatus.Ok;

    public ulong Read(ulong offset)
    {
        var status = _mmio.Read64(MmioBase + offset, out ulong value);
        if (status != MmioStatus.Ok)
            LastError = status;
        return value;
    }

    public void Write(ulong offset, ulong value)
    {
        var status = _mmio.Write64(MmioBase + offset, value);
        if (status != MmioStatus.Ok)
            LastError = status;
    }

    public ControlRegister Control
    {
        get => new(Read(AmdIommuMmio.ControlOffset));
        set => Write(AmdIommuMmio.ControlOffset, value.Raw);
    }

    public StatusRegister Status => new(Read(AmdIommuMmio.StatusOffset));

    /// <summary>Writes 1s to the w1c status bits given (the rest are written as 0 and keep their value).</summary>
    public void ClearStatus(StatusRegister bits) => Write(AmdIommuMmio.StatusOffset, bits.Raw);

    public ExtendedFeatureRegister ExtendedFeatures => new(Read(AmdIommuMmio.ExtendedFeatureOffset));

    public ExtendedFeature2Register ExtendedFeatures2 => new(Read(AmdIommuMmio.ExtendedFeature2Offset));

    /// <summary>Reads a head or tail register as an entry index.</summary>
    public uint ReadRingIndex(ulong offset) => new RingPointerRegister(Read(offset)).Offset;

    public void WriteRingIndex(ulong offset, uint index) =>
        Write(offset, new RingPointerRegister(0).WithOffset((ushort)index).Raw);
}
