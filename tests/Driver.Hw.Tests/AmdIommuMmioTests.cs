using Driver.Hw.AmdIommu;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layouts and block of hwdefs/amd-iommu/mmio.hwdef.</summary>
public class AmdIommuMmioTests
{
    // A 2 MiB device table (Linux size for 64K DeviceIDs) at 0x1_2340_0000:
    // Size = (0x200000 >> 12) - 1 = 0x1ff in bits 8:0, base in 51:12.
    private const ulong DevTabRaw = 0x0000_0001_2340_01FFUL;

    [Fact]
    public void DeviceTableBase_decodes_size_and_base()
    {
        var reg = new DeviceTableBaseRegister(DevTabRaw);

        reg.Size.ShouldBe((ushort)0x1ff);
        reg.Base.ShouldBe(0x1_2340_0000UL);
        ((reg.Size + 1) * 128).ShouldBe(65536);
        reg.IsValid.ShouldBeTrue();
        reg.ToString().ShouldBe("DeviceTableBaseRegister { Size = 0x1ff, Base = 0x123400000 }");
    }

    [Fact]
    public void DeviceTableBase_encodes_and_rejects_reserved_bits()
    {
        DeviceTableBaseRegister.Reset.WithSize(0x1ff).WithBase(0x1_2340_0000UL).Raw.ShouldBe(DevTabRaw);
        DeviceTableBaseRegister.SizeShift.ShouldBe(0);
        DeviceTableBaseRegister.SizeMask.ShouldBe(0x1FFUL);
        DeviceTableBaseRegister.BaseShift.ShouldBe(12);
        DeviceTableBaseRegister.BaseMask.ShouldBe(0x000F_FFFF_FFFF_F000UL);
        DeviceTableBaseRegister.Res0Mask.ShouldBe(0xFFF0_0000_0000_0E00UL);
        new DeviceTableBaseRegister(DevTabRaw | (1UL << 9)).IsValid.ShouldBeFalse();
        new DeviceTableBaseRegister(DevTabRaw | (1UL << 52)).IsValid.ShouldBeFalse();
        Should.Throw<ArgumentOutOfRangeException>(() => DeviceTableBaseRegister.Reset.WithSize(0x200));
    }

    [Fact]
    public void CommandBufferBase_round_trips_512_entries()
    {
        // Linux: 512 entries = ComLen 9 in bits 59:56.
        const ulong raw = 0x0900_0000_0ABC_D000UL;
        var reg = new CommandBufferBaseRegister(raw);

        reg.Base.ShouldBe(0xABC_D000UL);
        reg.Length.ShouldBe((byte)9);
        reg.ToString().ShouldBe("CommandBufferBaseRegister { Base = 0xabcd000, Length = 0x9 }");
        CommandBufferBaseRegister.Reset.WithBase(0xABC_D000UL).WithLength(9).Raw.ShouldBe(raw);
        new CommandBufferBaseRegister(raw | (1UL << 60)).IsValid.ShouldBeFalse();
        new CommandBufferBaseRegister(raw | 0x800UL).IsValid.ShouldBeFalse();
        Should.Throw<ArgumentOutOfRangeException>(() => CommandBufferBaseRegister.Reset.WithLength(16));
    }

    [Fact]
    public void EventLogBase_round_trips_256_entries()
    {
        const ulong raw = 0x0800_0000_0500_0000UL;
        var reg = new EventLogBaseRegister(raw);

        reg.Base.ShouldBe(0x500_0000UL);
        reg.Length.ShouldBe((byte)8);
        reg.ToString().ShouldBe("EventLogBaseRegister { Base = 0x5000000, Length = 0x8 }");
        EventLogBaseRegister.Reset.WithBase(0x500_0000UL).WithLength(8).Raw.ShouldBe(raw);
        new EventLogBaseRegister(raw | (1UL << 52)).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void Control_decodes_what_Linux_enables()
    {
        // IommuEn 0, EventLogEn 2, EventIntEn 3, ComWaitIntEn 4, InvTimeout 1 ms (7:5 = 1), CmdBufEn 12.
        var reg = new ControlRegister(0x103DUL);

        reg.IommuEn.ShouldBeTrue();
        reg.HtTunEn.ShouldBeFalse();
        reg.EventLogEn.ShouldBeTrue();
        reg.EventIntEn.ShouldBeTrue();
        reg.ComWaitIntEn.ShouldBeTrue();
        reg.InvTimeout.ShouldBe(InvalidationTimeout.Timeout1Ms);
        reg.CmdBufEn.ShouldBeTrue();
        reg.PprEn.ShouldBeFalse();
        reg.GtEn.ShouldBeFalse();
        reg.GaEn.ShouldBeFalse();
        reg.IsValid.ShouldBeTrue();
        reg.ToString().ShouldBe(
            "ControlRegister { IommuEn = true, HtTunEn = false, EventLogEn = true, EventIntEn = true, "
            + "ComWaitIntEn = true, InvTimeout = Timeout1Ms, PassPwEn = false, ResPassPwEn = false, "
            + "CoherentEn = false, IsocEn = false, CmdBufEn = true, PprLogEn = false, PprIntEn = false, "
            + "PprEn = false, GtEn = false, GaEn = false, GamEn = false, GaLogEn = false, GaIntEn = false, "
            + "NumIntRemapMode = 0x0, EphEn = false, XtEn = false, IntCapXtEn = false, Gcr3TrpMode = false, "
            + "IrtCacheDis = false, SnpAvicEn = false }");
    }

    [Fact]
    public void Control_encodes_through_With()
    {
        ControlRegister.Reset
            .WithIommuEn(true)
            .WithEventLogEn(true)
            .WithEventIntEn(true)
            .WithComWaitIntEn(true)
            .WithInvTimeout(InvalidationTimeout.Timeout1Ms)
            .WithCmdBufEn(true)
            .Raw.ShouldBe(0x103DUL);
        ControlRegister.InvTimeoutShift.ShouldBe(5);
        ControlRegister.InvTimeoutMask.ShouldBe(0xE0UL);
        ControlRegister.CmdBufEnMask.ShouldBe(1UL << 12);
        ControlRegister.Reset.WithGaEn(true).Raw.ShouldBe(1UL << 17);
        ControlRegister.Reset.WithSnpAvicEn(true).Raw.ShouldBe(1UL << 61);
    }

    [Fact]
    public void Control_ApplyWrite_takes_rw_bits_and_keeps_ignored_bits()
    {
        var current = new ControlRegister(0x103DUL);
        // Disable everything but IommuEn; also try to set ignored bit 18.
        var written = new ControlRegister(0x1UL | (1UL << 18));

        ControlRegister.ApplyWrite(current, written).Raw.ShouldBe(0x1UL);
        // An ignored bit already set stays as it was, whatever is written.
        ControlRegister.ApplyWrite(new ControlRegister(1UL << 18), new ControlRegister(0x1000UL))
            .Raw.ShouldBe((1UL << 18) | 0x1000UL);
    }

    [Fact]
    public void ExclusionBase_and_Limit_describe_one_range()
    {
        var baseReg = new ExclusionBaseRegister(0x700_0001UL);
        baseReg.ExEn.ShouldBeTrue();
        baseReg.Allow.ShouldBeFalse();
        baseReg.Base.ShouldBe(0x700_0000UL);
        baseReg.ToString().ShouldBe("ExclusionBaseRegister { ExEn = true, Allow = false, Base = 0x7000000 }");
        ExclusionBaseRegister.Reset.WithExEn(true).WithBase(0x700_0000UL).Raw.ShouldBe(0x700_0001UL);
        ExclusionBaseRegister.Reset.WithAllow(true).Raw.ShouldBe(0x2UL);
        new ExclusionBaseRegister(0x700_0001UL | 0x4UL).IsValid.ShouldBeFalse();

        // QEMU reads the low 12 bits of the limit as ones: they are ignored, not reserved.
        var limit = new ExclusionLimitRegister(0x700_0FFFUL);
        limit.Limit.ShouldBe(0x700_0000UL);
        limit.IsValid.ShouldBeTrue();
        limit.ToString().ShouldBe("ExclusionLimitRegister { Limit = 0x7000000 }");
        ExclusionLimitRegister.Reset.WithLimit(0x700_0000UL).Raw.ShouldBe(0x700_0000UL);
        new ExclusionLimitRegister(1UL << 52).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void ExtendedFeature_decodes_capabilities()
    {
        // PreF 0, PPR 1, GT 4, IA 6, GA 7, HE 8, HATS = 2 (6 levels), GATS = 2, SNPSup 63.
        const ulong raw = 0x8000_0000_0000_29D3UL;
        var efr = new ExtendedFeatureRegister(raw);

        efr.PrefetchSup.ShouldBeTrue();
        efr.PprSup.ShouldBeTrue();
        efr.XtSup.ShouldBeFalse();
        efr.GtSup.ShouldBeTrue();
        efr.IaSup.ShouldBeTrue();
        efr.GaSup.ShouldBeTrue();
        efr.HeSup.ShouldBeTrue();
        efr.PcSup.ShouldBeFalse();
        efr.Hats.ShouldBe(HostAddressTranslationSize.Level6);
        efr.Gats.ShouldBe((byte)2);
        efr.SnpSup.ShouldBeTrue();
        efr.ToString().ShouldBe(
            "ExtendedFeatureRegister { PrefetchSup = true, PprSup = true, XtSup = false, NxSup = false, "
            + "GtSup = true, IaSup = true, GaSup = true, HeSup = true, PcSup = false, Hats = Level6, "
            + "Gats = 0x2, GlxSup = 0x0, GamSup = false, PasMax = 0x0, MsiCapMmioSup = false, "
            + "GioSup = false, HaSup = false, EphSup = false, HdSup = false, SnpSup = true }");
    }

    [Fact]
    public void ExtendedFeature_encodes_and_is_read_only()
    {
        const ulong raw = 0x8000_0000_0000_29D3UL;
        var built = ExtendedFeatureRegister.Reset
            .WithPrefetchSup(true).WithPprSup(true).WithGtSup(true).WithIaSup(true)
            .WithGaSup(true).WithHeSup(true).WithHats(HostAddressTranslationSize.Level6)
            .WithGats(2).WithSnpSup(true);
        built.Raw.ShouldBe(raw);
        ExtendedFeatureRegister.SnpSupMask.ShouldBe(1UL << 63);
        ExtendedFeatureRegister.HatsShift.ShouldBe(10);
        ExtendedFeatureRegister.IaSupMask.ShouldBe(1UL << 6);
        new ExtendedFeatureRegister(0xC00UL).Hats.ShouldBe(HostAddressTranslationSize.Unsupported);
        // Nothing the driver writes changes a read-only capability register.
        ExtendedFeatureRegister.ApplyWrite(built, new ExtendedFeatureRegister(0UL)).Raw.ShouldBe(raw);
        ExtendedFeatureRegister.ApplyWrite(ExtendedFeatureRegister.Reset, built).Raw.ShouldBe(0UL);
    }

    [Fact]
    public void ExtendedFeature2_reports_SEV_TIO()
    {
        var efr2 = new ExtendedFeature2Register(0x2UL);
        efr2.SevSnpIoSup.ShouldBeTrue();
        efr2.ToString().ShouldBe("ExtendedFeature2Register { SevSnpIoSup = true }");
        ExtendedFeature2Register.Reset.WithSevSnpIoSup(true).Raw.ShouldBe(0x2UL);
        // Every other bit is ignored, so nothing makes the value invalid.
        new ExtendedFeature2Register(ulong.MaxValue).IsValid.ShouldBeTrue();
        ExtendedFeature2Register.Res0Mask.ShouldBe(0UL);
        ExtendedFeature2Register.ApplyWrite(efr2, ExtendedFeature2Register.Reset).Raw.ShouldBe(0x2UL);
    }

    [Fact]
    public void RingPointer_holds_the_entry_index_in_bits_18_to_4()
    {
        // Byte offset 0x1f0 = entry 31 of 16-byte entries.
        var head = new RingPointerRegister(0x1F0UL);
        head.Offset.ShouldBe((ushort)0x1f);
        head.IsValid.ShouldBeTrue();
        head.ToString().ShouldBe("RingPointerRegister { Offset = 0x1f }");
        RingPointerRegister.Reset.WithOffset(0x1f).Raw.ShouldBe(0x1F0UL);
        RingPointerRegister.OffsetShift.ShouldBe(4);
        RingPointerRegister.OffsetMask.ShouldBe(0x7_FFF0UL);
        RingPointerRegister.Res0Mask.ShouldBe(~0x7_FFF0UL);
        new RingPointerRegister(0x1F8UL).IsValid.ShouldBeFalse();
        new RingPointerRegister(1UL << 19).IsValid.ShouldBeFalse();
        RingPointerRegister.Reset.WithOffset(0x7fff).Raw.ShouldBe(0x7_FFF0UL);
        Should.Throw<ArgumentOutOfRangeException>(() => RingPointerRegister.Reset.WithOffset(0x8000));
    }

    [Fact]
    public void Status_decodes_running_logs_and_pending_interrupts()
    {
        var status = new StatusRegister(0x1BUL);
        status.EventOverflow.ShouldBeTrue();
        status.EventLogInt.ShouldBeTrue();
        status.ComWaitInt.ShouldBeFalse();
        status.EventLogRun.ShouldBeTrue();
        status.CmdBufRun.ShouldBeTrue();
        status.PprOverflow.ShouldBeFalse();
        status.ToString().ShouldBe(
            "StatusRegister { EventOverflow = true, EventLogInt = true, ComWaitInt = false, "
            + "EventLogRun = true, CmdBufRun = true, PprOverflow = false, PprInt = false, "
            + "PprLogRun = false, GaLogRun = false, GaLogOverflow = false, GaInt = false }");
        StatusRegister.Reset.WithEventOverflow(true).WithEventLogInt(true).WithEventLogRun(true)
            .WithCmdBufRun(true).Raw.ShouldBe(0x1BUL);
    }

    [Fact]
    public void Status_ApplyWrite_clears_w1c_bits_and_keeps_read_only_bits()
    {
        var current = new StatusRegister(0x1FUL); // overflow, log int, comwait int, log run, cmd run

        // Writing 1 to EventOverflow clears it; writing 1 to EventLogRun (ro) changes nothing;
        // w1c bits written as 0 stay set.
        StatusRegister.ApplyWrite(current, new StatusRegister(0x9UL)).Raw.ShouldBe(0x1EUL);
        // Writing 0 leaves everything.
        StatusRegister.ApplyWrite(current, StatusRegister.Reset).Raw.ShouldBe(0x1FUL);
        // Writing all ones clears every w1c bit and keeps the run bits.
        StatusRegister.ApplyWrite(current, new StatusRegister(ulong.MaxValue)).Raw.ShouldBe(0x18UL);
        // Software cannot set a run bit or an interrupt cause.
        StatusRegister.ApplyWrite(StatusRegister.Reset, new StatusRegister(0xFFUL)).Raw.ShouldBe(0UL);
        // PPR causes behave the same way: overflow 5 and int 6 are w1c, run 7 is ro.
        StatusRegister.ApplyWrite(new StatusRegister(0xE0UL), new StatusRegister(0xE0UL)).Raw.ShouldBe(0x80UL);
    }

    [Fact]
    public void Block_offsets_match_the_reference()
    {
        AmdIommuMmio.Size.ShouldBe(0x4000UL);
        AmdIommuMmio.DeviceTableBaseOffset.ShouldBe(0x0000UL);
        AmdIommuMmio.CommandBufferBaseOffset.ShouldBe(0x0008UL);
        AmdIommuMmio.EventLogBaseOffset.ShouldBe(0x0010UL);
        AmdIommuMmio.ControlOffset.ShouldBe(0x0018UL);
        AmdIommuMmio.ExclusionBaseOffset.ShouldBe(0x0020UL);
        AmdIommuMmio.ExclusionLimitOffset.ShouldBe(0x0028UL);
        AmdIommuMmio.ExtendedFeatureOffset.ShouldBe(0x0030UL);
        AmdIommuMmio.ExtendedFeature2Offset.ShouldBe(0x01A0UL);
        AmdIommuMmio.CommandBufferHeadOffset.ShouldBe(0x2000UL);
        AmdIommuMmio.CommandBufferTailOffset.ShouldBe(0x2008UL);
        AmdIommuMmio.EventLogHeadOffset.ShouldBe(0x2010UL);
        AmdIommuMmio.EventLogTailOffset.ShouldBe(0x2018UL);
        AmdIommuMmio.StatusOffset.ShouldBe(0x2020UL);
    }

    [Fact]
    public void Enums_have_the_declared_widths()
    {
        typeof(InvalidationTimeout).GetEnumUnderlyingType().ShouldBe(typeof(byte));
        typeof(HostAddressTranslationSize).GetEnumUnderlyingType().ShouldBe(typeof(byte));
        ((byte)InvalidationTimeout.Timeout100S).ShouldBe((byte)6);
        ControlRegister.Bits.ShouldBe(64);
    }
}
