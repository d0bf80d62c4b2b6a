namespace Driver.Platform.Bus;

/// <summary>A device's register window on the MMIO bus. Offsets are relative to the window; size is 4 or 8.</summary>
public interface IMmioDevice
{
    ulong Read(ulong offset, int size);

    void Write(ulong offset, int size, ulong value);
}
