namespace Driver.Kernel.Kvm;

/// <summary>
/// A range of a guest_memfd bound to one memslot (kvm_gmem_bind): the slot takes PFNs through it
/// and is told of every invalidation of the range. Bindings of one file never overlap.
/// </summary>
public sealed class GuestMemfdBinding
{
    internal GuestMemfdBinding(GuestMemfd file, IGuestMemfdNotifier slot, ulong offset, ulong length)
    {
        File = file;
        Slot = slot;
        Offset = offset;
        Length = length;
    }

    public GuestMemfd File { get; }

    public IGuestMemfdNotifier Slot { get; }

    /// <summary>Byte offset of the range in the file.</summary>
    public ulong Offset { get; }

    public ulong Length { get; }

    /// <summary>True until <see cref="Unbind"/> or the file's release.</summary>
    public bool Bound { get; internal set; } = true;

    /// <summary>
    /// kvm_gmem_get_pfn: the frame of file page <paramref name="index"/> and the largest order it may be
    /// mapped at. EFAULT when the file is gone, EIO when the page is not in this binding, EHWPOISON
    /// for a poisoned page, ENOMEM; a hole is allocated.
    /// </summary>
    public Errno GetPfn(ulong index, out ulong pfn, out int maxOrder) => File.GetPfn(this, index, out pfn, out maxOrder);

    /// <summary>kvm_gmem_unbind: the slot goes away.</summary>
    public void Unbind() => File.Unbind(this);
}
