using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A vCPU, for what guest memory needs of it: its stage-2 faults, the guest's page-state change requests
/// (GHCB PSC, KVM_HC_MAP_GPA_RANGE) that exit to the VMM, and the guest's PVALIDATE with KVM's handling of
/// the RMP faults it takes. Synchronous: the guest actor asks, the VMM actor converts and completes, the
/// guest reads the result. One request may be pending at a time, as a vCPU that exited does not run.
/// </summary>
public sealed class KvmVcpu
{
    private const ulong Size2M = 1UL << 21;
    private const int FaultRetries = 16;

    private readonly ISnpGuestCpu? _cpu;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private KvmExit? _pending;

    internal KvmVcpu(KvmVm vm, int id, ISnpGuestCpu? cpu, ILoggerFactory? loggerFactory)
    {
        Vm = vm;
        Id = id;
        _cpu = cpu;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.KvmVcpu");
    }

    public KvmVm Vm { get; }

    public int Id { get; }

    /// <summary>The exit the VMM has not completed yet, if any.</summary>
    public KvmExit? PendingExit
    {
        get
        {
            lock (_lock)
                return _pending;
        }
    }

    /// <summary>What the guest saw for its last page-state change: Ok, or the errno the VMM or KVM gave.</summary>
    public Errno LastPageStateChange { get; private set; } = Errno.Ok;

    /// <summary>A stage-2 fault of this vCPU (<see cref="KvmVm.FaultIn"/>).</summary>
    public Errno FaultIn(ulong gpa, bool isPrivate, out int order) => Vm.FaultIn(gpa, isPrivate, out order);

    /// <summary>
    /// The guest asks for [<paramref name="gpa"/>, + <paramref name="size"/>) to become private or shared:
    /// KVM exits to the VMM with KVM_HC_MAP_GPA_RANGE (<paramref name="exit"/>), 2M page size when the range is
    /// 2M aligned. Refused at once, with no exit and the errno as the guest's result, as kvm_hc_map_gpa_range
    /// refuses: EINVAL for an unaligned or empty range or one that wraps; EBUSY while an exit is pending.
    /// </summary>
    public Errno RequestPageStateChange(ulong gpa, ulong size, bool toPrivate, out KvmExit? exit)
    {
        exit = null;
        lock (_lock)
        {
            Errno refused = _pending is not null ? Errno.EBUSY
                : size == 0 || ((gpa | size) & Page.Mask) != 0 || gpa > ulong.MaxValue - size ? Errno.EINVAL
                : Errno.Ok;
            if (refused != Errno.Ok)
            {
                Log.PageStateChangeRefused(_logger, Id, refused, refused == Errno.EBUSY ? "an exit is pending" : "a bad range");
                if (refused == Errno.EINVAL)
                    LastPageStateChange = refused;
                return refused;
            }
            ulong pageSize = ((gpa | size) & (Size2M - 1)) == 0 ? (ulong)KvmMapGpaRangeFlags.PageSize2M : (ulong)KvmMapGpaRangeFlags.PageSize4K;
            exit = new KvmExit
            {
                Reason = KvmExitReason.Hypercall,
                Nr = KvmHypercallNr.MapGpaRange,
                Gpa = gpa,
                Npages = size >> Page.Shift,
                Attributes = pageSize | (toPrivate ? (ulong)KvmMapGpaRangeFlags.Encrypted : 0),
                Vcpu = Id,
            };
            _pending = exit;
            Log.PageStateChangeExit(_logger, Id, gpa, size, toPrivate ? "private" : "shared");
            return Errno.Ok;
        }
    }

    /// <summary>
    /// The VMM completes <paramref name="exit"/> with <paramref name="result"/> (hypercall.ret) and the guest
    /// resumes, seeing it in <see cref="LastPageStateChange"/>. EINVAL when the exit is not this vCPU's pending one.
    /// </summary>
    public Errno CompletePageStateChange(KvmExit exit, Errno result)
    {
        ArgumentNullException.ThrowIfNull(exit);
        lock (_lock)
        {
            if (!ReferenceEquals(exit, _pending))
                return Errno.EINVAL;
            _pending = null;
            LastPageStateChange = result;
            Log.PageStateChangeDone(_logger, Id, exit.Gpa, exit.Size, result);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// What a VMM does with a page-state change exit: converts the range through guest_memfd
    /// (<see cref="KvmVm.SetMemoryAttributes"/>) and completes the exit with the result.
    /// </summary>
    public Errno HandlePageStateChange(KvmExit exit)
    {
        ArgumentNullException.ThrowIfNull(exit);
        if (!ReferenceEquals(exit, PendingExit))
            return Errno.EINVAL;
        Errno e = Vm.SetMemoryAttributes(exit.Gpa, exit.Size, exit.ToPrivate, out _);
        CompletePageStateChange(exit, e);
        return e;
    }

    /// <summary>
    /// The guest's PVALIDATE of its page at <paramref name="gpa"/> (4K, or 2M): the nested fault that the access
    /// takes when the page is not mapped yet is handled first (a private fault-in); a 4K validation inside a 2M RMP
    /// entry takes an RMP fault, on which KVM smashes the entry through guest_memfd (its stage-2 leaf and IOMMU pages cut first) and the guest
    /// retries. The instruction's result otherwise (FAIL_SIZEMISMATCH: the guest retries at 4K). NestedPageFault
    /// also when the fault cannot be resolved (no memslot, a shared page); FailInput on a vCPU without an SNP CPU.
    /// </summary>
    public PvalidateResult Pvalidate(ulong gpa, bool pageSize2M, bool validate)
    {
        if (_cpu is null)
            return PvalidateResult.FailInput;
        ulong size = pageSize2M ? Size2M : Page.Size;
        if ((gpa & (size - 1)) != 0)
            return _cpu.Pvalidate(gpa, 0, pageSize2M, validate);
        if (!Translate(gpa, out ulong spa))
            return PvalidateResult.NestedPageFault;
        PvalidateResult result = _cpu.Pvalidate(gpa, spa, pageSize2M, validate);
        if (result != PvalidateResult.NestedPageFault || pageSize2M)
            return result;
        Errno e = Vm.HandleRmpFault(gpa);
        Log.RmpFault(_logger, Id, gpa, e == Errno.Ok ? "the 2M RMP entry is smashed and the guest retries" : $"not resolved ({e})");
        if (e != Errno.Ok || !Translate(gpa, out spa))
            return result;
        return _cpu.Pvalidate(gpa, spa, pageSize2M, validate);
    }

    // The guest's private access to gpa resolved through stage 2, faulting it in (and retrying) as the CPU would.
    private bool Translate(ulong gpa, out ulong spa)
    {
        spa = 0;
        ulong gfn = gpa >> Page.Shift;
        for (int attempt = 0; attempt < FaultRetries; attempt++)
        {
            if (Vm.Stage2?.TryLookup(gfn, out ulong pfn, out _, out bool isPrivate) == true && isPrivate)
            {
                spa = pfn << Page.Shift;
                return true;
            }
            Errno e = Vm.FaultIn(gpa, isPrivate: true, out _);
            if (e != Errno.Ok && e != Errno.EAGAIN)
                return false;
        }
        return false;
    }
}
