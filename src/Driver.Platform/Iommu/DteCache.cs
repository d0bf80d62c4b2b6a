using Driver.Hw.AmdIommu;

namespace Driver.Platform.Iommu;

/// <summary>
/// The IOMMU's cache of device-table entries: direct mapped by DeviceID, so a
/// driver that rewrites a DTE without INVALIDATE_DEVTAB_ENTRY keeps getting
/// the old one until another device evicts it, as on hardware.
/// </summary>
internal sealed class DteCache
{
    private readonly Line[] _lines;
    private readonly int _mask;

    public DteCache(int entries)
    {
        if (entries <= 0 || (entries & (entries - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(entries), "a power of two");
        _lines = new Line[entries];
        _mask = entries - 1;
    }

    public bool TryGet(ushort deviceId, out AmdDte dte, out long epoch)
    {
        ref var line = ref _lines[deviceId & _mask];
        if (line.Present && line.DeviceId == deviceId)
        {
            dte = line.Dte;
            epoch = line.Epoch;
            return true;
        }
        dte = default;
        epoch = 0;
        return false;
    }

    public void Fill(ushort deviceId, AmdDte dte, long epoch) =>
        _lines[deviceId & _mask] = new Line { Present = true, DeviceId = deviceId, Dte = dte, Epoch = epoch };

    public void Invalidate(ushort deviceId)
    {
        ref var line = ref _lines[deviceId & _mask];
        if (line.DeviceId == deviceId)
            line.Present = false;
    }

    public void InvalidateAll() => Array.Clear(_lines);

    private struct Line
    {
        public bool Present;
        public ushort DeviceId;
        public AmdDte Dte;
        public long Epoch;
    }
}
