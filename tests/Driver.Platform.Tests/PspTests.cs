using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Psp;
using Driver.Platform.Snp;

namespace Driver.Platform.Tests;

public class PspTests
{
    private const ulong Page = 0x5000_0000;
    private const ulong Status = 0x0410_0000;

    private static ulong Reg(ulong offset) => Machine.PspMmioBase + offset;

    private static void MakeFirmware(Machine m, ulong page) =>
        m.Cpu.Rmpupdate(page, new RmpUpdateArgs(0, true, false, true, 0)).ShouldBe(RmpUpdateResult.Success);

    private static SevStatus Call(Machine m, SevCommandId id, ulong word)
    {
        PspMailbox.WriteWords(m, PspMailbox.Buffer, word);
        return PspMailbox.Call(m, id);
    }

    [Fact]
    public void The_mailbox_answers_after_the_command_time_with_resp_and_status()
    {
        var d = PspMailbox.SnpMachine(init: false);
        var m = d.Machine;
        PspMailbox.WriteWords(m, PspMailbox.Buffer, 0);
        m.Mmio.Write32(Reg(PspMmio.CmdBufferAddressLoOffset), (uint)PspMailbox.Buffer);
        m.Mmio.Write32(Reg(PspMmio.CmdBufferAddressHiOffset), 0);
        m.Mmio.Write32(Reg(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        m.Mmio.Write32(Reg(PspMmio.CmdRespOffset), new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpDfFlush).WithInterruptOnCompletion(true).Raw);
        m.Mmio.Read32(Reg(PspMmio.CmdRespOffset), out uint busy);
        new PspCmdStatusRegister(busy).Response.ShouldBeFalse();
        m.Mmio.Write32(Reg(PspMmio.CmdRespOffset), new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpInitEx).Raw);
        m.Psp.IgnoredDoorbells.ShouldBe(1);
        m.Clock.Delay(m.Costs.PspCommandNs);
        m.Mmio.Read32(Reg(PspMmio.CmdRespOffset), out uint done);
        var answer = new PspCmdStatusRegister(done);
        answer.Response.ShouldBeTrue();
        answer.Status.ShouldBe(SevStatus.InvalidPlatformState);
        m.Psp.InterruptCount.ShouldBe(1);
        m.Mmio.Read32(Reg(PspMmio.InterruptStatusOffset), out uint irq);
        new PspInterruptStatusRegister(irq).CommandComplete.ShouldBeTrue();
        m.Mmio.Write32(Reg(PspMmio.InterruptStatusOffset), new PspInterruptStatusRegister(0).WithCommandComplete(true).Raw);
        m.Mmio.Read32(Reg(PspMmio.InterruptStatusOffset), out irq);
        irq.ShouldBe(0u);
        m.Psp.CommandsCompleted.ShouldBe(1);
    }

    [Fact]
    public void Completion_raises_no_interrupt_unless_both_ioc_and_the_enable_ask()
    {
        var m = new Machine();
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: true);
        m.Psp.InterruptCount.ShouldBe(0);
        m.Mmio.Write32(Reg(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: false);
        m.Psp.InterruptCount.ShouldBe(0);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: true);
        m.Psp.InterruptCount.ShouldBe(1);
        m.Psp.CommandsCompleted.ShouldBe(3);
    }

    [Fact]
    public void A_completion_interrupt_raises_the_psp_line_which_the_machine_delivers_after_the_access()
    {
        var m = new Machine();
        int handled = 0;
        long handledAt = -1;
        m.Interrupts.RequestIrq(Machine.PspIrq, () =>
        {
            handled++;
            handledAt = m.Clock.NowNs;
        }).ShouldBeTrue();
        int raised = 0;
        m.Psp.Interrupt += () => raised++;
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: true);
        raised.ShouldBe(0, "the enable is off");
        handled.ShouldBe(0);
        m.Mmio.Write32(Reg(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: false);
        raised.ShouldBe(0, "IOC was not asked");
        long before = m.Clock.NowNs;
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: true);
        raised.ShouldBe(1);
        handled.ShouldBe(1);
        handledAt.ShouldBeGreaterThanOrEqualTo(before + m.Costs.PspCommandNs);
        m.Interrupts.Spurious.ShouldBe(0);
        m.Psp.InterruptCount.ShouldBe(1);
    }

    [Fact]
    public void A_psp_completion_without_a_handler_on_its_line_is_a_spurious_interrupt()
    {
        var m = new Machine();
        m.Mmio.Write32(Reg(PspMmio.InterruptEnableOffset), new PspInterruptRegister(0).WithCommandComplete(true).Raw);
        PspMailbox.Call(m, SevCommandId.SnpDfFlush, interrupt: true);
        m.Interrupts.Spurious.ShouldBe(1);
        m.Interrupts.Delivered.ShouldBe(0);
    }

    [Fact]
    public void Snp_init_ex_refuses_iommu_pages_inside_a_2m_rmp_entry()
    {
        var d = new DeviceRig().Init();
        d.Machine.Cpu.Rmpupdate(DeviceRig.EventLog & ~0x1F_FFFFUL, new RmpUpdateArgs(0, false, true, false, 0)).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(d.Machine).ShouldBe(SevStatus.InvalidPageState);
    }

    [Fact]
    public void Registers_read_back_and_the_feature_register_names_sev()
    {
        var m = new Machine();
        m.Mmio.Write64(Reg(PspMmio.CmdBufferAddressLoOffset), 0x1234_5678_9ABC_D000).ShouldBe(MmioStatus.Ok);
        m.Mmio.Read64(Reg(PspMmio.CmdBufferAddressLoOffset), out ulong both);
        both.ShouldBe(0x1234_5678_9ABC_D000UL);
        m.Mmio.Read32(Reg(PspMmio.CmdBufferAddressHiOffset), out uint hi);
        hi.ShouldBe(0x1234_5678u);
        m.Mmio.Read32(Reg(PspMmio.FeatureOffset), out uint feature);
        new PspFeatureRegister(feature).Sev.ShouldBeTrue();
        m.Mmio.Read32(Reg(PspMmio.InterruptEnableOffset), out uint en);
        en.ShouldBe(0u);
        m.Mmio.Read32(Reg(0x100), out uint nothing);
        nothing.ShouldBe(0u);
    }

    [Fact]
    public void An_unknown_command_or_reserved_doorbell_bits_answer_invalid_command()
    {
        var m = new Machine();
        PspMailbox.Call(m, SevCommandId.SnpLaunchStart).ShouldBe(SevStatus.InvalidCommand);
        m.Mmio.Write32(Reg(PspMmio.CmdRespOffset), new PspCmdRespRegister(0).WithCommandId(SevCommandId.SnpDfFlush).Raw | (1u << 27));
        m.Clock.Delay(10);
        m.Mmio.Read32(Reg(PspMmio.CmdRespOffset), out uint raw);
        new PspCmdStatusRegister(raw).Status.ShouldBe(SevStatus.InvalidCommand);
        PspMailbox.Call(m, SevCommandId.SnpPlatformStatus, IPhysicalMemory.Limit - 4).ShouldBe(SevStatus.InvalidAddress);
    }

    [Fact]
    public void Snp_init_ex_needs_the_iommu_enabled()
    {
        var d = new DeviceRig().Init(enable: false);
        PspMailbox.InitEx(d.Machine).ShouldBe(SevStatus.HwsevRetPlatform);
        d.Machine.Iommu.SnpEnforced.ShouldBeFalse();
    }

    [Fact]
    public void Snp_init_ex_needs_efr_snp_support()
    {
        var config = new MachineConfig { Iommu = new Iommu.IommuConfig { Efr = new ExtendedFeatureRegister(0).WithHats(HostAddressTranslationSize.Level4) } };
        var d = new DeviceRig(config).Init();
        PspMailbox.InitEx(d.Machine).ShouldBe(SevStatus.HwsevRetPlatform);
    }

    [Fact]
    public void Snp_init_ex_enforces_locks_and_takes_the_iommu_pages()
    {
        var d = new DeviceRig().Init();
        ulong cwwb = DeviceRig.Semaphore;
        d.Write64(AmdIommuMmio.ExclusionBaseOffset, new ExclusionBaseRegister(0).WithBase(cwwb).WithExEn(true).Raw);
        d.Write64(AmdIommuMmio.ExclusionLimitOffset, cwwb);
        PspMailbox.InitEx(d.Machine).ShouldBe(SevStatus.Success);
        d.Machine.Iommu.SnpEnforced.ShouldBeTrue();
        d.Machine.Iommu.ConfigLocked.ShouldBeTrue();
        RmpStates.Classify(d.Machine.Rmp.Read(DeviceRig.EventLog >> 12)).ShouldBe(RmpState.Firmware);
        RmpStates.Classify(d.Machine.Rmp.Read(cwwb >> 12)).ShouldBe(RmpState.Firmware);
        RmpStates.Classify(d.Machine.Rmp.Read((DeviceRig.EventLog >> 12) + 1)).ShouldBe(RmpState.Hypervisor);

        // Locked: base registers and the enable no longer change.
        ulong devTab = d.Read64(AmdIommuMmio.DeviceTableBaseOffset);
        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, 0);
        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, 0);
        d.Write64(AmdIommuMmio.EventLogBaseOffset, 0);
        d.Write64(AmdIommuMmio.ExclusionBaseOffset, 0);
        d.Write64(AmdIommuMmio.ExclusionLimitOffset, 0);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithIommuEn(false).Raw);
        d.Read64(AmdIommuMmio.DeviceTableBaseOffset).ShouldBe(devTab);
        new EventLogBaseRegister(d.Read64(AmdIommuMmio.EventLogBaseOffset)).Base.ShouldBe(DeviceRig.EventLog);
        new CommandBufferBaseRegister(d.Read64(AmdIommuMmio.CommandBufferBaseOffset)).Base.ShouldBe(DeviceRig.CommandRing);
        new ExclusionBaseRegister(d.Read64(AmdIommuMmio.ExclusionBaseOffset)).Base.ShouldBe(cwwb);
        (d.Read64(AmdIommuMmio.ExclusionLimitOffset) & ~0xFFFUL).ShouldBe(cwwb);
        d.Control.IommuEn.ShouldBeTrue();
        d.RunCommands().ShouldBeTrue("the IOMMU still writes its own semaphore");

        PspMailbox.InitEx(d.Machine).ShouldBe(SevStatus.InvalidPlatformState);
    }

    [Fact]
    public void Snp_init_ex_rejects_malformed_buffers_and_busy_iommu_pages()
    {
        var d = new DeviceRig().Init();
        var m = d.Machine;
        PspMailbox.InitEx(m, WithReserved(default(SnpInitExBuffer).WithInitRmp(true))).ShouldBe(SevStatus.InvalidParam);
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithListPaddrEn(true)).ShouldBe(SevStatus.InvalidParam);
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithListPaddrEn(true).WithListPaddr(0x1010)).ShouldBe(SevStatus.InvalidParam);
        PspMailbox.InitEx(m, default(SnpInitExBuffer)).ShouldBe(SevStatus.RmpInitRequired);
        MakeFirmware(m, DeviceRig.EventLog);
        PspMailbox.InitEx(m).ShouldBe(SevStatus.InvalidPageState);
        m.Iommu.SnpEnforced.ShouldBeFalse();
        PspMailbox.Call(m, SevCommandId.SnpInitEx, PspMailbox.Buffer + 4).ShouldBe(SevStatus.InvalidAddress);
    }

    private static SnpInitExBuffer WithReserved(SnpInitExBuffer b)
    {
        var words = new ulong[8];
        b.CopyTo(words);
        words[0] |= 1UL << 7;
        return new SnpInitExBuffer(words);
    }

    [Fact]
    public void Snp_init_ex_with_a_range_list_and_without_init_rmp_after_a_first_init()
    {
        var d = new DeviceRig().Init();
        var m = d.Machine;
        PspMailbox.InitEx(m, default(SnpInitExBuffer).WithInitRmp(true).WithListPaddrEn(true).WithListPaddr(0x0420_0000)).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        PspMailbox.InitEx(m, default(SnpInitExBuffer)).ShouldBe(SevStatus.InvalidPageState, "the log pages wait in Reclaim");
        m.Cpu.Rmpupdate(DeviceRig.EventLog, default).ShouldBe(RmpUpdateResult.Success);
        PspMailbox.InitEx(m, default(SnpInitExBuffer)).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Snp_shutdown_ex_turns_enforcement_off_and_returns_the_pages_for_reclaim()
    {
        var d = PspMailbox.SnpMachine();
        var m = d.Machine;
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
        m.Iommu.SnpEnforced.ShouldBeFalse();
        m.Iommu.ConfigLocked.ShouldBeFalse();
        RmpStates.Classify(m.Rmp.Read(DeviceRig.EventLog >> 12)).ShouldBe(RmpState.Reclaim);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success, "shutting down twice is harmless");
        m.Cpu.Rmpupdate(DeviceRig.EventLog, default).ShouldBe(RmpUpdateResult.Success);
    }

    [Fact]
    public void Snp_shutdown_ex_without_the_iommu_bit_leaves_the_iommu_enforcing()
    {
        var m = PspMailbox.SnpMachine().Machine;
        PspMailbox.ShutdownEx(m, iommu: false).ShouldBe(SevStatus.Success);
        m.Iommu.SnpEnforced.ShouldBeTrue();
        RmpStates.Classify(m.Rmp.Read(DeviceRig.EventLog >> 12)).ShouldBe(RmpState.Firmware);
    }

    [Fact]
    public void Snp_shutdown_ex_checks_its_buffer()
    {
        var m = PspMailbox.SnpMachine().Machine;
        PspMailbox.ShutdownEx(m, length: 16).ShouldBe(SevStatus.InvalidLen);
        Call(m, SevCommandId.SnpShutdownEx, 8UL | (1UL << 40)).ShouldBe(SevStatus.InvalidParam);
        PspMailbox.Call(m, SevCommandId.SnpShutdownEx, PspMailbox.Buffer + 1).ShouldBe(SevStatus.InvalidAddress);
        m.Iommu.SnpEnforced.ShouldBeTrue();
    }

    [Fact]
    public void Platform_status_reports_state_and_wants_a_firmware_page_once_up()
    {
        var d = new DeviceRig().Init();
        var m = d.Machine;
        Call(m, SevCommandId.SnpPlatformStatus, Status).ShouldBe(SevStatus.Success);
        var before = new SnpPlatformStatusBuffer([m.Memory.ReadU64(Status), m.Memory.ReadU64(Status + 8), m.Memory.ReadU64(Status + 16), m.Memory.ReadU64(Status + 24)]);
        before.State.ShouldBe((byte)0);
        before.IsRmpInitialized.ShouldBeFalse();
        before.ApiMajor.ShouldBe((byte)1);
        before.ApiMinor.ShouldBe((byte)55);
        before.BuildId.ShouldBe(1u);
        PspMailbox.InitEx(m).ShouldBe(SevStatus.Success);
        Call(m, SevCommandId.SnpPlatformStatus, Status).ShouldBe(SevStatus.InvalidPageState);
        Call(m, SevCommandId.SnpPlatformStatus, Status + 8).ShouldBe(SevStatus.InvalidAddress);
        MakeFirmware(m, Status);
        Call(m, SevCommandId.SnpPlatformStatus, Status).ShouldBe(SevStatus.Success);
        var after = new SnpPlatformStatusBuffer([m.Memory.ReadU64(Status), m.Memory.ReadU64(Status + 8), m.Memory.ReadU64(Status + 16), m.Memory.ReadU64(Status + 24)]);
        after.State.ShouldBe((byte)1);
        after.IsRmpInitialized.ShouldBeTrue();
        Call(m, SevCommandId.SnpPlatformStatus, 0x10_0000_0000).ShouldBe(SevStatus.InvalidPageState);
    }

    [Fact]
    public void Gctx_create_turns_a_firmware_page_into_a_context_page()
    {
        var m = PspMailbox.SnpMachine().Machine;
        Call(m, SevCommandId.SnpGctxCreate, Page).ShouldBe(SevStatus.InvalidPageState);
        MakeFirmware(m, Page);
        m.Memory.WriteU64(Page + 8, 0x55);
        Call(m, SevCommandId.SnpGctxCreate, Page).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(Page >> 12)).ShouldBe(RmpState.Context);
        MakeFirmware(m, Status);
        Call(m, SevCommandId.SnpPlatformStatus, Status).ShouldBe(SevStatus.Success);
        new SnpPlatformStatusBuffer([m.Memory.ReadU64(Status), m.Memory.ReadU64(Status + 8), 0, 0]).GuestCount.ShouldBe(1u);
        m.Memory.ReadU64(Page + 8).ShouldBe(0UL);
        Call(m, SevCommandId.SnpGctxCreate, Page).ShouldBe(SevStatus.InvalidPageState);
        Call(m, SevCommandId.SnpGctxCreate, DeviceRig.EventLog).ShouldBe(SevStatus.InvalidPageState);
        Call(m, SevCommandId.SnpGctxCreate, 0x10_0000_0000).ShouldBe(SevStatus.InvalidAddress);
        m.Cpu.Rmpupdate(Page + 0x20_0000, new RmpUpdateArgs(0, true, true, true, 0)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpGctxCreate, Page + 0x20_0000).ShouldBe(SevStatus.InvalidPageSize);
        Call(m, SevCommandId.SnpPlatformStatus, Page + 0x1000).ShouldBe(SevStatus.InvalidPageState);
    }

    [Fact]
    public void Commands_that_need_snp_answer_invalid_platform_state_before_init()
    {
        var m = new DeviceRig().Init().Machine;
        Call(m, SevCommandId.SnpGctxCreate, Page).ShouldBe(SevStatus.InvalidPlatformState);
        Call(m, SevCommandId.SnpPageReclaim, Page).ShouldBe(SevStatus.InvalidPlatformState);
        Call(m, SevCommandId.SnpPageUnsmash, Page).ShouldBe(SevStatus.InvalidPlatformState);
        Call(m, SevCommandId.SnpDfFlush, 0).ShouldBe(SevStatus.InvalidPlatformState);
        Call(m, ProposedCommands.IopdeSmash, 0).ShouldBe(SevStatus.InvalidPlatformState);
    }

    [Fact]
    public void Page_reclaim_moves_firmware_and_pre_guest_pages_on()
    {
        var m = PspMailbox.SnpMachine().Machine;
        MakeFirmware(m, Page);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page).Raw).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(Page >> 12)).ShouldBe(RmpState.Reclaim);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page).Raw).ShouldBe(SevStatus.Success, "not immutable: at once");

        m.Cpu.Rmpupdate(Page + 0x1000, new RmpUpdateArgs(0x7000, true, false, true, 4)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page + 0x1000).Raw).ShouldBe(SevStatus.Success);
        var e = m.Rmp.Read((Page >> 12) + 1);
        RmpStates.Classify(e).ShouldBe(RmpState.GuestInvalid);
        e.Gpa.ShouldBe(0x7000UL);
    }

    [Fact]
    public void Page_reclaim_error_codes()
    {
        var m = PspMailbox.SnpMachine().Machine;
        MakeFirmware(m, Page);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page).WithPageSize2M(true).Raw).ShouldBe(SevStatus.InvalidPageSize);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page + 0x1000).WithPageSize2M(true).Raw).ShouldBe(SevStatus.InvalidAddress);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(0x10_0000_0000).Raw).ShouldBe(SevStatus.InvalidAddress);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(DeviceRig.EventLog).Raw).ShouldBe(SevStatus.InvalidPageState);
        m.Rmp.Write((Page >> 12) + 2, default(RmpEntry).WithAssigned(true).WithImmutable(true).WithAsid(3).WithValidated(true));
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page + 0x2000).Raw).ShouldBe(SevStatus.InvalidPageState);
    }

    [Fact]
    public void Page_reclaim_of_a_2m_firmware_page_and_of_a_context_page_which_then_needs_df_flush()
    {
        var m = PspMailbox.SnpMachine().Machine;
        m.Cpu.Rmpupdate(Page, new RmpUpdateArgs(0, true, true, true, 0)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(Page).WithPageSize2M(true).Raw).ShouldBe(SevStatus.Success);
        var tail = m.Rmp.Read((Page >> 12) + 511);
        RmpStates.Classify(tail).ShouldBe(RmpState.Reclaim);
        tail.PageSize.ShouldBeTrue();

        ulong ctx = Page + 0x40_0000;
        MakeFirmware(m, ctx);
        Call(m, SevCommandId.SnpGctxCreate, ctx).ShouldBe(SevStatus.Success);
        Call(m, SevCommandId.SnpPageReclaim, new SnpPageReclaimBuffer(0).WithAddress(ctx).Raw).ShouldBe(SevStatus.Success);
        RmpStates.Classify(m.Rmp.Read(ctx >> 12)).ShouldBe(RmpState.Reclaim);
        MakeFirmware(m, Status);
        Call(m, SevCommandId.SnpPlatformStatus, Status).ShouldBe(SevStatus.Success);
        new SnpPlatformStatusBuffer([m.Memory.ReadU64(Status), m.Memory.ReadU64(Status + 8), 0, 0]).GuestCount.ShouldBe(0u);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.DfflushRequired);
        Call(m, SevCommandId.SnpDfFlush, 0).ShouldBe(SevStatus.Success);
        PspMailbox.ShutdownEx(m).ShouldBe(SevStatus.Success);
    }

    [Fact]
    public void Page_unsmash_folds_uniform_consecutive_entries()
    {
        var m = PspMailbox.SnpMachine().Machine;
        m.Cpu.Rmpupdate(Page, new RmpUpdateArgs(0x20_0000, true, true, false, 6)).ShouldBe(RmpUpdateResult.Success);
        m.Cpu.Psmash(Page).ShouldBe(PsmashResult.Success);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(Page).WithPageSize2M(true).Raw).ShouldBe(SevStatus.Success);
        m.Rmp.ReadEffective((Page >> 12) + 100, out bool is2M).Gpa.ShouldBe(0x20_0000UL);
        is2M.ShouldBeTrue();
        m.Rmp.Read((Page >> 12) + 100).Gpa.ShouldBe(0x26_4000UL);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(Page).Raw).ShouldBe(SevStatus.InvalidPageSize);
    }

    [Fact]
    public void Page_unsmash_refuses_mixed_or_unaligned_entries()
    {
        var m = PspMailbox.SnpMachine().Machine;
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(Page + 0x1000).Raw).ShouldBe(SevStatus.InvalidAddress);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(0x10_0000_0000).Raw).ShouldBe(SevStatus.InvalidAddress);
        m.Cpu.Rmpupdate(Page + 0x5000, new RmpUpdateArgs(0x5000, true, false, false, 6)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(Page).Raw).ShouldBe(SevStatus.InvalidPageState);

        ulong other = Page + 0x20_0000;
        m.Cpu.Rmpupdate(other, new RmpUpdateArgs(0x1000, true, false, false, 6)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(other).Raw).ShouldBe(SevStatus.InvalidPageState);

        ulong third = Page + 0x40_0000;
        for (ulong i = 0; i < 512; i++)
            m.Cpu.Rmpupdate(third + (i << 12), new RmpUpdateArgs(i == 7 ? 0 : i << 12, true, false, false, 6)).ShouldBe(RmpUpdateResult.Success);
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(third).Raw).ShouldBe(SevStatus.InvalidPageState);
        m.Cpu.Rmpupdate(third + 0x7000, new RmpUpdateArgs(0x7000, true, false, false, 6)).ShouldBe(RmpUpdateResult.Success);
        m.Rmp.Write((third >> 12) + 9, m.Rmp.Read((third >> 12) + 9).WithVmplPermissions(1));
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(third).Raw).ShouldBe(SevStatus.InvalidPageState);
        m.Rmp.Write((third >> 12) + 9, m.Rmp.Read((third >> 12) + 9).WithVmplPermissions(0));
        Call(m, SevCommandId.SnpPageUnsmash, new SnpPageUnsmashBuffer(0).WithAddress(third).Raw).ShouldBe(SevStatus.Success);
    }
}
