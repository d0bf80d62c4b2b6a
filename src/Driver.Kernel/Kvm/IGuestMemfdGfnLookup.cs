namespace Driver.Kernel.Kvm;

/// <summary>Where a guest_memfd page appears in guest-physical memory: the memslot bound to it gives its guest frame.</summary>
public interface IGuestMemfdGfnLookup
{
    /// <summary>The guest frame of page <paramref name="index"/> of <paramref name="file"/>; false when no memslot binds it.</summary>
    bool TryGetGfn(GuestMemfd file, ulong index, out ulong gfn);
}
