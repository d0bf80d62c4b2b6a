namespace Driver.Kernel.Kvm;

/// <summary>
/// The architecture's part of a conversion, where the SNP RMP change goes (PSMASH of a 2M entry,
/// RMPUPDATE to shared at 4K, private again). Called from execute_work with the invalidate lock
/// held; each call has an inverse used for rollback. A VM without protected memory has none.
/// </summary>
public interface IGuestMemfdArch
{
    /// <summary>A 2M folio is about to become 512 pages (SNP: PSMASH its RMP entry).</summary>
    Errno SplitFolio(ulong firstPfn, int order);

    /// <summary>The 512 pages of a former folio become one again (SNP: a 2M RMP entry), or the inverse of a split.</summary>
    Errno MergeFolio(ulong firstPfn, int order);

    /// <summary>A private page becomes shared (SNP: RMPUPDATE to hypervisor-owned at 4K).</summary>
    Errno MakeShared(ulong pfn);

    /// <summary>A shared page becomes private again (SNP: RMPUPDATE to guest-owned), or the inverse of <see cref="MakeShared"/>.</summary>
    Errno MakePrivate(ulong pfn);
}
