using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;

namespace Driver.Kernel.Iommufd;

/// <summary>
/// One open iommufd (Linux struct iommufd_ctx): its objects and the operations on them. The
/// methods here are the kernel's side of each command once its struct has been read
/// (the ioctl layer reads and answers the structs); device bind and attach are the entry
/// points VFIO calls (iommufd_device_bind / _attach / _replace / _detach).
/// </summary>
public sealed partial class IommufdContext
{
    private readonly IommufdSubsystem _sys;
    private readonly ILogger _logger;

    internal IommufdContext(IommufdSubsystem sys)
    {
        _sys = sys;
        _logger = sys.LoggerFactory.CreateLogger<IommufdContext>();
    }

    public ObjectTable Objects { get; } = new();

    public IommufdSubsystem Subsystem => _sys;

    public bool Closed { get; private set; }

    /// <summary>A new object in the table, not yet visible (iommufd_object_alloc): ENOMEM when allocation fails.</summary>
    private Errno Alloc(IommufdObject obj)
    {
        if (_sys.ShouldFail())
            return Errno.ENOMEM;
        return Objects.Reserve(obj);
    }

    /// <summary>IOMMU_DESTROY: ENOENT for an unknown id, EBUSY while the object is in use.</summary>
    public Errno Destroy(uint id)
    {
        var err = Objects.Remove(id, out var obj);
        if (err != Errno.Ok)
            return err;
        obj!.Destroy();
        return Errno.Ok;
    }

    /// <summary>
    /// Closing the file: devices are unbound and accesses destroyed (their drivers let go), then objects nothing uses
    /// are destroyed until none is left, so leaves go before what they reference.
    /// </summary>
    public void Close()
    {
        if (Closed)
            return;
        foreach (var device in Objects.Objects.OfType<IommufdDevice>().ToArray())
            DeviceUnbind(device.Id);
        // In-kernel users go with the file too: each is told to let go of everything first.
        foreach (var access in Objects.Objects.OfType<IommufdAccess>().ToArray())
        {
            if (access.Ioas is not null)
                access.Ops.Unmap(access, 0, ulong.MaxValue);
            AccessDestroy(access);
        }
        while (Objects.Count != 0)
        {
            var leaf = Objects.Objects.FirstOrDefault(o => o.Users == 0)
                ?? throw new InvalidOperationException("BUG: every object left is used by another");
            if (!leaf.Finalized)
                throw new InvalidOperationException("BUG: an object was left reserved");
            Objects.Remove(leaf.Id, out _);
            leaf.Destroy();
        }
        Closed = true;
    }

    /// <summary>IOMMU_IOAS_ALLOC: a new, empty IOAS.</summary>
    public Errno IoasAlloc(out uint id)
    {
        id = 0;
        var ioas = new IommufdIoas(new IoPageTable(_sys.Core, _sys.ShouldFail));
        var err = Alloc(ioas);
        if (err != Errno.Ok)
            return err;
        Objects.Finalize(ioas);
        id = ioas.Id;
        return Errno.Ok;
    }

    public Errno GetIoas(uint id, out IommufdIoas? ioas) => Objects.Get(id, IommufdObjectType.Ioas, out ioas);

    internal static IommuProt ProtOf(IoasMapFlags flags) =>
        ((flags & IoasMapFlags.Readable) != 0 ? IommuProt.Read : 0) | ((flags & IoasMapFlags.Writeable) != 0 ? IommuProt.Write : 0);

    /// <summary>
    /// iopt_map_user_pages / iopt_map_file_pages once the command is checked: pages over
    /// <paramref name="source"/> from <paramref name="addr"/> (a user VA or a file offset; it also
    /// guides the automatic IOVA's alignment). EINVAL for length 0, EOVERFLOW when addr+length
    /// wraps, ENOMEM when allocation fails, then <see cref="IoPageTable.MapPages"/>'s errno.
    /// </summary>
    public Errno IoasMapPages(IommufdIoas ioas, IPageProvider source, ulong addr, ulong length, bool writableSource,
        IoasMapFlags flags, ref ulong iova)
    {
        ArgumentNullException.ThrowIfNull(ioas);
        ArgumentNullException.ThrowIfNull(source);
        if (length == 0)
            return Errno.EINVAL;
        if (addr + length < addr)
            return Errno.EOVERFLOW;
        ulong first = addr & ~(IoPageTable.PageSize - 1);
        ulong end = addr + length;
        ulong endPage = (end + (IoPageTable.PageSize - 1)) & ~(IoPageTable.PageSize - 1);
        if (endPage < end || (endPage - first) / IoPageTable.PageSize > int.MaxValue)
            return Errno.EOVERFLOW;
        bool write = (flags & IoasMapFlags.Writeable) != 0;
        if (write && !writableSource)
            return Errno.EPERM;
        if (_sys.ShouldFail())
            return Errno.ENOMEM;
        var pages = new IoptPages(source, first, (int)((endPage - first) / IoPageTable.PageSize), write, PinBatch);
        var slices = new List<PagesSlice> { new(pages, addr - first, length) };
        var err = ioas.Iopt.MapPages(slices, length, ref iova, ProtOf(flags), allocIova: (flags & IoasMapFlags.FixedIova) == 0);
        if (err != Errno.Ok)
        {
            pages.Put();
            Log.MapFailed(_logger, ioas.Id, iova, length, err);
        }
        return err;
    }

    /// <summary>The most pages one pin call takes (Linux's temporary memory limit, for the selftest's limited variant).</summary>
    public int PinBatch { get; set; } = int.MaxValue;

    /// <summary>
    /// IOMMU_IOAS_UNMAP: iova 0 with length u64 max unmaps everything (Ok when empty);
    /// otherwise EOVERFLOW from ULONG_MAX on, the table's errno, and ENOENT when nothing was unmapped.
    /// </summary>
    public Errno IoasUnmap(uint ioasId, ulong iova, ulong length, out ulong unmapped)
    {
        unmapped = 0;
        var err = GetIoas(ioasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        if (iova == 0 && length == ulong.MaxValue)
            return ioas!.Iopt.UnmapAll(out unmapped);
        if (iova == ulong.MaxValue || length == ulong.MaxValue)
            return Errno.EOVERFLOW;
        err = ioas!.Iopt.Unmap(iova, length, out unmapped);
        if (err == Errno.EDEADLOCK)
            Log.UnmapDeadlock(_logger, iova, IoPageTable.MaxUnmapTries);
        if (err != Errno.Ok)
            return err;
        return unmapped == 0 ? Errno.ENOENT : Errno.Ok;
    }

    /// <summary>
    /// IOMMU_IOAS_COPY once its flags are checked: the source range's pages (ENOENT for a gap)
    /// mapped into the destination IOAS, sharing the pins.
    /// </summary>
    public Errno IoasCopy(uint dstIoasId, uint srcIoasId, ulong srcIova, ulong length, IoasMapFlags flags, ref ulong dstIova)
    {
        var err = GetIoas(srcIoasId, out var src);
        if (err != Errno.Ok)
            return err;
        var slices = new List<PagesSlice>();
        err = src!.Iopt.GetPages(srcIova, length, slices);
        if (err != Errno.Ok)
            return err;
        err = GetIoas(dstIoasId, out var dst);
        if (err == Errno.Ok)
        {
            foreach (var _ in slices)
            {
                if (_sys.ShouldFail())
                {
                    err = Errno.ENOMEM;
                    break;
                }
            }
        }
        if (err == Errno.Ok)
            err = dst!.Iopt.MapPages(slices, length, ref dstIova, ProtOf(flags), allocIova: (flags & IoasMapFlags.FixedIova) == 0);
        if (err != Errno.Ok)
        {
            foreach (var slice in slices)
                slice.Pages.Put();
        }
        return err;
    }

    /// <summary>IOMMU_IOAS_IOVA_RANGES: the usable ranges and the alignment.</summary>
    public Errno IoasIovaRanges(uint ioasId, out List<IovaSpan> ranges, out ulong alignment)
    {
        ranges = [];
        alignment = 0;
        var err = GetIoas(ioasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        ranges = ioas!.Iopt.UsableRanges();
        alignment = ioas.Iopt.IovaAlignment;
        return Errno.Ok;
    }

    /// <summary>Reads range <paramref name="index"/> of an ALLOW_IOVAS list (from user memory: EFAULT).</summary>
    public delegate Errno RangeReader(uint index, out ulong start, out ulong last);

    /// <summary>
    /// IOMMU_IOAS_ALLOW_IOVAS: ENOENT for a bad IOAS; each range read in turn, EINVAL for one
    /// with start >= last or one overlapping an earlier one; EADDRINUSE over a reserved range.
    /// An empty list allows everything again. On failure the old list stays.
    /// </summary>
    public Errno IoasAllowIovas(uint ioasId, uint count, RangeReader read)
    {
        ArgumentNullException.ThrowIfNull(read);
        var err = GetIoas(ioasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        var loaded = new IntervalSet<object?>();
        for (uint i = 0; i < count; i++)
        {
            err = read(i, out ulong start, out ulong last);
            if (err != Errno.Ok)
                return err;
            if (start >= last || loaded.First(start, last) is not null)
                return Errno.EINVAL;
            if (_sys.ShouldFail())
                return Errno.ENOMEM;
            loaded.Add(start, last, null);
        }
        return ioas!.Iopt.SetAllowIovas([.. loaded.Nodes.Select(n => (n.Start, n.Last))]);
    }

    /// <summary>IOMMU_IOAS_ALLOW_IOVAS from a list in kernel memory.</summary>
    public Errno IoasAllowIovas(uint ioasId, IReadOnlyList<(ulong Start, ulong Last)> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        return IoasAllowIovas(ioasId, (uint)ranges.Count, (uint i, out ulong start, out ulong last) =>
        {
            (start, last) = ranges[(int)i];
            return Errno.Ok;
        });
    }

    /// <summary>IOMMU_OPTION_HUGE_PAGES on an IOAS: get (1 when large pages are used) or set 0/1 (EINVAL otherwise).</summary>
    public Errno IoasOptionHugePages(uint ioasId, bool set, ref ulong value)
    {
        var err = GetIoas(ioasId, out var ioas);
        if (err != Errno.Ok)
            return err;
        if (!set)
        {
            value = ioas!.Iopt.DisableLargePages ? 0UL : 1UL;
            return Errno.Ok;
        }
        if (value == 0)
            return ioas!.Iopt.SetDisableLargePages();
        if (value == 1)
        {
            ioas!.Iopt.EnableLargePages();
            return Errno.Ok;
        }
        return Errno.EINVAL;
    }

    /// <summary>Whether pinned memory is charged to the mm (1) or the user (0): IOMMU_OPTION_RLIMIT_MODE.</summary>
    public ulong RlimitMode { get; private set; }

    /// <summary>IOMMU_OPTION_RLIMIT_MODE set: EBUSY once the context has objects; EINVAL for a value other than 0 or 1.</summary>
    public Errno SetRlimitMode(ulong value)
    {
        if (Objects.Count != 0)
            return Errno.EBUSY;
        if (value > 1)
            return Errno.EINVAL;
        RlimitMode = value;
        return Errno.Ok;
    }

    /// <summary>
    /// HWPT_GET_DIRTY_BITMAP's kernel half: ENOENT for a bad id, then the table's range checks, then
    /// EOPNOTSUPP for a HWPT allocated without dirty tracking (its domain has no dirty ops), then the
    /// domain's read-and-clear.
    /// </summary>
    public Errno HwptGetDirtyBitmap(uint hwptId, ulong iova, ulong length, ulong pageSize, DirtyFlags flags, out IovaBitmap? bitmap)
    {
        bitmap = null;
        var err = Objects.Get<IommufdHwptPaging>(hwptId, IommufdObjectType.HwptPaging, out var hwpt);
        if (err != Errno.Ok)
            return err;
        IovaBitmap? made = null;
        err = hwpt!.Ioas.Iopt.ReadAndClearDirty(hwpt.Domain, hwpt.EnforceDirty, iova, length, pageSize, flags,
            () => made = new IovaBitmap(iova, length, System.Numerics.BitOperations.TrailingZeroCount(pageSize)));
        bitmap = made;
        return err;
    }

    /// <summary>
    /// IOMMU_HWPT_SET_DIRTY_TRACKING: ENOENT for a bad id; EOPNOTSUPP for a HWPT allocated without dirty
    /// tracking (iopt_set_dirty_tracking with no dirty ops); the driver's errno.
    /// </summary>
    public Errno HwptSetDirtyTracking(uint hwptId, bool enable)
    {
        var err = Objects.Get<IommufdHwptPaging>(hwptId, IommufdObjectType.HwptPaging, out var hwpt);
        if (err != Errno.Ok)
            return err;
        if (!hwpt!.EnforceDirty)
            return Errno.EOPNOTSUPP;
        return hwpt.Ioas.Iopt.SetDirtyTracking(hwpt.Domain, enable);
    }
}
