using Driver.Kernel.Psp;

namespace Driver.Kernel.Kvm;

/// <summary>
/// The host's RMP operations KVM's SNP code uses on guest memory (arch/x86/virt/svm/sev.c and the
/// SNP firmware's page commands), by system physical address. <see cref="SevRmpHelpers"/> runs
/// them on the CPU and the PSP; tests mock them.
/// </summary>
public interface ISnpRmpHelpers
{
    /// <summary>rmp_make_private: the page (or 2M run) at <paramref name="spa"/> becomes the guest's at <paramref name="gpa"/>, not validated. EFAULT when RMPUPDATE refuses.</summary>
    Errno RmpMakePrivate(ulong spa, ulong gpa, RmpPageLevel level, ushort asid);

    /// <summary>rmp_make_shared: the page (or 2M run) goes back to the hypervisor. EFAULT when RMPUPDATE refuses.</summary>
    Errno RmpMakeShared(ulong spa, RmpPageLevel level);

    /// <summary>
    /// One RMPUPDATE of a 2M guest entry over 4K entries, without the OVERLAP retry: EBUSY when the CPU
    /// answers OVERLAP because the 512 entries do not share one state (some validated, some not), which
    /// leaves them as they were; EFAULT for any other refusal.
    /// </summary>
    Errno TryRmpMakePrivate2M(ulong spa, ulong gpa, ushort asid);

    /// <summary>PSMASH of the 2M entry at <paramref name="spa"/>: EINVAL when it is not one 2M entry, EPERM, EBUSY.</summary>
    Errno Psmash(ulong spa);

    /// <summary>SNP_PAGE_UNSMASH (a firmware command, there is no such instruction): the 512 4K entries become one 2M entry, state kept. EIO when firmware refuses.</summary>
    Errno Unsmash(ulong spa);

    /// <summary>snp_leak_pages: the pages can no longer be given back and must never be freed.</summary>
    void LeakPages(ulong spa, int npages);
}
