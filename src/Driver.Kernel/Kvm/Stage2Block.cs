namespace Driver.Kernel.Kvm;

/// <summary>
/// The leaves of one 2M-aligned guest range in a VM's stage-2 table, as the VM made them: one 2M
/// leaf, or 4K leaves with which of them map private memory. <see cref="HasTable"/> says a 4K table
/// sits under the range's level-1 entry (it stays when its last leaf goes).
/// </summary>
internal sealed class Stage2Block
{
    private ulong[]? _mapped;
    private ulong[]? _private;

    public bool Huge { get; private set; }

    public bool HugePrivate { get; private set; }

    public bool HasTable { get; private set; }

    public int SmallCount { get; private set; }

    public bool Empty => !Huge && SmallCount == 0;

    public bool IsMapped(int page) => Huge || (_mapped is { } m && (m[page >> 6] & (1UL << (page & 63))) != 0);

    public bool IsPrivate(int page) => Huge ? HugePrivate : _private is { } p && (p[page >> 6] & (1UL << (page & 63))) != 0;

    public void SetHuge(bool isPrivate)
    {
        Huge = true;
        HugePrivate = isPrivate;
        HasTable = false;
        _mapped = null;
        _private = null;
        SmallCount = 0;
    }

    public void ClearHuge() => Huge = false;

    /// <summary>The 2M leaf became 512 4K leaves of the same state (Cut).</summary>
    public void SplitHuge()
    {
        bool isPrivate = HugePrivate;
        Huge = false;
        HasTable = true;
        _mapped = new ulong[SnpGuestMemfdArch.PagesPer2M / 64];
        _private = new ulong[SnpGuestMemfdArch.PagesPer2M / 64];
        Array.Fill(_mapped, ulong.MaxValue);
        Array.Fill(_private, isPrivate ? ulong.MaxValue : 0UL);
        SmallCount = SnpGuestMemfdArch.PagesPer2M;
    }

    public void SetSmall(int page, bool isPrivate)
    {
        _mapped ??= new ulong[SnpGuestMemfdArch.PagesPer2M / 64];
        _private ??= new ulong[SnpGuestMemfdArch.PagesPer2M / 64];
        HasTable = true;
        ulong bit = 1UL << (page & 63);
        if ((_mapped[page >> 6] & bit) == 0)
            SmallCount++;
        _mapped[page >> 6] |= bit;
        if (isPrivate)
            _private[page >> 6] |= bit;
        else
            _private[page >> 6] &= ~bit;
    }

    public void ClearSmall(int page)
    {
        ulong bit = 1UL << (page & 63);
        if (_mapped is null || (_mapped[page >> 6] & bit) == 0)
            return;
        _mapped[page >> 6] &= ~bit;
        _private![page >> 6] &= ~bit;
        SmallCount--;
    }
}
