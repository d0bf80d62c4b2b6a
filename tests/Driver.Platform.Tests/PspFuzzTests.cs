using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Psp;

namespace Driver.Platform.Tests;

/// <summary>Random MMIO over the PSP window and random words under its buffers: statuses, never exceptions, and a device that still works.</summary>
public class PspFuzzTests
{
    public const int Steps = 20_000;

    private const ulong Limit = IPhysicalMemory.Limit;
    private const ulong Pool = 0x0400_0000;

    private static readonly ulong[] Registers =
    [
        PspMmio.InterruptEnableOffset, PspMmio.InterruptStatusOffset, PspMmio.CmdRespOffset,
        PspMmio.CmdBufferAddressLoOffset, PspMmio.CmdBufferAddressHiOffset, PspMmio.FeatureOffset,
    ];

    private static readonly SevCommandId[] Commands =
    [
        SevCommandId.SnpInitEx, SevCommandId.SnpShutdownEx, SevCommandId.SnpPlatformStatus, SevCommandId.SnpDfFlush,
        SevCommandId.SnpPageReclaim, SevCommandId.SnpPageUnsmash, SevCommandId.SnpGctxCreate, ProposedCommands.IopdeSmash,
        SevCommandId.SnpActivate, SevCommandId.SnpDecommission, SevCommandId.TioInit, SevCommandId.TioTdiCreate,
        SevCommandId.TioTdiBind, SevCommandId.TioTdiUnbind, SevCommandId.TioTdiReclaim,
    ];

    private static readonly HashSet<string> GuestAndTioCommands =
    [
        nameof(SevCommandId.SnpActivate), nameof(SevCommandId.SnpDecommission), nameof(SevCommandId.TioInit),
        nameof(SevCommandId.TioTdiCreate), nameof(SevCommandId.TioTdiBind), nameof(SevCommandId.TioTdiUnbind), nameof(SevCommandId.TioTdiReclaim),
    ];

    // Buffer addresses: four pages of our own, misaligned ones, and ones at, across and beyond the limit.
    private static ulong BufferAddress(Random rng) => rng.Next(8) switch
    {
        0 => Limit - (8UL * (ulong)rng.Next(0, 9)),
        1 => Limit + ((ulong)rng.Next(0, 4) << 12),
        2 => (ulong)rng.NextInt64(),
        3 => Pool + ((ulong)rng.Next(0, 4) << 12) + (ulong)rng.Next(0, 8),
        _ => Pool + ((ulong)rng.Next(0, 4) << 12) + (8UL * (ulong)rng.Next(0, 4)),
    };

    // Words under a buffer: noise, zeros, small flag and length words, and pointers of every kind.
    private static ulong Word(Random rng) => rng.Next(5) switch
    {
        0 => (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1),
        1 => 0,
        2 => ((ulong)rng.Next(0, 4) << 32) | (rng.Next(2) == 0 ? 8UL : (ulong)rng.Next(0, 32)),
        3 => BufferAddress(rng) & ~0xFFFUL,
        _ => BufferAddress(rng),
    };

    private static ulong PoolPage(Random rng) => Pool + ((ulong)rng.Next(0, 4) << 12);

    // Writes a well-formed buffer at the page, points the address registers at it and rings its command
    // (ignored, as any doorbell, while a command runs).
    private static void RingWellFormed(Machine m, ulong page, Random rng)
    {
        var (command, words) = WellFormed(rng);
        PspMailbox.WriteWords(m, page, words);
        ulong window = Machine.PspMmioBase;
        m.Mmio.Write32(window + PspMmio.CmdBufferAddressLoOffset, (uint)page);
        m.Mmio.Write32(window + PspMmio.CmdBufferAddressHiOffset, (uint)(page >> 32));
        m.Mmio.Write32(window + PspMmio.CmdRespOffset, new PspCmdRespRegister(0).WithCommandId(command).Raw);
    }

    // A buffer of one of the commands with every reserved bit clear, lengths right and pointers into the pool.
    private static (SevCommandId, ulong[]) WellFormed(Random rng)
    {
        switch (rng.Next(6))
        {
            case 0:
                var init = default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(rng.Next(2) == 0);
                var words = new ulong[SnpInitExBuffer.Words];
                init.CopyTo(words);
                return (SevCommandId.SnpInitEx, words);
            case 1:
                var activate = default(SnpActivateBuffer).WithGctxPaddr(PoolPage(rng)).WithAsid((uint)rng.Next(0, 4));
                return rng.Next(2) == 0
                    ? (SevCommandId.SnpActivate, [activate.GetWord(0), activate.GetWord(1)])
                    : (rng.Next(2) == 0 ? SevCommandId.SnpGctxCreate : SevCommandId.SnpDecommission, [activate.GetWord(0)]);
            case 2:
                return (SevCommandId.TioInit, [default(TioInitBuffer).WithLength(8).Raw]);
            case 3:
                var create = default(TioTdiCreateBuffer).WithLength(16).WithDeviceId((ushort)rng.Next(0, 3)).WithTdiCtxPaddr(PoolPage(rng));
                return (SevCommandId.TioTdiCreate, [create.GetWord(0), create.GetWord(1)]);
            case 4:
                var bind = default(TioTdiBindBuffer).WithLength(24).WithTdiCtxPaddr(PoolPage(rng)).WithGctxPaddr(PoolPage(rng));
                return (SevCommandId.TioTdiBind, [bind.GetWord(0), bind.GetWord(1), bind.GetWord(2)]);
            default:
                var unbind = default(TioTdiUnbindBuffer).WithLength(16).WithTdiCtxPaddr(PoolPage(rng));
                return (rng.Next(2) == 0 ? SevCommandId.TioTdiUnbind : SevCommandId.TioTdiReclaim, [unbind.GetWord(0), unbind.GetWord(1)]);
        }
    }

    [Fact]
    public void Random_mmio_and_buffers_never_throw_and_leave_a_mailbox_that_serves_requests()
    {
        var logs = new CapturedLogs();
        var d = PspMailbox.SnpMachine(init: false, config: new MachineConfig
        {
            Psp = new PspConfig { LoggerFactory = logs },
            Iommu = new Iommu.IommuConfig { Efr2 = new Hw.AmdIommu.ExtendedFeature2Register(0).WithSevSnpIoSup(true) },
        });
        var m = d.Machine;
        var rng = new Random(2026);
        ulong window = Machine.PspMmioBase;
        for (int step = 0; step < Steps; step++)
        {
            switch (rng.Next(11))
            {
                case 10:
                    // The host hands pool pages to firmware or takes them back, or writes a well-formed buffer at
                    // a pool page: guest and TDI commands then get past the buffer checks to their state rules.
                    ulong page = Pool + ((ulong)rng.Next(0, 4) << 12);
                    if (rng.Next(3) == 0)
                        m.Cpu.Rmpupdate(page, rng.Next(2) == 0 ? new RmpUpdateArgs(0, true, false, true, 0) : default);
                    else
                        RingWellFormed(m, page, rng);
                    break;
                case 0 or 1 or 2:
                    ulong at = BufferAddress(rng) & ~7UL;
                    for (int i = 0, n = rng.Next(1, 9); i < n && at + (8UL * (ulong)i) < Limit; i++)
                        m.KernelMemory.WriteU64(at + (8UL * (ulong)i), Word(rng));
                    break;
                case 3:
                    ulong buffer = BufferAddress(rng);
                    m.Mmio.Write32(window + PspMmio.CmdBufferAddressLoOffset, (uint)buffer);
                    m.Mmio.Write32(window + PspMmio.CmdBufferAddressHiOffset, (uint)(buffer >> 32));
                    break;
                case 4 or 5:
                    var id = rng.Next(4) == 0 ? (SevCommandId)rng.Next(1 << 11) : Commands[rng.Next(Commands.Length)];
                    uint doorbell = new PspCmdRespRegister(0).WithCommandId(id).WithInterruptOnCompletion(rng.Next(2) == 0).Raw;
                    if (rng.Next(8) == 0)
                        doorbell |= (uint)rng.Next() & 0xF800_FFFE;
                    m.Mmio.Write32(window + PspMmio.CmdRespOffset, doorbell);
                    break;
                default:
                    ulong offset = rng.Next(3) == 0 ? (ulong)rng.NextInt64((long)PspMmio.Size) : Registers[rng.Next(Registers.Length)] + (ulong)rng.Next(-4, 5);
                    bool wide = rng.Next(2) == 0;
                    if (rng.Next(2) == 0)
                        _ = wide ? m.Mmio.Write64(window + offset, (ulong)rng.NextInt64()) : m.Mmio.Write32(window + offset, (uint)rng.Next());
                    else
                        _ = wide ? m.Mmio.Read64(window + offset, out _) : m.Mmio.Read32(window + offset, out _);
                    break;
            }
            m.Clock.Delay(rng.Next(0, 4) * 50_000);
        }
        m.Clock.Delay(10 * m.Config.Psp.IopdeSmashStallNs);

        // The fuzz reached the commands, not only the buffer check.
        var statuses = logs.WithId(2201).Select(r => r.GetStructuredStateValue("Status")).ToHashSet();
        statuses.ShouldContain(nameof(SevStatus.Success));
        statuses.ShouldContain(nameof(SevStatus.InvalidAddress));
        statuses.ShouldContain(nameof(SevStatus.InvalidCommand));
        statuses.ShouldContain(nameof(SevStatus.InvalidParam));
        statuses.Count.ShouldBeGreaterThanOrEqualTo(6);
        m.Psp.CommandsCompleted.ShouldBeGreaterThan(Steps / 10);
        // The guest and TIO commands got past the buffer and platform checks too.
        var deep = logs.WithId(2201)
            .Where(r => GuestAndTioCommands.Contains(r.GetStructuredStateValue("Command")!))
            .Select(r => r.GetStructuredStateValue("Status")).ToHashSet();
        deep.ShouldContain(nameof(SevStatus.Success));
        deep.ShouldContain(nameof(SevStatus.InvalidGuest));
        deep.Count.ShouldBeGreaterThanOrEqualTo(6);

        // Afterwards the mailbox serves a whole life cycle: shut down, status, init again, status.
        m.Mmio.Write32(window + PspMmio.InterruptStatusOffset, uint.MaxValue);
        var shutdown = PspMailbox.ShutdownEx(m);
        if (shutdown == SevStatus.DfflushRequired)
        {
            PspMailbox.Call(m, SevCommandId.SnpDfFlush).ShouldBe(SevStatus.Success);
            shutdown = PspMailbox.ShutdownEx(m);
        }
        shutdown.ShouldBe(SevStatus.Success);
        const ulong Status = 0x0410_0000;
        PspMailbox.WriteWords(m, PspMailbox.Buffer, Status);
        PspMailbox.Call(m, SevCommandId.SnpPlatformStatus).ShouldBe(SevStatus.Success);
        var before = ReadStatus(m, Status);
        before.ApiMajor.ShouldBe((byte)1);
        before.State.ShouldBe((byte)0);
        before.BuildId.ShouldBe(1u);

        m.Cpu.Rmpupdate(DeviceRig.EventLog, default).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(m).ShouldBe(SevStatus.Success);
        m.Iommu.SnpEnforced.ShouldBeTrue();
        m.Cpu.Rmpupdate(Status, new RmpUpdateArgs(0, true, false, true, 0)).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, Status);
        PspMailbox.Call(m, SevCommandId.SnpPlatformStatus).ShouldBe(SevStatus.Success);
        var after = ReadStatus(m, Status);
        after.State.ShouldBe((byte)1);
        after.IsRmpInitialized.ShouldBeTrue();
        after.GuestCount.ShouldBe(before.GuestCount);
    }

    private static SnpPlatformStatusBuffer ReadStatus(Machine m, ulong page) =>
        new([m.Memory.ReadU64(page), m.Memory.ReadU64(page + 8), m.Memory.ReadU64(page + 16), m.Memory.ReadU64(page + 24)]);
}
