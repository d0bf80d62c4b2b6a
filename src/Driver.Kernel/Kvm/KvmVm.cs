using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A KVM VM, as far as guest memory goes: guest_memfd files created for it, memslots bound to them
/// (KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD), get_pfn by guest frame number, and, when
/// it has table frames, a stage-2 table that faults fill (<see cref="FaultIn"/>) and invalidations
/// zap. An SNP VM (<see cref="CreateSnp"/>) adds an ASID, a guest context and the RMP.
/// </summary>
public sealed partial class KvmVm : IGuestMemfdGfnLookup
{
    /// <summary>KVM_USER_MEM_SLOTS on x86.</summary>
    public const int MaxSlots = 32764;

    private readonly PageCounts _pages;
    private readonly IPhysicalMemory _memory;
    private readonly FdTable _fds;
    private readonly GuestMemfdOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<int, KvmMemorySlot> _slots = [];
    private readonly List<GuestMemfd> _files = [];
    private readonly List<KvmVcpu> _vcpus = [];
    private readonly Lock _lock = new();

    // The slots again, replaced whole under _lock and read without it: guest_memfd asks for GPAs with its
    // invalidate lock held, which memslot changes take inside _lock.
    private KvmMemorySlot[] _slotSnapshot = [];
    private bool _destroyed;

    /// <summary>
    /// A VM without a stage-2 table whose guest_memfd files are built with <paramref name="options"/> (their Owner is the
    /// VM) and installed in <paramref name="fds"/>. <paramref name="arch"/>, when given, builds the architecture's part of
    /// guest memory for this VM (it may ask the VM for GPAs) and replaces <see cref="GuestMemfdOptions.Arch"/>.
    /// </summary>
    public KvmVm(PageCounts pages, IPhysicalMemory memory, FdTable fds, GuestMemfdOptions? options = null, Func<KvmVm, IGuestMemfdArch>? arch = null)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(fds);
        _pages = pages;
        _memory = memory;
        _fds = fds;
        _options = (options ?? new GuestMemfdOptions()) with { Owner = this };
        if (arch is not null)
            _options = _options with { Arch = arch(this) };
        _logger = (_options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Driver.Kernel.Kvm.KvmVm");
    }

    /// <summary>
    /// KVM_CREATE_VM with a stage-2 table whose tables come from <paramref name="tableFrames"/>; otherwise as the
    /// constructor. ENOMEM when the root table cannot be allocated.
    /// </summary>
    public static Errno Create(PageCounts pages, IPhysicalMemory memory, FdTable fds, IFrameAllocator tableFrames, out KvmVm? vm,
        GuestMemfdOptions? options = null, Func<KvmVm, IGuestMemfdArch>? arch = null)
    {
        ArgumentNullException.ThrowIfNull(tableFrames);
        vm = new KvmVm(pages, memory, fds, options, arch);
        Errno e = KvmStage2.Create(memory, tableFrames, options?.LoggerFactory, out KvmStage2? stage2);
        if (e != Errno.Ok)
        {
            vm = null;
            return e;
        }
        vm.Stage2 = stage2;
        return Errno.Ok;
    }

    /// <summary>The architecture's part of this VM's guest memory (SNP's RMP), if any.</summary>
    public IGuestMemfdArch? Arch => _options.Arch;

    /// <summary>The stage-2 (NPT) table; null for a VM made without table frames.</summary>
    public KvmStage2? Stage2 { get; private set; }

    /// <summary>The SNP state of an SNP VM; null otherwise.</summary>
    public KvmSev? Sev { get; private set; }

    /// <summary>KVM_CREATE_GUEST_MEMFD: <paramref name="argument"/> is a struct kvm_create_guest_memfd; reserved bytes set are EINVAL.</summary>
    public Errno CreateGuestMemfd(ReadOnlySpan<byte> argument, out int fd)
    {
        fd = -1;
        if (argument.Length != KvmCreateGuestMemfd.Bytes)
            return Errno.EINVAL;
        var create = KvmCreateGuestMemfd.FromBytes(argument);
        if (!create.IsValid)
            return Errno.EINVAL;
        lock (_lock)
        {
            if (_destroyed)
                return Errno.EIO;
        }
        Errno e = GuestMemfd.Create(_pages, _memory, create.Size, create.Flags, out GuestMemfd? file, _options);
        if (e != Errno.Ok)
            return e;
        lock (_lock)
            _files.Add(file!);
        fd = _fds.Install(file!);
        return Errno.Ok;
    }

    /// <summary>The memslot with <paramref name="id"/>, if any.</summary>
    public KvmMemorySlot? Slot(int id)
    {
        lock (_lock)
            return _slots.GetValueOrDefault(id);
    }

    /// <summary>The memslot that holds guest frame <paramref name="gfn"/>, if any.</summary>
    public KvmMemorySlot? SlotOf(ulong gfn)
    {
        foreach (KvmMemorySlot slot in Volatile.Read(ref _slotSnapshot))
        {
            if (slot.Contains(gfn))
                return slot;
        }
        return null;
    }

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION2 of a guest_memfd slot. Size 0 deletes the slot (its stage-2 leaves go); EINVAL when
    /// there is none. EINVAL for a bad slot id, an unaligned address or size, a change of an existing slot, and every guest_memfd binding rule
    /// (another VM's file, an unaligned or out-of-file range, an overlap with another binding); EBADF when
    /// <paramref name="guestMemfd"/> is no open fd; EINVAL when it is not a guest_memfd; EEXIST when the
    /// guest-physical range overlaps another slot.
    /// </summary>
    public Errno SetUserMemoryRegion2(int slot, ulong guestPhysAddr, ulong memorySize, int guestMemfd, ulong guestMemfdOffset)
    {
        lock (_lock)
        {
            if (_destroyed)
                return Errno.EIO;
            if (slot < 0 || slot >= MaxSlots || ((guestPhysAddr | memorySize) & Page.Mask) != 0 || guestPhysAddr > ulong.MaxValue - memorySize)
                return Refuse(slot, Errno.EINVAL, "bad slot, address or size");
            if (memorySize == 0)
            {
                // __kvm_set_memory_region: deleting a slot that does not exist is EINVAL.
                if (!_slots.Remove(slot, out KvmMemorySlot? gone))
                    return Refuse(slot, Errno.EINVAL, "no such slot to delete");
                DeleteLocked(gone);
                return Errno.Ok;
            }
            if (_slots.ContainsKey(slot))
                return Refuse(slot, Errno.EINVAL, "a guest_memfd slot cannot be changed, only deleted");
            ulong baseGfn = guestPhysAddr >> Page.Shift;
            ulong pages = memorySize >> Page.Shift;
            if (_slots.Values.Any(s => s.BaseGfn < baseGfn + pages && baseGfn < s.BaseGfn + s.Pages))
                return Refuse(slot, Errno.EEXIST, "the guest-physical range overlaps another slot");
            if (_fds.Get(guestMemfd, out IFile? file) != Errno.Ok)
                return Refuse(slot, Errno.EBADF, "no such fd");
            if (file is not GuestMemfd gmem)
                return Refuse(slot, Errno.EINVAL, "the fd is not a guest_memfd");
            var memslot = new KvmMemorySlot(slot, baseGfn, pages, Stage2);
            Errno e = gmem.Bind(memslot, this, guestMemfdOffset, memorySize, out GuestMemfdBinding? binding);
            if (e != Errno.Ok)
                return Refuse(slot, e, "the guest_memfd range cannot be bound");
            memslot.Binding = binding;
            _slots.Add(slot, memslot);
            Volatile.Write(ref _slotSnapshot, [.. _slots.Values]);
            return Errno.Ok;
        }
    }

    // kvm_delete_memslot: the slot's stage-2 leaves go, then the binding.
    private void DeleteLocked(KvmMemorySlot gone)
    {
        Volatile.Write(ref _slotSnapshot, [.. _slots.Values]);
        Stage2?.Zap(gone.BaseGfn, gone.BaseGfn + gone.Pages, Stage2Zap.All, out _);
        gone.Binding?.Unbind();
    }

    /// <summary>kvm_gmem_get_pfn for guest frame <paramref name="gfn"/>: EFAULT outside every slot, else the binding's rules.</summary>
    public Errno GetPfn(ulong gfn, out ulong pfn, out int maxOrder)
    {
        KvmMemorySlot? slot = SlotOf(gfn);
        pfn = 0;
        maxOrder = 0;
        if (slot?.Binding is not { } binding)
            return Errno.EFAULT;
        return binding.GetPfn(slot.IndexOf(gfn), out pfn, out maxOrder);
    }

    /// <summary>The guest frame a memslot gives page <paramref name="index"/> of <paramref name="file"/>.</summary>
    public bool TryGetGfn(GuestMemfd file, ulong index, out ulong gfn)
    {
        foreach (KvmMemorySlot slot in Volatile.Read(ref _slotSnapshot))
        {
            if (slot.Binding is { } b && ReferenceEquals(b.File, file) && slot.TryGetGfn(index, out gfn))
                return true;
        }
        gfn = 0;
        return false;
    }

    /// <summary>
    /// What a VMM does for a conversion by guest-physical range (QEMU's kvm_convert_memory): KVM_SET_MEMORY_ATTRIBUTES2
    /// on the guest_memfd of each memslot the range crosses, in order. EINVAL for an unaligned or empty range, EFAULT
    /// when a part of it has no memslot; else the first failing conversion's errno, with <paramref name="errorGpa"/> the
    /// guest address of its error_offset (earlier slots stay converted, as in a VMM).
    /// </summary>
    public Errno SetMemoryAttributes(ulong gpa, ulong size, bool toPrivate, out ulong errorGpa)
    {
        errorGpa = gpa;
        if (size == 0 || ((gpa | size) & Page.Mask) != 0 || gpa > ulong.MaxValue - size)
            return Errno.EINVAL;
        ulong gfn = gpa >> Page.Shift;
        ulong end = (gpa + size) >> Page.Shift;
        while (gfn < end)
        {
            KvmMemorySlot? slot = SlotOf(gfn);
            if (slot?.Binding is not { } binding)
            {
                errorGpa = gfn << Page.Shift;
                return Errno.EFAULT;
            }
            ulong pages = Math.Min(end, slot.BaseGfn + slot.Pages) - gfn;
            var bytes = new byte[KvmMemoryAttributes2.Bytes];
            default(KvmMemoryAttributes2).WithOffset(slot.IndexOf(gfn) << Page.Shift).WithSize(pages << Page.Shift)
                .WithAttributes(toPrivate ? (ulong)KvmMemoryAttributes.Private : 0).CopyTo(bytes);
            Errno e = binding.File.SetMemoryAttributes2(bytes);
            if (e != Errno.Ok)
            {
                ulong errorOffset = KvmMemoryAttributes2.FromBytes(bytes).ErrorOffset;
                errorGpa = (slot.BaseGfn << Page.Shift) + (errorOffset - binding.Offset);
                return e;
            }
            gfn += pages;
        }
        return Errno.Ok;
    }

    private Errno Refuse(int slot, Errno errno, string reason)
    {
        Log.MemslotRefused(_logger, slot, errno, reason);
        return errno;
    }
}
