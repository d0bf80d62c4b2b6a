using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Tests;

/// <summary>
/// A minimal AMD IOMMU driver for the tests: it touches the machine only as a
/// kernel would, through MMIO, the direct map and the clock.
/// </summary>
internal sealed class TestDriver
{
    public const ulong DeviceTable = 0x0100_0000;
    public const ulong CommandRing = 0x0200_0000;
    public const ulong EventLog = 0x0201_0000;
    public const ulong Semaphore = 0x0202_0000;
    public const int CommandRingLength = 9;

    private ulong _nextTable = 0x0300_0000;
    private ulong _semaphoreValue;

    public TestDriver(Machine machine) => Machine = machine;

    public TestDriver(MachineConfig? config = null) : this(new Machine(config ?? new MachineConfig()))
    {
    }

    public Machine Machine { get; }

    public IPhysicalMemory Mem => Machine.KernelMemory;

    public IMmio Mmio => Machine.Mmio;

    public static ulong Reg(ulong offset) => Machine.IommuMmioBase + offset;

    public ulong Read64(ulong offset)
    {
        Mmio.Read64(Reg(offset), out ulong v).ShouldBe(MmioStatus.Ok);
        return v;
    }

    public void Write64(ulong offset, ulong value) => Mmio.Write64(Reg(offset), value).ShouldBe(MmioStatus.Ok);

    public StatusRegister Status => new(Read64(AmdIommuMmio.StatusOffset));

    public ControlRegister Control => new(Read64(AmdIommuMmio.ControlOffset));

    /// <summary>Sets up the device table, rings and enables as Linux's init does.</summary>
    public TestDriver Init(byte eventLogLength = 8, bool enable = true)
    {
        Write64(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(DeviceTable).WithSize(511).Raw);
        Write64(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(CommandRing).WithLength(CommandRingLength).Raw);
        Write64(AmdIommuMmio.EventLogBaseOffset, new EventLogBaseRegister(0).WithBase(EventLog).WithLength(eventLogLength).Raw);
        if (enable)
            Write64(AmdIommuMmio.ControlOffset, new ControlRegister(0).WithIommuEn(true).WithEventLogEn(true).WithCmdBufEn(true).Raw);
        return this;
    }

    /// <summary>Tells the monitors that every table handed out so far is a page-table frame.</summary>
    public void AnnounceTables()
    {
        for (ulong pa = 0x0300_0000; pa < _nextTable; pa += 0x1000)
            Machine.Notify.TableFrameAllocated(pa);
    }

    /// <summary>Lets simulated time run until the command processor has nothing due; true when it took every command.</summary>
    public bool RunCommands()
    {
        Machine.Scheduler.RunUntilIdle(Machine.Clock.NowNs + 10_000_000);
        return new RingPointerRegister(Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset
            == new RingPointerRegister(Read64(AmdIommuMmio.CommandBufferTailOffset)).Offset;
    }

    public ulong AllocTable()
    {
        ulong pa = _nextTable;
        _nextTable += 0x1000;
        return pa;
    }

    public static AmdDte Dte(ulong root, PagingMode mode, ushort domain, bool read = true, bool write = true) =>
        default(AmdDte).WithValid(true).WithTranslationValid(true).WithMode(mode).WithHostPageTableRoot(root)
            .WithDomainId(domain).WithIoRead(read).WithIoWrite(write);

    public void SetDte(ushort deviceId, AmdDte dte)
    {
        for (int i = 0; i < AmdDte.Words; i++)
            Mem.WriteU64(DeviceTable + deviceId * 32UL + (ulong)i * 8, dte.GetWord(i));
    }

    public static AmdV1Pte Pte(ulong address, int nextLevel, bool read = true, bool write = true) =>
        new AmdV1Pte(0).WithPresent(true).WithAddress(address).WithNextLevel((byte)nextLevel).WithIoRead(read).WithIoWrite(write);

    /// <summary>Installs a leaf for <paramref name="iova"/> at <paramref name="leafLevel"/>, creating tables on the way.</summary>
    public ulong Map(ulong root, int mode, ulong iova, AmdV1Pte leaf, int leafLevel = 1)
    {
        ulong table = root;
        for (int level = mode; level > leafLevel; level--)
        {
            ulong slot = table + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
            var pde = new AmdV1Pte(Mem.ReadU64(slot));
            if (!pde.Present)
            {
                pde = Pte(AllocTable(), level - 1);
                Mem.WriteU64(slot, pde.Raw);
            }
            table = pde.Address;
        }
        ulong leafSlot = table + ((iova >> (12 + 9 * (leafLevel - 1))) & 511) * 8;
        Mem.WriteU64(leafSlot, leaf.Raw);
        return leafSlot;
    }

    public ulong Map4K(ulong root, int mode, ulong iova, ulong spa, bool read = true, bool write = true) =>
        Map(root, mode, iova, Pte(spa, 0, read, write));

    /// <summary>Appends commands at Tail and rings the doorbell.</summary>
    public void Submit(params (ulong W0, ulong W1)[] commands)
    {
        var tail = new RingPointerRegister(Read64(AmdIommuMmio.CommandBufferTailOffset));
        uint index = tail.Offset;
        foreach (var (w0, w1) in commands)
        {
            ulong pa = CommandRing + index * 16UL;
            Mem.WriteU64(pa, w0);
            Mem.WriteU64(pa + 8, w1);
            index = (index + 1) % (1u << CommandRingLength);
        }
        Write64(AmdIommuMmio.CommandBufferTailOffset, tail.WithOffset((ushort)index).Raw);
    }

    /// <summary>COMPLETION_WAIT with a store, then poll the semaphore as Linux does (1 us steps).</summary>
    public bool Sync(int polls = 1000)
    {
        ulong value = ++_semaphoreValue;
        Submit(CompletionWait(Semaphore, value, store: true));
        for (int i = 0; i < polls; i++)
        {
            if (Mem.ReadU64(Semaphore) == value)
                return true;
            Machine.Clock.Delay(1000);
        }
        return false;
    }

    public static (ulong, ulong) CompletionWait(ulong address, ulong data, bool store = true, bool interrupt = false)
    {
        var c = default(CompletionWaitCommand).WithOpcode(CommandOpcode.CompletionWait).WithStore(store)
            .WithInterrupt(interrupt).WithStoreAddress(address).WithStoreData(data);
        return (c.GetWord(0), c.GetWord(1));
    }

    public static (ulong, ulong) InvalidatePages(ushort domain, ulong address, bool size = false, bool pde = false)
    {
        var c = default(InvalidateIommuPagesCommand).WithOpcode(CommandOpcode.InvalidateIommuPages).WithDomainId(domain)
            .WithAddress(address).WithSize(size).WithPde(pde);
        return (c.GetWord(0), c.GetWord(1));
    }

    public static (ulong, ulong) InvalidateAllPages(ushort domain) => InvalidatePages(domain, 0x7FFF_FFFF_FFFF_F000, true, true);

    public static (ulong, ulong) InvalidateDte(ushort deviceId)
    {
        var c = default(InvalidateDevtabEntryCommand).WithOpcode(CommandOpcode.InvalidateDevtabEntry).WithDeviceId(deviceId);
        return (c.GetWord(0), c.GetWord(1));
    }

    public static (ulong, ulong) InvalidateIommuAll()
    {
        var c = default(InvalidateIommuAllCommand).WithOpcode(CommandOpcode.InvalidateIommuAll);
        return (c.GetWord(0), c.GetWord(1));
    }

    /// <summary>Reads the events between Head and Tail and consumes them.</summary>
    public List<(ulong W0, ulong W1)> DrainEvents()
    {
        var events = new List<(ulong, ulong)>();
        uint head = new RingPointerRegister(Read64(AmdIommuMmio.EventLogHeadOffset)).Offset;
        uint tail = new RingPointerRegister(Read64(AmdIommuMmio.EventLogTailOffset)).Offset;
        uint entries = 1u << new EventLogBaseRegister(Read64(AmdIommuMmio.EventLogBaseOffset)).Length;
        while (head != tail)
        {
            ulong pa = EventLog + head * 16UL;
            events.Add((Mem.ReadU64(pa), Mem.ReadU64(pa + 8)));
            head = (head + 1) % entries;
        }
        Write64(AmdIommuMmio.EventLogHeadOffset, new RingPointerRegister(0).WithOffset((ushort)head).Raw);
        return events;
    }

    public static EventCode Code((ulong W0, ulong W1) ev) => new EventHeader([ev.W0, ev.W1]).EventCode;

    public TranslationResultView Dma(ushort deviceId, ulong iova, bool write = false) => new(Machine.Iommu.Translate(deviceId, iova, write));
}

/// <summary>A translation result with the event decoded, for assertions.</summary>
internal readonly record struct TranslationResultView(Iommu.TranslationResult Result)
{
    public Iommu.TranslationStatus Status => Result.Status;

    public ulong Spa => Result.Spa;

    public IoPageFaultDetailEvent Fault => new([Result.EventWord0, Result.EventWord1]);
}
