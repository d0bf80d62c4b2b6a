using Driver.Hw.Sev;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layouts, enums and block of hwdefs/sev/psp.hwdef.</summary>
public class PspTests
{
    [Fact]
    public void CmdResp_as_the_host_writes_it()
    {
        // SNP_INIT_EX (0x85) in bits 26:16 with IOC (bit 0).
        var reg = new PspCmdRespRegister(0x0085_0001u);
        reg.InterruptOnCompletion.ShouldBeTrue();
        reg.CommandId.ShouldBe(SevCommandId.SnpInitEx);
        reg.IsValid.ShouldBeTrue();
        reg.ToString().ShouldBe("PspCmdRespRegister { InterruptOnCompletion = true, CommandId = SnpInitEx }");
        PspCmdRespRegister.Reset.WithInterruptOnCompletion(true).WithCommandId(SevCommandId.SnpInitEx).Raw.ShouldBe(0x0085_0001u);
        PspCmdRespRegister.CommandIdShift.ShouldBe(16);
        PspCmdRespRegister.CommandIdMask.ShouldBe(0x07FF_0000u);
        PspCmdRespRegister.Res0Mask.ShouldBe(0x3800_0000u);
        new PspCmdRespRegister(0x0885_0001u).IsValid.ShouldBeFalse();
        PspCmdRespRegister.Bits.ShouldBe(32);
        typeof(SevCommandId).GetEnumUnderlyingType().ShouldBe(typeof(ushort));
    }

    [Fact]
    public void CmdResp_command_ids_from_the_reference()
    {
        new PspCmdRespRegister(0x00C7_0000u).CommandId.ShouldBe(SevCommandId.SnpPageReclaim);
        new PspCmdRespRegister(0x00C8_0000u).CommandId.ShouldBe(SevCommandId.SnpPageUnsmash);
        new PspCmdRespRegister(0x0093_0000u).CommandId.ShouldBe(SevCommandId.SnpGctxCreate);
        new PspCmdRespRegister(0x0086_0000u).CommandId.ShouldBe(SevCommandId.SnpShutdownEx);
        new PspCmdRespRegister(0x0084_0000u).CommandId.ShouldBe(SevCommandId.SnpDfFlush);
        new PspCmdRespRegister(0x00DD_0000u).CommandId.ShouldBe(SevCommandId.TioTdiUnbind);
        // The highest 11-bit id fits; an id without a name prints as hex.
        new PspCmdRespRegister(0x07FF_0000u).ToString()
            .ShouldBe("PspCmdRespRegister { InterruptOnCompletion = false, CommandId = 0x7ff }");
    }

    [Fact]
    public void CmdStatus_as_the_firmware_answers()
    {
        var ok = new PspCmdStatusRegister(0x8000_0000u);
        ok.Response.ShouldBeTrue();
        ok.Recovery.ShouldBeFalse();
        ok.Status.ShouldBe(SevStatus.Success);
        ok.ToString().ShouldBe("PspCmdStatusRegister { Status = Success, Recovery = false, Response = true }");

        var failed = new PspCmdStatusRegister(0x8000_0013u);
        failed.Status.ShouldBe(SevStatus.HwsevRetPlatform);
        failed.ToString().ShouldBe("PspCmdStatusRegister { Status = HwsevRetPlatform, Recovery = false, Response = true }");
        PspCmdStatusRegister.Reset.WithResponse(true).WithStatus(SevStatus.HwsevRetPlatform).Raw.ShouldBe(0x8000_0013u);
        new PspCmdStatusRegister(0x8000_003Bu).ToString()
            .ShouldBe("PspCmdStatusRegister { Status = 0x3b, Recovery = false, Response = true }");
        PspCmdStatusRegister.ResponseMask.ShouldBe(0x8000_0000u);
        PspCmdStatusRegister.StatusMask.ShouldBe(0xFFFFu);
    }

    [Fact]
    public void Status_codes_match_the_reference()
    {
        typeof(SevStatus).GetEnumUnderlyingType().ShouldBe(typeof(ushort));
        ((ushort)SevStatus.InvalidAddress).ShouldBe((ushort)0x09);
        ((ushort)SevStatus.DfflushRequired).ShouldBe((ushort)0x0F);
        ((ushort)SevStatus.InvalidPageSize).ShouldBe((ushort)0x19);
        ((ushort)SevStatus.InvalidPageState).ShouldBe((ushort)0x1A);
        ((ushort)SevStatus.RmpInitRequired).ShouldBe((ushort)0x20);
        ((ushort)SevStatus.InUse).ShouldBe((ushort)0x3A);
        Enum.GetValues<SevStatus>().Length.ShouldBe(31);
    }

    [Fact]
    public void Address_register_holds_one_half()
    {
        var lo = new PspAddressRegister(0x1234_5000u);
        lo.AddressHalf.ShouldBe(0x1234_5000u);
        lo.ToString().ShouldBe("PspAddressRegister { AddressHalf = 0x12345000 }");
        PspAddressRegister.Reset.WithAddressHalf(0x1234_5000u).Raw.ShouldBe(0x1234_5000u);
        PspAddressRegister.ApplyWrite(lo, new PspAddressRegister(0xFFFF_FFFFu)).Raw.ShouldBe(0xFFFF_FFFFu);
    }

    [Fact]
    public void Feature_register_reports_capabilities_read_only()
    {
        // SEV (0), security reporting (7), fused part (8), TSME (13).
        var feature = new PspFeatureRegister(0x2181u);
        feature.Sev.ShouldBeTrue();
        feature.Tee.ShouldBeFalse();
        feature.SecurityReporting.ShouldBeTrue();
        feature.FusedPart.ShouldBeTrue();
        feature.TsmeStatus.ShouldBeTrue();
        feature.IsValid.ShouldBeTrue();
        feature.ToString().ShouldBe(
            "PspFeatureRegister { Sev = true, Tee = false, DbcThruExt = false, SecurityReporting = true, "
            + "FusedPart = true, DebugLockOn = false, TsmeStatus = true, AntiRollbackStatus = false, "
            + "RpmcProductionEnabled = false, RpmcSpiromAvailable = false, HspTpmAvailable = false, "
            + "RomArmorEnforced = false }");
        PspFeatureRegister.Reset.WithSev(true).WithSecurityReporting(true).WithFusedPart(true).WithTsmeStatus(true)
            .Raw.ShouldBe(0x2181u);
        PspFeatureRegister.ApplyWrite(feature, PspFeatureRegister.Reset).Raw.ShouldBe(0x2181u);
        new PspFeatureRegister(0x2181u | 0x8u).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void Interrupt_enable_and_status()
    {
        var enable = PspInterruptRegister.ApplyWrite(PspInterruptRegister.Reset, new PspInterruptRegister(0xFFFF_FFFFu));
        enable.Raw.ShouldBe(0x2u);
        enable.CommandComplete.ShouldBeTrue();
        enable.ToString().ShouldBe("PspInterruptRegister { CommandComplete = true }");
        PspInterruptRegister.ApplyWrite(enable, PspInterruptRegister.Reset).Raw.ShouldBe(0u);

        var status = new PspInterruptStatusRegister(0x2u);
        status.CommandComplete.ShouldBeTrue();
        status.ToString().ShouldBe("PspInterruptStatusRegister { CommandComplete = true }");
        PspInterruptStatusRegister.Reset.WithCommandComplete(true).Raw.ShouldBe(0x2u);
        // Acknowledge by writing the bit back (Linux writes what it read).
        PspInterruptStatusRegister.ApplyWrite(status, status).Raw.ShouldBe(0u);
        PspInterruptStatusRegister.ApplyWrite(status, PspInterruptStatusRegister.Reset).Raw.ShouldBe(0x2u);
        PspInterruptStatusRegister.ApplyWrite(PspInterruptStatusRegister.Reset, status).Raw.ShouldBe(0u);
    }

    [Fact]
    public void Block_uses_the_sev_v2_offsets()
    {
        PspMmio.Size.ShouldBe(0x11000UL);
        PspMmio.InterruptEnableOffset.ShouldBe(0x10690UL);
        PspMmio.InterruptStatusOffset.ShouldBe(0x10694UL);
        PspMmio.CmdRespOffset.ShouldBe(0x10980UL);
        PspMmio.CmdBufferAddressLoOffset.ShouldBe(0x109E0UL);
        PspMmio.CmdBufferAddressHiOffset.ShouldBe(0x109E4UL);
        PspMmio.FeatureOffset.ShouldBe(0x109FCUL);
    }

    [Fact]
    public void SnpInitEx_buffer()
    {
        // init_rmp, list_paddr_en, tio_en; range list at 4 GiB; max_snp_asid 100.
        ulong[] words = [0x13UL, 0x1_0000_0000UL, 0x64UL, 0, 0, 0, 0, 0];
        var buf = new SnpInitExBuffer(words);

        buf.InitRmp.ShouldBeTrue();
        buf.ListPaddrEn.ShouldBeTrue();
        buf.RaplDisable.ShouldBeFalse();
        buf.CiphertextHidingEn.ShouldBeFalse();
        buf.TioEn.ShouldBeTrue();
        buf.ListPaddr.ShouldBe(0x1_0000_0000UL);
        buf.MaxSnpAsid.ShouldBe((ushort)100);
        buf.IsValid.ShouldBeTrue();
        buf.ToString().ShouldBe(
            "SnpInitExBuffer { InitRmp = true, ListPaddrEn = true, RaplDisable = false, CiphertextHidingEn = false, "
            + "TioEn = true, ListPaddr = 0x100000000, MaxSnpAsid = 0x64 }");

        var built = new SnpInitExBuffer(new ulong[SnpInitExBuffer.Words])
            .WithInitRmp(true).WithListPaddrEn(true).WithTioEn(true)
            .WithListPaddr(0x1_0000_0000UL).WithMaxSnpAsid(100);
        var copy = new ulong[SnpInitExBuffer.Words];
        built.CopyTo(copy);
        copy.ShouldBe(words);
        SnpInitExBuffer.Words.ShouldBe(8);
        SnpInitExBuffer.Bits.ShouldBe(512);

        words[0] |= 1UL << 5;
        new SnpInitExBuffer(words).IsValid.ShouldBeFalse();
        words[0] = 0x13UL;
        words[2] |= 1UL << 16;
        new SnpInitExBuffer(words).IsValid.ShouldBeFalse();
        words[2] = 0x64UL;
        words[7] = 1UL << 63;
        new SnpInitExBuffer(words).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void SnpShutdownEx_buffer()
    {
        var buf = new SnpShutdownExBuffer(0x1_0000_0008UL);
        buf.Length.ShouldBe(8u);
        buf.IommuSnpShutdown.ShouldBeTrue();
        buf.X86SnpShutdown.ShouldBeFalse();
        buf.ToString().ShouldBe("SnpShutdownExBuffer { Length = 0x8, IommuSnpShutdown = true, X86SnpShutdown = false }");
        SnpShutdownExBuffer.Reset.WithLength(8).WithIommuSnpShutdown(true).Raw.ShouldBe(0x1_0000_0008UL);
        SnpShutdownExBuffer.Res0Mask.ShouldBe(0xFFFF_FFFC_0000_0000UL);
        new SnpShutdownExBuffer(0x5_0000_0008UL).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void SnpPlatformStatus_buffer()
    {
        // API 1.55, state 1 (initialised), RMP initialised, build 21, VLEK loaded,
        // two guests, current/reported TCB versions.
        ulong[] words = [0x15_0101_3701UL, 0x2_0000_0004UL, 0xDB18_0000_0000_0004UL, 0xDB18_0000_0000_0003UL];
        var status = new SnpPlatformStatusBuffer(words);

        status.ApiMajor.ShouldBe((byte)1);
        status.ApiMinor.ShouldBe((byte)55);
        status.State.ShouldBe((byte)1);
        status.IsRmpInitialized.ShouldBeTrue();
        status.BuildId.ShouldBe(21u);
        status.MaskChipId.ShouldBeFalse();
        status.VlekEn.ShouldBeTrue();
        status.GuestCount.ShouldBe(2u);
        status.CurrentTcbVersion.ShouldBe(0xDB18_0000_0000_0004UL);
        status.ReportedTcbVersion.ShouldBe(0xDB18_0000_0000_0003UL);
        status.IsValid.ShouldBeTrue();
        status.ToString().ShouldBe(
            "SnpPlatformStatusBuffer { ApiMajor = 0x1, ApiMinor = 0x37, State = 0x1, IsRmpInitialized = true, "
            + "BuildId = 0x15, MaskChipId = false, MaskChipKey = false, VlekEn = true, FeatureInfo = false, "
            + "RaplDis = false, CiphertextHidingCap = false, CiphertextHidingEn = false, GuestCount = 0x2, "
            + "CurrentTcbVersion = 0xdb18000000000004, ReportedTcbVersion = 0xdb18000000000003 }");

        var built = new SnpPlatformStatusBuffer(new ulong[4])
            .WithApiMajor(1).WithApiMinor(55).WithState(1).WithIsRmpInitialized(true).WithBuildId(21)
            .WithVlekEn(true).WithGuestCount(2)
            .WithCurrentTcbVersion(0xDB18_0000_0000_0004UL).WithReportedTcbVersion(0xDB18_0000_0000_0003UL);
        for (var i = 0; i < SnpPlatformStatusBuffer.Words; i++)
        {
            built.GetWord(i).ShouldBe(words[i]);
        }

        new SnpPlatformStatusBuffer([words[0] | (1UL << 25), words[1], words[2], words[3]]).IsValid.ShouldBeFalse();
        new SnpPlatformStatusBuffer([words[0], words[1] | (1UL << 7), words[2], words[3]]).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void SnpPageReclaim_and_Unsmash_buffers_carry_the_page_size_in_bit_0()
    {
        var reclaim = new SnpPageReclaimBuffer(0x4020_0001UL);
        reclaim.PageSize2M.ShouldBeTrue();
        reclaim.Address.ShouldBe(0x4020_0000UL);
        reclaim.ToString().ShouldBe("SnpPageReclaimBuffer { PageSize2M = true, Address = 0x40200000 }");
        SnpPageReclaimBuffer.Reset.WithPageSize2M(true).WithAddress(0x4020_0000UL).Raw.ShouldBe(0x4020_0001UL);
        new SnpPageReclaimBuffer(0x1234_5000UL).PageSize2M.ShouldBeFalse();

        var unsmash = new SnpPageUnsmashBuffer(0x4020_0001UL);
        unsmash.PageSize2M.ShouldBeTrue();
        unsmash.Address.ShouldBe(0x4020_0000UL);
        unsmash.ToString().ShouldBe("SnpPageUnsmashBuffer { PageSize2M = true, Address = 0x40200000 }");
        SnpPageUnsmashBuffer.Reset.WithPageSize2M(true).WithAddress(0x4020_0000UL).Raw.ShouldBe(0x4020_0001UL);
        SnpPageUnsmashBuffer.AddressMask.ShouldBe(0xFFFF_FFFF_FFFF_F000UL);
    }

    [Fact]
    public void SnpGctxCreate_buffer()
    {
        var buf = new SnpGctxCreateBuffer(0x1234_5000UL);
        buf.GctxPaddr.ShouldBe(0x1234_5000UL);
        buf.ToString().ShouldBe("SnpGctxCreateBuffer { GctxPaddr = 0x12345000 }");
        SnpGctxCreateBuffer.Reset.WithGctxPaddr(0x1234_5000UL).Raw.ShouldBe(0x1234_5000UL);
        SnpGctxCreateBuffer.GctxPaddrShift.ShouldBe(12);
        Should.Throw<ArgumentOutOfRangeException>(() => SnpGctxCreateBuffer.Reset.WithGctxPaddr(0x1234_5800UL));
    }
}
