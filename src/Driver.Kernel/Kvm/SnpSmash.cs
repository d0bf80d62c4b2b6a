namespace Driver.Kernel.Kvm;

/// <summary>
/// A 2M RMP entry of a guest's memory about to be smashed (PSMASH): its head frame and, when known, the
/// guest_memfd page of that frame, so that whoever maps the run at 2M (the VM's stage 2, an IOMMU) can cut first.
/// </summary>
public readonly record struct SnpSmash(ulong HeadPfn, GuestMemfd? File, ulong FirstIndex);
