using Driver.Hw.Interfaces;
using Driver.Kernel.Mm;

namespace Driver.Kernel.Kvm;

/// <summary>Stage-2 faults: kvm_tdp_page_fault over guest_memfd, and SNP's RMP faults.</summary>
public sealed partial class KvmVm
{
    private const int HugeOrder = 9;
    private const ulong PagesPer2M = 512;

    /// <summary>
    /// kvm_tdp_page_fault for a guest_memfd-backed <paramref name="gpa"/> accessed as private
    /// (<paramref name="isPrivate"/>, the guest's C-bit) or shared: get_pfn gives the frame and its folio's order,
    /// prepared for the guest (SNP: made private in the RMP at that size); the order is capped by the RMP entry, by
    /// the memslot (the 2M range must lie in it at the same alignment as in the file) and at 4K unless the whole 2M
    /// has one attribute; then the stage-2 leaf is made at that order. <paramref name="order"/> says which.
    /// EFAULT outside every memslot, or when the access's state is not the page's (KVM_EXIT_MEMORY_FAULT); EAGAIN
    /// while an invalidation of the range is in progress or ended during the fault (Linux returns to the guest,
    /// which faults again); ENODEV without a stage-2 table; get_pfn's and the architecture's errnos.
    /// </summary>
    public Errno FaultIn(ulong gpa, bool isPrivate, out int order)
    {
        order = 0;
        if (Stage2 is not { } stage2)
            return Errno.ENODEV;
        ulong gfn = gpa >> Page.Shift;
        KvmMemorySlot? slot = SlotOf(gfn);
        if (slot?.Binding is not { } binding)
            return Errno.EFAULT;
        if (stage2.TryLookup(gfn, out _, out int mapped, out bool mappedPrivate) && mappedPrivate == isPrivate)
        {
            order = mapped;
            return Errno.Ok;
        }
        long sequence = slot.InvalidateSequence;
        if (slot.InvalidatingUnsafe(gfn))
        {
            Log.FaultRetry(_logger, gpa);
            return Errno.EAGAIN;
        }
        ulong index = slot.IndexOf(gfn);
        if (binding.File.IsPrivate(index) != isPrivate)
        {
            Log.MemoryFaultExit(_logger, gpa, isPrivate ? "private" : "shared");
            return Errno.EFAULT;
        }
        Errno e = binding.File.GetPfnForFault(binding, index, gfn, isPrivate, out ulong pfn, out int maxOrder);
        if (e != Errno.Ok)
            return e;
        int level = maxOrder >= HugeOrder && HugeFits(slot, gfn, index) ? HugeOrder : 0;
        ulong mask = level == HugeOrder ? PagesPer2M - 1 : 0;
        e = stage2.Map(gfn & ~mask, pfn & ~mask, level, isPrivate, slot, sequence);
        if (e == Errno.EAGAIN)
            Log.FaultRetry(_logger, gpa);
        if (e != Errno.Ok)
            return e;
        order = level;
        Log.FaultedIn(_logger, gpa, pfn, level, isPrivate);
        return Errno.Ok;
    }

    // kvm_mmu_hugepage_adjust's memslot rule: the 2M guest range lies in the slot, aligned as the file's 2M is.
    private static bool HugeFits(KvmMemorySlot slot, ulong gfn, ulong index)
    {
        ulong head = gfn & ~(PagesPer2M - 1);
        return (gfn & (PagesPer2M - 1)) == (index & (PagesPer2M - 1)) && head >= slot.BaseGfn && head + PagesPer2M <= slot.BaseGfn + slot.Pages;
    }

    /// <summary>
    /// sev_handle_rmp_fault: the guest touched <paramref name="gpa"/> at 4K inside a 2M RMP entry (a 4K
    /// PVALIDATE): the entry is smashed through guest_memfd (<see cref="GuestMemfd.SmashHuge"/>), which has
    /// the stage-2 leaf and the IOMMU's 2M pages of the run cut first. Ok when there is nothing to smash;
    /// EFAULT outside an SNP VM's bound memslots or where stage 2 maps nothing; else the smash's errno.
    /// </summary>
    internal Errno HandleRmpFault(ulong gpa)
    {
        ulong gfn = gpa >> Page.Shift;
        if (Sev is null || Stage2 is not { } stage2 || SlotOf(gfn) is not { Binding: { } binding } slot)
            return Errno.EFAULT;
        if (!stage2.TryLookup(gfn, out _, out _, out _))
            return Errno.EFAULT;
        return binding.File.SmashHuge(slot.IndexOf(gfn));
    }

    /// <summary>
    /// KVM_CREATE_VCPU: a vCPU running on <paramref name="cpu"/> (SNP: the guest's PVALIDATE). EINVAL for an SNP VM
    /// when the CPU does not run with the VM's ASID; EIO after destroy.
    /// </summary>
    public Errno CreateVcpu(ISnpGuestCpu? cpu, out KvmVcpu? vcpu)
    {
        vcpu = null;
        lock (_lock)
        {
            if (_destroyed)
                return Errno.EIO;
            if (Sev is { } sev && cpu?.Asid != sev.Asid)
                return Errno.EINVAL;
            vcpu = new KvmVcpu(this, _vcpus.Count, cpu, _options.LoggerFactory);
            _vcpus.Add(vcpu);
            return Errno.Ok;
        }
    }
}
