using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Platform.Iommu;
using Microsoft.Extensions.Logging;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The IOMMU says what Linux's AMD-Vi driver would print (ids 2000-2099), and nothing on the per-access path.</summary>
public class IommuLogTests
{
    private const ushort Dev = 0x21;
    private const ushort Domain = 2;

    private static (DeviceRig D, Logs Logs) Machine(IommuConfig? iommu = null, byte eventLogLength = 8)
    {
        var logs = new Logs();
        var d = new DeviceRig(new MachineConfig { LoggerFactory = logs.Factory, Iommu = iommu ?? new IommuConfig() }).Init(eventLogLength);
        return (d, logs);
    }

    [Fact]
    public void An_illegal_command_and_the_stop_are_an_error_with_the_command_decoded()
    {
        var (d, logs) = Machine();
        d.Submit((7UL << 60, 0x55));
        d.Machine.Scheduler.RunUntilIdle();
        var r = logs.Single(2000);
        r.Level.ShouldBe(LogLevel.Error);
        r.Number("Address").ShouldBe(DeviceRig.CommandRing);
        r.Number("Word1").ShouldBe(0x55UL);
        r.Value("Command").ShouldBe(new CommandHeader([7UL << 60, 0x55]).ToString());
        r.Message.ShouldContain("stopped");

        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(false).Raw);
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithCmdBufEn(true).Raw);
        var restart = logs.Single(2002);
        restart.Level.ShouldBe(LogLevel.Information);
        restart.Number("Head").ShouldBe(0UL);
    }

    [Fact]
    public void A_completion_wait_store_beyond_the_limit_is_a_command_hardware_error()
    {
        var (d, logs) = Machine(new IommuConfig { PhysicalAddressBits = 40 });
        d.Submit(DeviceRig.CompletionWait(1UL << 40, 1));
        d.Machine.Scheduler.RunUntilIdle();
        var r = logs.Single(2001);
        r.Level.ShouldBe(LogLevel.Error);
        r.Number("Address").ShouldBe(1UL << 40);
    }

    [Fact]
    public void Event_log_overflow_is_a_warning_once_until_the_restart()
    {
        var (d, logs) = Machine(eventLogLength: 1);
        d.SetDte(Dev, DeviceRig.Dte(d.AllocTable(), PagingMode.Level3, Domain));
        for (int i = 0; i < 4; i++)
            d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.IoPageFault);
        var r = logs.Single(2003);
        r.Level.ShouldBe(LogLevel.Warning);
        r.Number("Head").ShouldBe(0UL);
        r.Number("Tail").ShouldBe(1UL);
    }

    [Fact]
    public void Page_faults_are_debug_and_hardware_errors_are_errors()
    {
        var (d, logs) = Machine(new IommuConfig { PhysicalAddressBits = 40 });
        d.SetDte(Dev, DeviceRig.Dte(1UL << 41, PagingMode.Level3, Domain));
        d.Dma(Dev, 0x1000).Status.ShouldBe(TranslationStatus.PageTableError);
        var table = logs.Single(2006);
        table.Level.ShouldBe(LogLevel.Error);
        table.Number("DeviceId").ShouldBe((ulong)Dev);
        table.Number("Address").ShouldBe((1UL << 41) + (0x1000 >> 30 & 511) * 8);

        d.Write64(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(DeviceRig.DeviceTable).WithSize(0).Raw);
        d.Dma(128, 0).Status.ShouldBe(TranslationStatus.DeviceTableError);
        logs.Single(2005).Number("Address").ShouldBe(DeviceRig.DeviceTable + (128UL * 32));

        ulong root = d.AllocTable();
        d.SetDte(Dev + 1, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Dma(Dev + 1, 0x2000, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
        var fault = logs.Single(2009);
        fault.Level.ShouldBe(LogLevel.Debug);
        fault.Number("Iova").ShouldBe(0x2000UL);
        fault.Value("Event").ShouldBe(d.Dma(Dev + 1, 0x2000, write: true).Fault.ToString());
    }

    [Fact]
    public void An_illegal_dte_is_a_warning_with_the_entry_decoded()
    {
        var (d, logs) = Machine();
        var dte = DeviceRig.Dte(d.AllocTable(), PagingMode.Level3, Domain).WithDomainId(9);
        var bad = new AmdDte([dte.GetWord(0) | (1UL << 63), dte.GetWord(1), dte.GetWord(2), dte.GetWord(3)]);
        d.SetDte(Dev, bad);
        d.Dma(Dev, 0).Status.ShouldBe(TranslationStatus.IllegalDte);
        var r = logs.Single(2007);
        r.Level.ShouldBe(LogLevel.Warning);
        r.Value("Dte").ShouldBe(bad.ToString());
    }

    [Fact]
    public void A_refused_rmp_check_is_a_warning_and_enforcement_is_information()
    {
        var logs = new Logs();
        var d = PspMailbox.SnpMachine(config: new MachineConfig { LoggerFactory = logs.Factory });
        var on = logs.Single(2010);
        on.Level.ShouldBe(LogLevel.Information);
        on.Value("On").ShouldBe(bool.TrueString);
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Map4K(root, 3, 0x1000, 0x6000_0000);
        d.Machine.Cpu.Rmpupdate(0x6000_0000, new RmpUpdateArgs(0x1000, true, false, false, 2)).ShouldBe(RmpUpdateResult.Success);
        d.Dma(Dev, 0x1010).Status.ShouldBe(TranslationStatus.RmpFault);
        var r = logs.Single(2008);
        r.Level.ShouldBe(LogLevel.Warning);
        r.Number("DeviceId").ShouldBe((ulong)Dev);
        r.Number("Iova").ShouldBe(0x1010UL);
        r.Number("Spa").ShouldBe(0x6000_0010UL);
        r.Value("Flags").ShouldBe(nameof(RmpFaultFlags.NotHypervisorOwned));
    }

    [Fact]
    public void Successful_translations_and_commands_log_nothing()
    {
        var (d, logs) = Machine();
        ulong root = d.AllocTable();
        d.SetDte(Dev, DeviceRig.Dte(root, PagingMode.Level3, Domain));
        d.Map4K(root, 3, 0x1000, 0x9000);
        for (int i = 0; i < 3; i++)
            d.Dma(Dev, 0x1008, write: i == 1).Spa.ShouldBe(0x9008UL);
        d.Dma(Dev + 1, 0x5000).Status.ShouldBe(TranslationStatus.Ok, "V = 0: passthrough");
        d.Submit(DeviceRig.InvalidateAllPages(Domain));
        d.RunCommands().ShouldBeTrue();
        logs.All.ShouldBeEmpty();
    }
}
