using Driver.Hw.Interfaces;
using Driver.Hw.Kvm;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Kvm;

/// <summary>
/// A KVM VM, as far as guest memory goes: guest_memfd files created for it and memslots bound to
/// them (KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD), and get_pfn by guest frame number.
/// </summary>
public sealed class KvmVm : IGuestMemfdGfnLookup
{
    /// <summary>KVM_USER_MEM_SLOTS on x86.</summary>
    public const int MaxSlots = 32764;

    private readonly PageCounts _pages;
    private readonly IPhysicalMemory _memory;
    private readonly FdTable _fds;
    private readonly GuestMemfdOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<int, KvmMemorySlot> _slots = [];
    private readonly Lock _lock = new();

    // The slots again, replaced whole under _lock and read without it: guest_memfd asks for GPAs with its
    // invalidate lock held, which memslot changes take inside _lock.
    private KvmMemorySlot[] _slotSnapshot = [];

    /// <summary>
    /// A VM whose guest_memfd files are built with <paramref name="options"/> (their Owner is the VM) and installed in
    /// <paramref name="fds"/>. <paramref name="arch"/>, when given, builds the architecture's part of guest memory for
    /// this VM (it may ask the VM for GPAs) and replaces <see cref="GuestMemfdOptions.Arch"/>.
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

    /// <summary>The architecture's part of this VM's guest memory (SNP's RMP), if any.</summary>
    public IGuestMemfdArch? Arch => _options.Arch;

    /// <summary>KVM_CREATE_GUEST_MEMFD: <paramref name="argument"/> is a struct kvm_create_guest_memfd; reserved bytes set are EINVAL.</summary>
    public Errno CreateGuestMemfd(ReadOnlySpan<byte> argument, out int fd)
    {
        fd = -1;
        if (argument.Length != KvmCreateGuestMemfd.Bytes)
            return Errno.EINVAL;
        var create = KvmCreateGuestMemfd.FromBytes(argument);
        if (!create.IsValid)
            return Errno.EINVAL;
        Errno e = GuestMemfd.Create(_pages, _memory, create.Size, create.Flags, out GuestMemfd? file, _options);
        if (e == Errno.Ok)
            fd = _fds.Install(file!);
        return e;
    }

    /// <summary>The memslot with <paramref name="id"/>, if any.</summary>
    public KvmMemorySlot? Slot(int id)
    {
        lock (_lock)
            return _slots.GetValueOrDefault(id);
    }

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION2 of a guest_memfd slot. Size 0 deletes the slot. EINVAL for a bad slot
    /// id, an unaligned address or size, a change of an existing slot, and every guest_memfd binding rule
    /// (another VM's file, an unaligned or out-of-file range, an overlap with another binding); EBADF when
    /// <paramref name="guestMemfd"/> is no open fd; EINVAL when it is not a guest_memfd; EEXIST when the
    /// guest-physical range overlaps another slot.
    /// </summary>
    public Errno SetUserMemoryRegion2(int slot, ulong guestPhysAddr, ulong memorySize, int guestMemfd, ulong guestMemfdOffset)
    {
        lock (_lock)
        {
            if (slot < 0 || slot >= MaxSlots || ((guestPhysAddr | memorySize) & Page.Mask) != 0 || guestPhysAddr > ulong.MaxValue - memorySize)
                return Refuse(slot, Errno.EINVAL, "bad slot, address or size");
            if (memorySize == 0)
            {
                if (_slots.Remove(slot, out KvmMemorySlot? gone))
                {
                    Volatile.Write(ref _slotSnapshot, [.. _slots.Values]);
                    gone.Binding?.Unbind();
                }
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
            var memslot = new KvmMemorySlot(slot, baseGfn, pages);
            Errno e = gmem.Bind(memslot, this, guestMemfdOffset, memorySize, out GuestMemfdBinding? binding);
            if (e != Errno.Ok)
                return Refuse(slot, e, "the guest_memfd range cannot be bound");
            memslot.Binding = binding;
            _slots.Add(slot, memslot);
            Volatile.Write(ref _slotSnapshot, [.. _slots.Values]);
            return Errno.Ok;
        }
    }

    /// <summary>kvm_gmem_get_pfn for guest frame <paramref name="gfn"/>: EFAULT outside every slot, else the binding's rules.</summary>
    public Errno GetPfn(ulong gfn, out ulong pfn, out int maxOrder)
    {
        KvmMemorySlot? slot;
        lock (_lock)
            slot = _slots.Values.FirstOrDefault(s => s.Contains(gfn));
        pfn = 0;
        maxOrder = 0;
        if (slot?.Binding is not { } binding)
            return Errno.EFAULT;
        return binding.GetPfn((binding.Offset >> Page.Shift) + (gfn - slot.BaseGfn), out pfn, out maxOrder);
    }

    /// <summary>The guest frame a memslot gives page <paramref name="index"/> of <paramref name="file"/>.</summary>
    public bool TryGetGfn(GuestMemfd file, ulong index, out ulong gfn)
    {
        foreach (KvmMemorySlot slot in Volatile.Read(ref _slotSnapshot))
        {
            if (slot.Binding is { } b && ReferenceEquals(b.File, file) && index >= b.Offset >> Page.Shift && index - (b.Offset >> Page.Shift) < slot.Pages)
            {
                gfn = slot.BaseGfn + (index - (b.Offset >> Page.Shift));
                return true;
            }
        }
        gfn = 0;
        return false;
    }

    private Errno Refuse(int slot, Errno errno, string reason)
    {
        Log.MemslotRefused(_logger, slot, errno, reason);
        return errno;
    }
}
