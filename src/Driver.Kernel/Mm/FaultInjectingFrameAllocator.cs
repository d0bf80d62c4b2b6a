namespace Driver.Kernel.Mm;

/// <summary>
/// A frame allocator whose every allocation is a <see cref="FailNth"/> site: hand it to the
/// code that allocates kernel frames (page-table pages, rings) so that a fail_nth run reaches
/// those sites too.
/// </summary>
public sealed class FaultInjectingFrameAllocator : IFrameAllocator
{
    private readonly IFrameAllocator _inner;
    private readonly FailNth _failNth;

    public FaultInjectingFrameAllocator(IFrameAllocator inner, FailNth failNth)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(failNth);
        _inner = inner;
        _failNth = failNth;
    }

    public long FramesInUse => _inner.FramesInUse;

    public bool TryAlloc(out ulong pa)
    {
        if (_failNth.ShouldFail())
        {
            pa = 0;
            return false;
        }
        return _inner.TryAlloc(out pa);
    }

    public bool TryAllocContiguous(int frames, out ulong pa)
    {
        if (_failNth.ShouldFail())
        {
            pa = 0;
            return false;
        }
        return _inner.TryAllocContiguous(frames, out pa);
    }

    public bool TryAllocAligned(int frames, out ulong pa)
    {
        if (_failNth.ShouldFail())
        {
            pa = 0;
            return false;
        }
        return _inner.TryAllocAligned(frames, out pa);
    }

    public void Free(ulong pa) => _inner.Free(pa);
}
