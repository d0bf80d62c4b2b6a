using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Psp;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

/// <summary>The firmware's error contract: a malformed buffer gets a status, the handshake completes, nothing changes.</summary>
public class PspBufferTests
{
    private const ulong Limit = IPhysicalMemory.Limit;

    private static ulong Reg(ulong offset) => Machine.PspMmioBase + offset;

    /// <summary>Every command that reads a buffer, with its size in bytes.</summary>
    public static TheoryData<SevCommandId, int> BufferCommands => new()
    {
        { SevCommandId.SnpInitEx, 64 },
        { SevCommandId.SnpShutdownEx, 8 },
        { SevCommandId.SnpPlatformStatus, 8 },
        { SevCommandId.SnpPageReclaim, 8 },
        { SevCommandId.SnpPageUnsmash, 8 },
        { SevCommandId.SnpGctxCreate, 8 },
        { ProposedCommands.IopdeSmash, 16 },
        { SevCommandId.SnpActivate, 16 },
        { SevCommandId.SnpDecommission, 8 },
        { SevCommandId.TioInit, 8 },
        { SevCommandId.TioTdiCreate, 16 },
        { SevCommandId.TioTdiBind, 24 },
        { SevCommandId.TioTdiUnbind, 16 },
        { SevCommandId.TioTdiReclaim, 16 },
    };

    private static (Machine M, ulong Rmp) Snapshot(bool init)
    {
        var m = PspMailbox.SnpMachine(init).Machine;
        return (m, RmpChecksum(m));
    }

    // The RMP entries of the pages the firmware owns or a command could touch.
    private static ulong RmpChecksum(Machine m)
    {
        ulong sum = 0;
        foreach (ulong pa in new[] { TestDriver.EventLog, TestDriver.Semaphore, PspMailbox.Buffer, 0x4000_0000UL })
            sum = (sum * 31) + m.Rmp.Read(pa >> 12).GetWord(0);
        return sum;
    }

    private static void ShouldBeUnchanged(Machine m, ulong rmp, bool init, long completedBefore)
    {
        RmpChecksum(m).ShouldBe(rmp);
        m.Iommu.SnpEnforced.ShouldBe(init);
        m.Psp.CommandsCompleted.ShouldBe(completedBefore + 1, "the refused command still completed the handshake");
        m.Psp.IgnoredDoorbells.ShouldBe(0);
    }

    [Theory]
    [MemberData(nameof(BufferCommands))]
    public void A_misaligned_buffer_gets_invalid_address(SevCommandId command, int bytes) =>
        ShouldAllBeRefused(command, [PspMailbox.Buffer + 1, PspMailbox.Buffer + 4, PspMailbox.Buffer + 7, Limit - (ulong)bytes + 4]);

    [Theory]
    [MemberData(nameof(BufferCommands))]
    public void A_buffer_beyond_or_across_the_physical_limit_gets_invalid_address(SevCommandId command, int bytes) =>
        ShouldAllBeRefused(command, [Limit, Limit + 0x1000, ulong.MaxValue - 7, Limit - (ulong)bytes + 8]);

    // Before and after SNP_INIT_EX: INVALID_ADDRESS, the handshake completed, nothing changed.
    private static void ShouldAllBeRefused(SevCommandId command, ulong[] buffers)
    {
        foreach (bool init in new[] { false, true })
        {
            var (m, rmp) = Snapshot(init);
            long before = m.Psp.CommandsCompleted;
            foreach (ulong buffer in buffers)
            {
                PspMailbox.Call(m, command, buffer).ShouldBe(SevStatus.InvalidAddress, $"{command} at 0x{buffer:x}, init {init}");
                ShouldBeUnchanged(m, rmp, init, before++);
            }
        }
    }

    [Theory]
    [MemberData(nameof(BufferCommands))]
    public void A_buffer_that_ends_at_the_limit_is_read(SevCommandId command, int bytes)
    {
        var m = PspMailbox.SnpMachine().Machine;
        var status = PspMailbox.Call(m, command, Limit - (ulong)bytes);
        // Zeros read from the last bytes of the address space: a command's own answer, not the buffer check's.
        var expected = command switch
        {
            SevCommandId.SnpInitEx => SevStatus.InvalidPlatformState,
            SevCommandId.SnpShutdownEx => SevStatus.InvalidLen,
            SevCommandId.SnpPlatformStatus => SevStatus.InvalidPageState,
            SevCommandId.SnpPageReclaim => SevStatus.Success,
            SevCommandId.SnpPageUnsmash => SevStatus.Success,
            SevCommandId.SnpGctxCreate => SevStatus.InvalidPageState,
            SevCommandId.SnpActivate or SevCommandId.SnpDecommission => SevStatus.InvalidGuest,
            SevCommandId.TioInit => SevStatus.InvalidLen,
            SevCommandId.TioTdiCreate or SevCommandId.TioTdiBind or SevCommandId.TioTdiUnbind or SevCommandId.TioTdiReclaim => SevStatus.InvalidPlatformState,
            _ => SevStatus.InvalidParam,
        };
        status.ShouldBe(expected, command.ToString());
    }

    [Fact]
    public void A_command_without_a_buffer_ignores_the_address_registers()
    {
        var m = PspMailbox.SnpMachine().Machine;
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, Limit - 0x800).ShouldBe(SevStatus.Success);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, ulong.MaxValue).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Every_id_the_firmware_does_not_know_answers_invalid_command()
    {
        var known = new HashSet<SevCommandId>
        {
            SevCommandId.SnpInitEx, SevCommandId.SnpShutdownEx, SevCommandId.SnpPlatformStatus, SevCommandId.SnpDfFlush,
            SevCommandId.SnpPageReclaim, SevCommandId.SnpPageUnsmash, SevCommandId.SnpGctxCreate, ProposedCommands.IopdeSmash,
            SevCommandId.SnpActivate, SevCommandId.SnpDecommission, SevCommandId.TioInit, SevCommandId.TioTdiCreate,
            SevCommandId.TioTdiBind, SevCommandId.TioTdiUnbind, SevCommandId.TioTdiReclaim,
        };
        var m = new Machine();
        int unknown = 0;
        for (int id = 0; id < 1 << 11; id++)
        {
            var command = (SevCommandId)id;
            if (known.Contains(command))
                continue;
            PspMailbox.Call(m, command).ShouldBe(SevStatus.InvalidCommand, $"0x{id:x}");
            unknown++;
        }
        unknown.ShouldBe((1 << 11) - known.Count);
        m.Psp.CommandsCompleted.ShouldBe(unknown);
    }

    [Fact]
    public void A_refused_command_completes_the_handshake_with_resp_status_and_interrupt()
    {
        var m = new Machine();
        m.Mmio.Write32(Reg(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        PspMailbox.Call(m, SevCommandId.SnpGctxCreate, PspMailbox.Buffer + 4, interrupt: true).ShouldBe(SevStatus.InvalidAddress);
        m.Mmio.Read32(Reg(PspMmio.CmdRespOffset), out uint raw);
        var answer = new PspCmdStatusRegister(raw);
        answer.Response.ShouldBeTrue();
        answer.Status.ShouldBe(SevStatus.InvalidAddress);
        m.Psp.InterruptCount.ShouldBe(1);
        // The mailbox is free again at once.
        PspMailbox.Call(m, SevCommandId.SnpDfFlush).ShouldBe(SevStatus.InvalidPlatformState);
        m.Psp.IgnoredDoorbells.ShouldBe(0);
    }

    [Theory]
    [InlineData(0x0010_0000_0000_0000UL)]
    [InlineData(0x8000_0000_0000_0000UL)]
    [InlineData(0xFFFF_FFFF_FFFF_F000UL)]
    public void Platform_status_refuses_an_output_page_beyond_the_limit(ulong page)
    {
        foreach (bool init in new[] { false, true })
        {
            var m = PspMailbox.SnpMachine(init).Machine;
            PspMailbox.WriteWords(m, PspMailbox.Buffer, page);
            PspMailbox.Call(m, SevCommandId.SnpPlatformStatus).ShouldBe(SevStatus.InvalidAddress);
        }
    }

    [Fact]
    public void Platform_status_writes_to_the_last_page_below_the_limit_before_init()
    {
        var m = PspMailbox.SnpMachine(init: false).Machine;
        PspMailbox.WriteWords(m, PspMailbox.Buffer, Limit - 0x1000);
        PspMailbox.Call(m, SevCommandId.SnpPlatformStatus).ShouldBe(SevStatus.Success);
        new SnpPlatformStatusBuffer([m.Memory.ReadU64(Limit - 0x1000), 0, 0, 0]).ApiMajor.ShouldBe((byte)1);
    }

    [Theory]
    [InlineData(0x0010_0000_0000_0000UL)]
    [InlineData(0x8000_0000_0000_0000UL)]
    public void Init_ex_refuses_a_range_list_beyond_the_limit(ulong list)
    {
        var m = PspMailbox.SnpMachine(init: false).Machine;
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithListPaddrEn(true).WithListPaddr(list)).ShouldBe(SevStatus.InvalidAddress);
        m.Iommu.SnpEnforced.ShouldBeFalse();
        PspMailbox.InitEx(m).ShouldBe(SevStatus.Success, "nothing was half done");
    }

    [Theory]
    [InlineData(0x0010_0000_0000_0000UL, 0x0300_0000UL)]
    [InlineData(0x0FFF_FFFF_FFFF_FFF8UL, 0x0300_0000UL)]
    [InlineData(0x0201_8000UL, 0x0010_0000_0000_0000UL)]
    [InlineData(0x0201_8000UL, 0x0FFF_FFFF_FFFF_F000UL)]
    public void Iopde_smash_refuses_pointers_beyond_the_limit(ulong iopde, ulong table)
    {
        var m = PspMailbox.SnpMachine().Machine;
        var buffer = default(ProposedIopdeSmashBuffer).WithIopdeAddress(iopde).WithPteTableAddress(table);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, buffer.GetWord(0), buffer.GetWord(1));
        PspMailbox.Call(m, ProposedCommands.IopdeSmash).ShouldBe(SevStatus.InvalidAddress);
        m.Iommu.SnpEnforced.ShouldBeTrue();
    }

    [Fact]
    public void Iopde_smash_reads_a_table_that_ends_at_the_limit_and_finds_no_ptes()
    {
        var m = PspMailbox.SnpMachine().Machine;
        ulong slot = TestDriver.Semaphore + 0x300;
        m.Memory.WriteU64(slot, TestDriver.Pte(0x4000_0000, 0).Raw);
        var buffer = default(ProposedIopdeSmashBuffer).WithIopdeAddress(slot).WithPteTableAddress(Limit - 0x1000);
        PspMailbox.WriteWords(m, PspMailbox.Buffer, buffer.GetWord(0), buffer.GetWord(1));
        PspMailbox.Call(m, ProposedCommands.IopdeSmash).ShouldBe(SevStatus.InvalidParam);
        new Hw.AmdIommu.AmdV1Pte(m.Memory.ReadU64(slot)).NextLevel.ShouldBe((byte)0);
    }

    [Theory]
    [InlineData(SevCommandId.SnpPageReclaim)]
    [InlineData(SevCommandId.SnpPageUnsmash)]
    [InlineData(SevCommandId.SnpGctxCreate)]
    public void Page_addresses_beyond_the_limit_get_invalid_address(SevCommandId command)
    {
        var m = PspMailbox.SnpMachine().Machine;
        foreach (ulong spa in new[] { Limit, 0xFFFF_FFFF_FFE0_0000UL })
        {
            PspMailbox.WriteWords(m, PspMailbox.Buffer, spa);
            PspMailbox.Call(m, command).ShouldBe(SevStatus.InvalidAddress, $"0x{spa:x}");
        }
        RmpStates.Classify(m.Rmp.Read(TestDriver.EventLog >> 12)).ShouldBe(RmpState.Firmware);
    }
}

public class PspHandshakeTests
{
    [Fact]
    public void A_doorbell_with_the_resp_bit_set_still_reads_busy_until_the_firmware_answers()
    {
        var m = new Machine();
        ulong cmdResp = Machine.PspMmioBase + PspMmio.CmdRespOffset;
        m.Mmio.Write32(cmdResp, new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpDfFlush).Raw | (1u << 31));
        m.Mmio.Read32(cmdResp, out uint busy);
        new PspCmdStatusRegister(busy).Response.ShouldBeFalse();
        ((busy >> 16) & 0x7FF).ShouldBe((uint)SevCommandId.SnpDfFlush, "the command id reads back while it runs");
        m.Clock.Delay(m.Costs.PspCommandNs);
        m.Mmio.Read32(cmdResp, out uint done);
        new PspCmdStatusRegister(done).Response.ShouldBeTrue();
    }

    [Fact]
    public void Firmware_page_changes_notify_exactly_the_page()
    {
        var m = PspMailbox.SnpMachine().Machine;
        const ulong Page = 0x5000_0000;
        m.Cpu.Rmpupdate(Page, new RmpUpdateArgs(0, true, false, true, 0)).ShouldBe(RmpUpdateResult.Success);
        var changes = new List<(ulong, ulong)>();
        m.Rmp.Changed += (first, last) => changes.Add((first, last));
        PspMailbox.WriteWords(m, PspMailbox.Buffer, Page);
        PspMailbox.Call(m, SevCommandId.SnpGctxCreate).ShouldBe(SevStatus.Success);
        changes.ShouldBe([(Page, Page + 0xFFF)]);
    }
}
