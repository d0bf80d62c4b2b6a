using Driver.Hw.AmdIommu;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The command processor on its own: when it is due, what a command does, and how it stops and restarts.</summary>
public class CommandProcessorPartTests
{
    private const ulong Ring = 0x20_0000;

    private static PartsRig Rig(int bits = 52)
    {
        var rig = new PartsRig(bits);
        rig.Commands.Base = new CommandBufferBaseRegister(0).WithBase(Ring).WithLength(8);
        rig.EventLog.Base = new EventLogBaseRegister(0).WithBase(0x30_0000).WithLength(8);
        rig.EventLog.Control(true, true, false);
        return rig;
    }

    private static void Post(PartsRig rig, params (ulong W0, ulong W1)[] commands)
    {
        uint tail = rig.Commands.Tail.Offset;
        foreach (var (w0, w1) in commands)
        {
            rig.Memory.WriteU64(Ring + (tail * 16UL), w0);
            rig.Memory.WriteU64(Ring + (tail * 16UL) + 8, w1);
            tail++;
        }
        rig.Commands.Tail = new RingPointerRegister(0).WithOffset((ushort)tail);
    }

    [Fact]
    public void It_is_due_one_fetch_and_one_command_after_the_doorbell_and_idle_otherwise()
    {
        var rig = Rig();
        Post(rig, DeviceRig.CompletionWait(0x1000, 5));
        rig.Commands.NextDueNs.ShouldBe(long.MaxValue, "not enabled");
        rig.Commands.Control(iommuEnabled: true, bufferEnabled: true, waitInterruptEnabled: false);
        rig.Commands.NextDueNs.ShouldBe(rig.Costs.IommuMemoryAccessNs + rig.Costs.IommuCommandNs);
        rig.Commands.RunNext();
        rig.Memory.ReadU64(0x1000).ShouldBe(5UL);
        rig.Commands.Head.Offset.ShouldBe((ushort)1);
        rig.Commands.Executed.ShouldBe(1);
        rig.Commands.NextDueNs.ShouldBe(long.MaxValue);
    }

    [Fact]
    public void A_completion_wait_interrupt_sets_the_status_bit_and_interrupts_only_when_enabled()
    {
        var rig = Rig();
        rig.Commands.Control(true, true, false);
        Post(rig, DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        rig.Commands.RunNext();
        rig.Commands.WaitInterrupted.ShouldBeTrue();
        rig.Interrupts.ShouldBe(0);
        rig.Commands.Control(true, true, true);
        Post(rig, DeviceRig.CompletionWait(0, 0, store: false, interrupt: true));
        rig.Commands.RunNext();
        rig.Interrupts.ShouldBe(1);
    }

    [Fact]
    public void An_illegal_command_stops_on_itself_until_the_buffer_enable_rises()
    {
        var rig = Rig();
        rig.Commands.Control(true, true, false);
        Post(rig, (0, 0), DeviceRig.CompletionWait(0x1000, 1));
        rig.Commands.RunNext();
        rig.Commands.Running.ShouldBeFalse();
        rig.Commands.Head.Offset.ShouldBe((ushort)0);
        rig.Commands.NextDueNs.ShouldBe(long.MaxValue);
        rig.Logs.Single(2000).Number("Address").ShouldBe(Ring);
        new IllegalCommandErrorEvent([rig.Memory.ReadU64(0x30_0000), rig.Memory.ReadU64(0x30_0008)]).Address.ShouldBe(Ring);

        rig.Commands.Control(true, true, false);
        rig.Commands.Running.ShouldBeFalse("CmdBufEn did not rise");
        rig.Commands.Control(true, false, false);
        rig.Commands.Control(true, true, false);
        rig.Commands.Running.ShouldBeTrue();
        rig.Logs.Single(2002);
    }

    [Fact]
    public void A_store_beyond_the_limit_is_a_hardware_error_and_writes_nothing()
    {
        var rig = Rig(bits: 36);
        rig.Commands.Control(true, true, false);
        Post(rig, DeviceRig.CompletionWait(1UL << 36, 1));
        rig.Commands.RunNext();
        rig.Commands.Running.ShouldBeFalse();
        rig.Memory.TouchedFrames.ShouldBe(2, "the ring and the event log only");
        new CommandHardwareErrorEvent([rig.Memory.ReadU64(0x30_0000), rig.Memory.ReadU64(0x30_0008)]).Address.ShouldBe(1UL << 36);
    }

    [Fact]
    public void Invalidate_all_is_illegal_without_efr_ia()
    {
        var rig = new PartsRig(config: new Platform.Iommu.IommuConfig { Efr = new ExtendedFeatureRegister(0) });
        rig.Commands.Base = new CommandBufferBaseRegister(0).WithBase(Ring).WithLength(8);
        rig.Commands.Control(true, true, false);
        Post(rig, DeviceRig.InvalidateIommuAll());
        rig.Commands.RunNext();
        rig.Commands.Running.ShouldBeFalse();
        rig.Commands.Executed.ShouldBe(0);
    }
}
