using Driver.Hw.AmdIommu;
using Driver.Platform.Interrupts;
using Driver.Platform.Time;

namespace Driver.Platform.Tests;

/// <summary>Interrupt delivery: pending until the kernel's access ends, one run per raise burst, never nested.</summary>
public class InterruptControllerTests
{
    private sealed class Raiser(InterruptController interrupts, int irq, long due) : IEventSource
    {
        public long NextDueNs { get; private set; } = due;

        public void RunNext()
        {
            interrupts.Raise(irq);
            interrupts.Raise(irq);
            NextDueNs = long.MaxValue;
        }
    }

    [Fact]
    public void A_line_raised_by_a_device_event_is_delivered_once_when_the_access_ends()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var interrupts = new InterruptController();
        scheduler.Interrupts = interrupts;
        var log = new List<long>();
        interrupts.RequestIrq(5, () => log.Add(clock.NowNs)).ShouldBeTrue();
        scheduler.Register(new Raiser(interrupts, 5, 10));

        scheduler.HardwareAccess(5);
        log.ShouldBeEmpty("nothing was raised yet");
        scheduler.HardwareAccess(10);
        log.ShouldBe([15L], "two raises in one burst are one delivery, after the access");
        interrupts.Delivered.ShouldBe(1);
    }

    [Fact]
    public void A_handlers_own_accesses_do_not_deliver_again_until_it_returns()
    {
        var clock = new SimClock();
        var scheduler = new Scheduler(clock);
        var interrupts = new InterruptController();
        scheduler.Interrupts = interrupts;
        int depth = 0, maxDepth = 0, runs = 0;
        interrupts.RequestIrq(1, () =>
        {
            depth++;
            maxDepth = Math.Max(maxDepth, depth);
            runs++;
            if (runs == 1)
                interrupts.Raise(1);
            scheduler.HardwareAccess(1);
            depth--;
        });
        interrupts.Raise(1);
        scheduler.Delay(1);
        runs.ShouldBe(2, "raised again inside the handler: delivered after it returned");
        maxDepth.ShouldBe(1);
    }

    [Fact]
    public void Lines_are_requested_once_and_a_line_without_handler_is_spurious()
    {
        var logs = new Logs();
        var interrupts = new InterruptController(logs.Factory);
        interrupts.RequestIrq(3, () => { }).ShouldBeTrue();
        interrupts.RequestIrq(3, () => { }).ShouldBeFalse();
        interrupts.FreeIrq(3);
        interrupts.Raise(3);
        interrupts.DeliverPending();
        interrupts.Spurious.ShouldBe(1);
        interrupts.Delivered.ShouldBe(0);
        var record = logs.Single(2360);
        record.Level.ShouldBe(Microsoft.Extensions.Logging.LogLevel.Warning);
        record.Number("Irq").ShouldBe(3UL);
        interrupts.HasPending.ShouldBeFalse();
    }

    [Fact]
    public void The_iommu_raises_its_line_when_it_logs_an_event_with_EventIntEn()
    {
        var d = new DeviceRig().Init();
        int runs = 0;
        d.Machine.Interrupts.RequestIrq(Machine.IommuIrq, () => runs++).ShouldBeTrue();
        d.Write64(AmdIommuMmio.ControlOffset, d.Control.WithEventIntEn(true).Raw);
        d.SetDte(0x77, DeviceRig.Dte(d.AllocTable(), PagingMode.Level3, 6));
        d.Dma(0x77, 0x1000).Status.ShouldBe(Driver.Platform.Iommu.TranslationStatus.IoPageFault);
        runs.ShouldBe(0, "the fault was taken inside the device");
        d.Machine.Clock.Delay(1);
        runs.ShouldBe(1);
    }
}
