using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;

namespace Driver.Platform.Tests;

public class IommuRegisterTests
{
    [Fact]
    public void Efr_reads_the_configured_capabilities_and_ignores_writes()
    {
        var d = new DeviceRig();
        var efr = new ExtendedFeatureRegister(d.Read64(AmdIommuMmio.ExtendedFeatureOffset));
        efr.SnpSup.ShouldBeTrue();
        efr.IaSup.ShouldBeTrue();
        efr.Hats.ShouldBe(HostAddressTranslationSize.Level6);
        d.Write64(AmdIommuMmio.ExtendedFeatureOffset, 0);
        d.Read64(AmdIommuMmio.ExtendedFeatureOffset).ShouldBe(efr.Raw);
        d.Write64(AmdIommuMmio.ExtendedFeature2Offset, ulong.MaxValue);
        d.Read64(AmdIommuMmio.ExtendedFeature2Offset).ShouldBe(0UL);
    }

    [Fact]
    public void Base_registers_keep_reserved_bits_clear_and_reset_ring_pointers()
    {
        var d = new DeviceRig().Init(enable: false);
        d.Write64(AmdIommuMmio.CommandBufferHeadOffset, new RingPointerRegister(0).WithOffset(3).Raw);
        d.Write64(AmdIommuMmio.CommandBufferTailOffset, new RingPointerRegister(0).WithOffset(5).Raw);
        d.Write64(AmdIommuMmio.EventLogHeadOffset, new RingPointerRegister(0).WithOffset(3).Raw);
        d.Write64(AmdIommuMmio.EventLogTailOffset, new RingPointerRegister(0).WithOffset(4).Raw);
        new RingPointerRegister(d.Read64(AmdIommuMmio.CommandBufferHeadOffset)).Offset.ShouldBe((ushort)3);
        new RingPointerRegister(d.Read64(AmdIommuMmio.EventLogTailOffset)).Offset.ShouldBe((ushort)4);

        d.Write64(AmdIommuMmio.CommandBufferBaseOffset, ulong.MaxValue);
        var cmd = new CommandBufferBaseRegister(d.Read64(AmdIommuMmio.CommandBufferBaseOffset));
        cmd.IsValid.ShouldBeTrue();
        cmd.Base.ShouldBe(0xF_FFFF_FFFF_F000UL);
        cmd.Length.ShouldBe((byte)15);
        d.Read64(AmdIommuMmio.CommandBufferHeadOffset).ShouldBe(0UL);
        d.Read64(AmdIommuMmio.CommandBufferTailOffset).ShouldBe(0UL);

        d.Write64(AmdIommuMmio.EventLogBaseOffset, new EventLogBaseRegister(0).WithBase(DeviceRig.EventLog).WithLength(8).Raw);
        d.Read64(AmdIommuMmio.EventLogHeadOffset).ShouldBe(0UL);
        d.Read64(AmdIommuMmio.EventLogTailOffset).ShouldBe(0UL);

        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, ulong.MaxValue);
        new DeviceTableBaseRegister(d.Read64(AmdIommuMmio.DeviceTableBaseOffset)).IsValid.ShouldBeTrue();
        d.Write64(AmdIommuMmio.CommandBufferTailOffset, ulong.MaxValue);
        d.Read64(AmdIommuMmio.CommandBufferTailOffset).ShouldBe(RingPointerRegister.OffsetMask);
    }

    [Fact]
    public void Exclusion_registers_round_trip_and_the_limit_reads_its_low_bits_as_ones()
    {
        var d = new DeviceRig();
        d.Write64(AmdIommuMmio.ExclusionBaseOffset, new ExclusionBaseRegister(0).WithBase(0x5000).WithExEn(true).Raw);
        d.Write64(AmdIommuMmio.ExclusionLimitOffset, 0x7000);
        new ExclusionBaseRegister(d.Read64(AmdIommuMmio.ExclusionBaseOffset)).Base.ShouldBe(0x5000UL);
        d.Read64(AmdIommuMmio.ExclusionLimitOffset).ShouldBe(0x7FFFUL);
    }

    [Fact]
    public void Status_bits_are_w1c_and_run_bits_read_only()
    {
        var d = new DeviceRig().Init();
        d.Submit(DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        d.Machine.Scheduler.RunUntilIdle();
        var status = d.Status;
        status.ComWaitInt.ShouldBeTrue();
        status.CmdBufRun.ShouldBeTrue();
        status.EventLogRun.ShouldBeTrue();
        d.Write64(AmdIommuMmio.StatusOffset, new StatusRegister(0).WithEventLogInt(true).Raw);
        d.Status.ComWaitInt.ShouldBeTrue();
        d.Write64(AmdIommuMmio.StatusOffset, new StatusRegister(0).WithComWaitInt(true).WithCmdBufRun(true).WithEventLogRun(true).Raw);
        d.Status.ComWaitInt.ShouldBeFalse();
        d.Status.CmdBufRun.ShouldBeTrue();
    }

    [Fact]
    public void Thirty_two_bit_accesses_see_and_change_one_half()
    {
        var d = new DeviceRig();
        ulong ctl = Machine.IommuMmioBase + AmdIommuMmio.ControlOffset;
        d.Mmio.Write32(ctl, 0x1005).ShouldBe(MmioStatus.Ok);
        d.Mmio.Write32(ctl + 4, 0x2000_0000).ShouldBe(MmioStatus.Ok);
        d.Read64(AmdIommuMmio.ControlOffset).ShouldBe(0x2000_0000_0000_1005UL);
        d.Mmio.Read32(ctl + 4, out uint high).ShouldBe(MmioStatus.Ok);
        high.ShouldBe(0x2000_0000u);
        d.Mmio.Read32(ctl, out uint low).ShouldBe(MmioStatus.Ok);
        low.ShouldBe(0x1005u);
    }

    [Fact]
    public void A_32_bit_write_to_the_status_high_half_clears_no_w1c_bit()
    {
        var d = new DeviceRig().Init();
        d.Submit(DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        d.Machine.Scheduler.RunUntilIdle();
        d.Mmio.Write32(Machine.IommuMmioBase + AmdIommuMmio.StatusOffset + 4, 0).ShouldBe(MmioStatus.Ok);
        d.Status.ComWaitInt.ShouldBeTrue();
        d.Mmio.Write32(Machine.IommuMmioBase + AmdIommuMmio.StatusOffset, (uint)StatusRegister.ComWaitIntMask).ShouldBe(MmioStatus.Ok);
        d.Status.ComWaitInt.ShouldBeFalse();
    }

    [Fact]
    public void Unimplemented_offsets_read_zero_and_ignore_writes()
    {
        var d = new DeviceRig();
        d.Write64(0x1000, ulong.MaxValue);
        d.Read64(0x1000).ShouldBe(0UL);
    }
}
