using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Iommu;
using Driver.Platform.Psp;

namespace Driver.Platform.Tests;

/// <summary>The host's side of the guest and TIO firmware commands, each buffer built from its layout.</summary>
internal static class SnpGuests
{
    public const ulong Gctx = 0x5100_0000;
    public const ulong OtherGctx = 0x5100_1000;
    public const ulong TdiCtx = 0x5100_2000;

    public static void MakeFirmware(Machine m, ulong page) =>
        m.Cpu.Rmpupdate(page, new RmpUpdateArgs(0, true, false, true, 0)).ShouldBe(RmpUpdateResult.Success);

    public static SevStatus Send(Machine m, SevCommandId command, params ulong[] words)
    {
        PspMailbox.WriteWords(m, PspMailbox.Buffer, words);
        return PspMailbox.Call(m, command);
    }

    public static SevStatus GctxCreate(Machine m, ulong page) =>
        Send(m, SevCommandId.SnpGctxCreate, default(SnpGctxCreateBuffer).WithGctxPaddr(page).Raw);

    public static SevStatus Activate(Machine m, ulong gctx, uint asid)
    {
        var b = default(SnpActivateBuffer).WithGctxPaddr(gctx).WithAsid(asid);
        return Send(m, SevCommandId.SnpActivate, b.GetWord(0), b.GetWord(1));
    }

    public static SevStatus Decommission(Machine m, ulong gctx) =>
        Send(m, SevCommandId.SnpDecommission, default(SnpDecommissionBuffer).WithGctxPaddr(gctx).Raw);

    /// <summary>A firmware page made a guest context and bound to <paramref name="asid"/>.</summary>
    public static void NewGuest(Machine m, ulong gctx, ushort asid)
    {
        MakeFirmware(m, gctx);
        GctxCreate(m, gctx).ShouldBe(SevStatus.Success);
        Activate(m, gctx, asid).ShouldBe(SevStatus.Success);
    }

    public static SevStatus TioInit(Machine m, uint length = 8) =>
        Send(m, SevCommandId.TioInit, default(TioInitBuffer).WithLength(length).Raw);

    public static SevStatus TdiCreate(Machine m, ushort deviceId, ulong page, uint length = 16)
    {
        var b = default(TioTdiCreateBuffer).WithLength(length).WithDeviceId(deviceId).WithTdiCtxPaddr(page);
        return Send(m, SevCommandId.TioTdiCreate, b.GetWord(0), b.GetWord(1));
    }

    public static SevStatus TdiBind(Machine m, ulong tdi, ulong gctx, uint length = 24)
    {
        var b = default(TioTdiBindBuffer).WithLength(length).WithTdiCtxPaddr(tdi).WithGctxPaddr(gctx);
        return Send(m, SevCommandId.TioTdiBind, b.GetWord(0), b.GetWord(1), b.GetWord(2));
    }

    public static SevStatus TdiUnbind(Machine m, ulong tdi, uint length = 16)
    {
        var b = default(TioTdiUnbindBuffer).WithLength(length).WithTdiCtxPaddr(tdi);
        return Send(m, SevCommandId.TioTdiUnbind, b.GetWord(0), b.GetWord(1));
    }

    public static SevStatus TdiReclaim(Machine m, ulong tdi, uint length = 16)
    {
        var b = default(TioTdiReclaimBuffer).WithLength(length).WithTdiCtxPaddr(tdi);
        return Send(m, SevCommandId.TioTdiReclaim, b.GetWord(0), b.GetWord(1));
    }

    /// <summary>An IOMMU with SEV-TIO support, SNP up with TIO enabled and, optionally, TIO_INIT done.</summary>
    public static TestDriver TioMachine(bool tioInit = true, RmpGranularity rule = RmpGranularity.AmdToday, PspConfig? psp = null, bool monitors = true)
    {
        var config = new MachineConfig
        {
            Iommu = new IommuConfig { RmpRule = rule, Efr2 = new ExtendedFeature2Register(0).WithSevSnpIoSup(true) },
            Psp = psp ?? new PspConfig(),
            Monitors = monitors,
        };
        var d = new TestDriver(config).Init();
        PspMailbox.InitEx(d.Machine, default(SnpInitExBuffer).WithInitRmp(true).WithTioEn(true)).ShouldBe(SevStatus.Success);
        if (tioInit)
            TioInit(d.Machine).ShouldBe(SevStatus.Success);
        return d;
    }

    public static SnpPlatformStatusBuffer PlatformStatus(Machine m, ulong page = 0x0410_0000)
    {
        if (m.Rmp.Read(page >> 12).Assigned == false)
            MakeFirmware(m, page);
        Send(m, SevCommandId.SnpPlatformStatus, page).ShouldBe(SevStatus.Success);
        return new SnpPlatformStatusBuffer([m.Memory.ReadU64(page), m.Memory.ReadU64(page + 8), m.Memory.ReadU64(page + 16), m.Memory.ReadU64(page + 24)]);
    }
}
