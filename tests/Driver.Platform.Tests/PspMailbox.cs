using Driver.Hw.Interfaces;
using Driver.Hw.Sev;

namespace Driver.Platform.Tests;

/// <summary>The host side of the SEV mailbox, as Linux's sev-dev drives it.</summary>
internal static class PspMailbox
{
    public const ulong Buffer = 0x0400_0000;

    private static ulong Reg(ulong offset) => Machine.PspMmioBase + offset;

    public static SevStatus Call(Machine m, SevCommandId command, ulong buffer = Buffer, bool interrupt = false, int polls = 100)
    {
        m.Mmio.Write32(Reg(PspMmio.CmdBufferAddressLoOffset), (uint)buffer).ShouldBe(MmioStatus.Ok);
        m.Mmio.Write32(Reg(PspMmio.CmdBufferAddressHiOffset), (uint)(buffer >> 32)).ShouldBe(MmioStatus.Ok);
        var doorbell = new PspCmdRespRegister(0).WithCommandId(command).WithInterruptOnCompletion(interrupt);
        m.Mmio.Write32(Reg(PspMmio.CmdRespOffset), doorbell.Raw).ShouldBe(MmioStatus.Ok);
        for (int i = 0; i < polls; i++)
        {
            m.Mmio.Read32(Reg(PspMmio.CmdRespOffset), out uint raw).ShouldBe(MmioStatus.Ok);
            var answer = new PspCmdStatusRegister(raw);
            if (answer.Response)
                return answer.Status;
            m.Clock.Delay(100_000);
        }
        throw new TimeoutException("PSP did not answer");
    }

    public static void WriteWords(Machine m, ulong pa, params ulong[] words)
    {
        for (int i = 0; i < words.Length; i++)
            m.KernelMemory.WriteU64(pa + (ulong)i * 8, words[i]);
    }

    public static SevStatus InitEx(Machine m, SnpInitExBuffer? request = null)
    {
        var buffer = request ?? default(SnpInitExBuffer).WithInitRmp(true);
        var words = new ulong[SnpInitExBuffer.Words];
        buffer.CopyTo(words);
        WriteWords(m, Buffer, words);
        return Call(m, SevCommandId.SnpInitEx);
    }

    public static SevStatus ShutdownEx(Machine m, bool iommu = true, uint length = 8)
    {
        WriteWords(m, Buffer, new SnpShutdownExBuffer(0).WithLength(length).WithIommuSnpShutdown(iommu).Raw);
        return Call(m, SevCommandId.SnpShutdownEx);
    }

    /// <summary>A machine with the IOMMU registers programmed by hand and, optionally, SNP up.</summary>
    public static DeviceRig SnpMachine(bool init = true, MachineConfig? config = null)
    {
        var d = new DeviceRig(config ?? new MachineConfig()).Init();
        if (init)
            InitEx(d.Machine).ShouldBe(SevStatus.Success);
        return d;
    }
}
