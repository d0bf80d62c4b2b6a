namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// Protection-domain ids (the DTE's 16-bit DomainID, the tag of IOTLB entries and of
/// INVALIDATE_IOMMU_PAGES). Id 0 is never handed out, as in Linux's pdom_ids; a freed id
/// is reused only after every other id, so a stale IOTLB tag is unlikely to alias.
/// </summary>
public sealed class DomainIdAllocator
{
    public const int MaxIds = 1 << 16;

    private readonly bool[] _used = new bool[MaxIds];
    private readonly Lock _lock = new();
    private int _next = 1;

    public int InUse { get; private set; }

    /// <summary>ENOSPC when all 65535 ids are in use.</summary>
    public Errno Alloc(out ushort id)
    {
        lock (_lock)
        {
            for (int tried = 0; tried < MaxIds - 1; tried++)
            {
                int candidate = _next;
                _next = _next == MaxIds - 1 ? 1 : _next + 1;
                if (_used[candidate])
                    continue;
                _used[candidate] = true;
                InUse++;
                id = (ushort)candidate;
                return Errno.Ok;
            }
        }
        id = 0;
        return Errno.ENOSPC;
    }

    public void Free(ushort id)
    {
        lock (_lock)
        {
            if (id == 0 || !_used[id])
                throw new InvalidOperationException($"BUG: freeing domain id {id}, which is not allocated");
            _used[id] = false;
            InUse--;
        }
    }
}
