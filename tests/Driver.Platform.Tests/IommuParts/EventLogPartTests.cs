using Driver.Hw.AmdIommu;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The event log part on its own: running, appending, overflow and its restart, the limit.</summary>
public class EventLogPartTests
{
    private const ulong Base = 0x10_0000;

    private static PartsRig Rig(byte length = 8, int bits = 52)
    {
        var rig = new PartsRig(bits);
        rig.EventLog.Base = new EventLogBaseRegister(0).WithBase(Base).WithLength(length);
        return rig;
    }

    [Fact]
    public void It_runs_only_with_the_iommu_and_the_log_enabled()
    {
        var rig = Rig();
        rig.EventLog.Append(1, 2).ShouldBeFalse();
        rig.EventLog.Control(iommuEnabled: true, logEnabled: false, interruptEnabled: false);
        rig.EventLog.Running.ShouldBeFalse();
        rig.EventLog.Control(iommuEnabled: false, logEnabled: true, interruptEnabled: false);
        rig.EventLog.Running.ShouldBeFalse();
        rig.EventLog.Append(1, 2).ShouldBeFalse();
        rig.EventLog.Dropped.ShouldBe(2);
        rig.EventLog.Control(iommuEnabled: true, logEnabled: true, interruptEnabled: false);
        rig.EventLog.Running.ShouldBeTrue();
    }

    [Fact]
    public void An_event_lands_at_tail_and_raises_the_interrupt_only_when_enabled()
    {
        var rig = Rig();
        rig.EventLog.Control(true, true, false);
        rig.EventLog.Append(0x11, 0x22).ShouldBeTrue();
        rig.Memory.ReadU64(Base).ShouldBe(0x11UL);
        rig.Memory.ReadU64(Base + 8).ShouldBe(0x22UL);
        rig.EventLog.Tail.Offset.ShouldBe((ushort)1);
        rig.EventLog.Interrupted.ShouldBeTrue();
        rig.Interrupts.ShouldBe(0);
        rig.EventLog.Control(true, true, true);
        rig.EventLog.Append(0x33, 0x44).ShouldBeTrue();
        rig.Memory.ReadU64(Base + 16).ShouldBe(0x33UL);
        rig.Interrupts.ShouldBe(1);
        rig.EventLog.Logged.ShouldBe(2);
    }

    [Fact]
    public void A_full_log_overflows_once_and_restarts_on_a_rising_enable_after_the_bit_is_cleared()
    {
        var rig = Rig(length: 1);
        rig.EventLog.Control(true, true, true);
        rig.EventLog.Append(1, 1).ShouldBeTrue();
        rig.EventLog.Append(2, 2).ShouldBeFalse();
        rig.EventLog.Overflow.ShouldBeTrue();
        rig.EventLog.Running.ShouldBeFalse();
        rig.Interrupts.ShouldBe(2);
        rig.Logs.Single(2003);
        rig.EventLog.Append(3, 3).ShouldBeFalse();
        rig.Logs.Count(2003).ShouldBe(1, "a stopped log drops without another overflow");

        rig.EventLog.Head = rig.EventLog.Tail;
        rig.EventLog.Overflow = false;
        rig.EventLog.Control(true, true, true);
        rig.EventLog.Running.ShouldBeFalse("EventLogEn did not rise");
        rig.EventLog.Control(true, false, true);
        rig.EventLog.Control(true, true, true);
        rig.EventLog.Append(4, 4).ShouldBeTrue();
        rig.EventLog.Dropped.ShouldBe(2);
    }

    [Fact]
    public void Writing_the_base_resets_the_pointers_and_pages_cover_the_ring()
    {
        var rig = Rig(length: 9);
        rig.EventLog.Tail = new RingPointerRegister(0).WithOffset(5);
        rig.EventLog.Head = new RingPointerRegister(0).WithOffset(3);
        rig.EventLog.Base = new EventLogBaseRegister(0).WithBase(Base).WithLength(9);
        rig.EventLog.Head.Offset.ShouldBe((ushort)0);
        rig.EventLog.Tail.Offset.ShouldBe((ushort)0);
        rig.EventLog.Pages().ShouldBe([Base, Base + 0x1000]);
    }

    [Fact]
    public void An_entry_beyond_the_limit_is_dropped_and_logged()
    {
        var rig = new PartsRig(32);
        rig.EventLog.Base = new EventLogBaseRegister(0).WithBase(0xFFFF_F000).WithLength(9);
        rig.EventLog.Tail = new RingPointerRegister(0).WithOffset(255);
        rig.EventLog.Control(true, true, false);
        rig.EventLog.Append(1, 2).ShouldBeTrue("the last entry below 4 GiB");
        rig.EventLog.Append(3, 4).ShouldBeFalse();
        rig.Logs.Single(2004).Number("Address").ShouldBe(0x1_0000_0000UL);
        rig.EventLog.Tail.Offset.ShouldBe((ushort)256);
    }
}
