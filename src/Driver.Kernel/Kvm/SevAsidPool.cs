namespace Driver.Kernel.Kvm;

/// <summary>
/// The host's SEV-SNP ASIDs, 1 to <see cref="MaxAsid"/> (KVM's sev_asid_bitmap over the SNP/ES range below
/// min_sev_asid): sev_asid_new takes the lowest free one, EBUSY when none is; sev_asid_free gives it back.
/// A freed ASID may hold the last guest's cache lines: SNP_ACTIVATE asks for SNP_DF_FLUSH then, which the
/// PSP driver answers.
/// </summary>
public sealed class SevAsidPool
{
    private readonly bool[] _used;
    private readonly Lock _lock = new();

    public SevAsidPool(ushort maxAsid)
    {
        if (maxAsid == 0)
            throw new ArgumentOutOfRangeException(nameof(maxAsid), "at least one ASID");
        MaxAsid = maxAsid;
        _used = new bool[maxAsid + 1];
        _used[0] = true;
    }

    public ushort MaxAsid { get; }

    public int InUse
    {
        get
        {
            lock (_lock)
                return _used.Count(u => u) - 1;
        }
    }

    /// <summary>sev_asid_new: EBUSY when every ASID is taken.</summary>
    public Errno Alloc(out ushort asid)
    {
        lock (_lock)
        {
            int free = Array.IndexOf(_used, false);
            asid = free < 0 ? (ushort)0 : (ushort)free;
            if (free < 0)
                return Errno.EBUSY;
            _used[free] = true;
            return Errno.Ok;
        }
    }

    /// <summary>sev_asid_free.</summary>
    public void Free(ushort asid)
    {
        lock (_lock)
        {
            if (asid == 0 || asid > MaxAsid || !_used[asid])
                throw new InvalidOperationException($"BUG: ASID {asid} freed but not in use");
            _used[asid] = false;
        }
    }
}
