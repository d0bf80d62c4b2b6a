using Driver.Hw.AmdIommu;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layouts and enum of hwdefs/amd-iommu/events.hwdef.</summary>
public class AmdIommuEventTests
{
    // IO_PAGE_FAULT for DeviceID 0x0008, domain 0x12345, a write to IOVA 0xdead_b000:
    // ev0 = 0x0001_0008 (DeviceID, domain bits 19:16), ev1 = 0x2020_2345
    // (code 2, flags RW = 0x020, domain bits 15:0), ev3:ev2 = address.
    private static readonly ulong[] _pageFault = [0x2020_2345_0001_0008UL, 0xDEAD_B000UL];

    private static ulong[] Words(ulong w0, ulong w1) => [w0, w1];

    [Fact]
    public void Header_reads_device_and_code_of_any_event()
    {
        var header = new EventHeader(_pageFault);
        header.DeviceId.ShouldBe((ushort)8);
        header.EventCode.ShouldBe(EventCode.IoPageFault);
        header.ToString().ShouldBe("EventHeader { DeviceId = 0x8, EventCode = IoPageFault }");
        var built = new EventHeader(new ulong[2]).WithDeviceId(8).WithEventCode(EventCode.IoPageFault);
        built.GetWord(0).ShouldBe(0x2000_0000_0000_0008UL);
        built.GetWord(1).ShouldBe(0UL);
        new EventHeader(Words(0xE000_0000_0000_0000UL, 0UL)).EventCode.ShouldBe(EventCode.RmpHardwareError);
        new EventHeader(Words(0xD000_0000_0000_0000UL, 0UL)).EventCode.ShouldBe(EventCode.RmpPageFault);
        new EventHeader(Words(0xF000_0000_0000_0000UL, 0UL)).ToString().ShouldBe("EventHeader { DeviceId = 0x0, EventCode = 0xf }");
        ((byte)EventCode.RmpPageFault).ShouldBe((byte)0xD);
        ((byte)EventCode.RmpHardwareError).ShouldBe((byte)0xE);
        ((byte)EventCode.InvalidDeviceRequest).ShouldBe((byte)8);
    }

    [Fact]
    public void IoPageFault_decodes_like_Linux()
    {
        var ev = new IoPageFaultEvent(_pageFault);
        ev.DeviceId.ShouldBe((ushort)8);
        ev.DomainOrPasid.ShouldBe(0x12345u);
        ev.Interrupt.ShouldBeFalse();
        ev.Write.ShouldBeTrue();
        ev.EventCode.ShouldBe(EventCode.IoPageFault);
        ev.Address.ShouldBe(0xDEAD_B000UL);
        ev.IsValid.ShouldBeTrue();
        ev.ToString().ShouldBe(
            "IoPageFaultEvent { DeviceId = 0x8, DomainOrPasid = 0x12345, Interrupt = false, Write = true, "
            + "EventCode = IoPageFault, Address = 0xdeadb000 }");
    }

    [Fact]
    public void IoPageFault_encodes_like_the_device_writes_it()
    {
        var ev = new IoPageFaultEvent(new ulong[2])
            .WithDeviceId(8).WithDomainOrPasid(0x12345).WithWrite(true)
            .WithEventCode(EventCode.IoPageFault).WithAddress(0xDEAD_B000UL);
        var words = new ulong[2];
        ev.CopyTo(words);
        words.ShouldBe(_pageFault);

        // I = flag 0x008 = bit 51; RW = flag 0x020 = bit 53.
        new IoPageFaultEvent(new ulong[2]).WithInterrupt(true).GetWord(0).ShouldBe(1UL << 51);
        new IoPageFaultEvent(new ulong[2]).WithWrite(true).GetWord(0).ShouldBe(1UL << 53);
        Should.Throw<ArgumentOutOfRangeException>(() => ev.WithDomainOrPasid(0x10_0000));
        // Unnamed flag bits are ignored, not reserved.
        new IoPageFaultEvent(Words(0x2FFF_2345_FFF1_0008UL, 0xDEAD_B000UL)).IsValid.ShouldBeTrue();
    }

    [Fact]
    public void IllegalDevTableEntry_round_trip()
    {
        var words = Words(0x1000_0001_0000_0018UL, 0x1000UL);
        var ev = new IllegalDevTableEntryEvent(words);
        ev.DeviceId.ShouldBe((ushort)0x18);
        ev.Pasid.ShouldBe(1u);
        ev.EventCode.ShouldBe(EventCode.IllegalDevTableEntry);
        ev.Address.ShouldBe(0x1000UL);
        ev.ToString().ShouldBe(
            "IllegalDevTableEntryEvent { DeviceId = 0x18, Pasid = 0x1, Interrupt = false, Write = false, "
            + "EventCode = IllegalDevTableEntry, Address = 0x1000 }");
        new IllegalDevTableEntryEvent(new ulong[2]).WithDeviceId(0x18).WithPasid(1)
            .WithEventCode(EventCode.IllegalDevTableEntry).WithAddress(0x1000UL)
            .ShouldBe(ev);
    }

    [Fact]
    public void DevTabHardwareError_round_trip()
    {
        var ev = new DevTabHardwareErrorEvent(Words(0x3008_0000_0000_0018UL, 0x1234_0300UL));
        ev.DeviceId.ShouldBe((ushort)0x18);
        ev.Interrupt.ShouldBeTrue();
        ev.Write.ShouldBeFalse();
        ev.EventCode.ShouldBe(EventCode.DevTabHardwareError);
        ev.Address.ShouldBe(0x1234_0300UL);
        ev.ToString().ShouldBe(
            "DevTabHardwareErrorEvent { DeviceId = 0x18, Interrupt = true, Write = false, "
            + "EventCode = DevTabHardwareError, Address = 0x12340300 }");
        new DevTabHardwareErrorEvent(new ulong[2]).WithDeviceId(0x18).WithInterrupt(true)
            .WithEventCode(EventCode.DevTabHardwareError).WithAddress(0x1234_0300UL)
            .GetWord(0).ShouldBe(0x3008_0000_0000_0018UL);
    }

    [Fact]
    public void PageTabHardwareError_round_trip()
    {
        var ev = new PageTabHardwareErrorEvent(Words(0x4000_0003_0000_0018UL, 0x5555_5000UL));
        ev.DeviceId.ShouldBe((ushort)0x18);
        ev.DomainOrPasid.ShouldBe(3u);
        ev.EventCode.ShouldBe(EventCode.PageTabHardwareError);
        ev.Address.ShouldBe(0x5555_5000UL);
        ev.ToString().ShouldBe(
            "PageTabHardwareErrorEvent { DeviceId = 0x18, DomainOrPasid = 0x3, Interrupt = false, Write = false, "
            + "EventCode = PageTabHardwareError, Address = 0x55555000 }");
        new PageTabHardwareErrorEvent(new ulong[2]).WithDeviceId(0x18).WithDomainOrPasid(3)
            .WithEventCode(EventCode.PageTabHardwareError).WithAddress(0x5555_5000UL)
            .GetWord(0).ShouldBe(0x4000_0003_0000_0018UL);
    }

    [Fact]
    public void IllegalCommandError_carries_the_command_address()
    {
        var ev = new IllegalCommandErrorEvent(Words(0x5000_0000_0000_0000UL, 0xABCD_0040UL));
        ev.EventCode.ShouldBe(EventCode.IllegalCommandError);
        ev.Address.ShouldBe(0xABCD_0040UL);
        ev.ToString().ShouldBe("IllegalCommandErrorEvent { EventCode = IllegalCommandError, Address = 0xabcd0040 }");
        var built = new IllegalCommandErrorEvent(new ulong[2]).WithEventCode(EventCode.IllegalCommandError).WithAddress(0xABCD_0040UL);
        built.GetWord(0).ShouldBe(0x5000_0000_0000_0000UL);
        built.GetWord(1).ShouldBe(0xABCD_0040UL);
    }

    [Fact]
    public void CommandHardwareError_round_trip()
    {
        var ev = new CommandHardwareErrorEvent(Words(0x6001_0000_0000_0000UL, 0xABCD_0040UL));
        ev.Flags.ShouldBe((ushort)1);
        ev.EventCode.ShouldBe(EventCode.CommandHardwareError);
        ev.Address.ShouldBe(0xABCD_0040UL);
        ev.ToString().ShouldBe("CommandHardwareErrorEvent { Flags = 0x1, EventCode = CommandHardwareError, Address = 0xabcd0040 }");
        new CommandHardwareErrorEvent(new ulong[2]).WithFlags(1).WithEventCode(EventCode.CommandHardwareError)
            .WithAddress(0xABCD_0040UL).GetWord(0).ShouldBe(0x6001_0000_0000_0000UL);
        Should.Throw<ArgumentOutOfRangeException>(() => ev.WithFlags(0x1000));
    }

    [Fact]
    public void IotlbInvTimeout_round_trip()
    {
        var ev = new IotlbInvTimeoutEvent(Words(0x7000_0000_0000_0100UL, 0x4000UL));
        ev.DeviceId.ShouldBe((ushort)0x100);
        ev.EventCode.ShouldBe(EventCode.IotlbInvTimeout);
        ev.Address.ShouldBe(0x4000UL);
        ev.ToString().ShouldBe("IotlbInvTimeoutEvent { DeviceId = 0x100, EventCode = IotlbInvTimeout, Address = 0x4000 }");
        new IotlbInvTimeoutEvent(new ulong[2]).WithDeviceId(0x100).WithEventCode(EventCode.IotlbInvTimeout)
            .WithAddress(0x4000UL).GetWord(0).ShouldBe(0x7000_0000_0000_0100UL);
    }

    [Fact]
    public void InvalidDeviceRequest_round_trip()
    {
        var ev = new InvalidDeviceRequestEvent(Words(0x8020_0001_000F_0100UL, 0x8000UL));
        ev.DeviceId.ShouldBe((ushort)0x100);
        ev.Pasid.ShouldBe(0xF0001u);
        ev.Write.ShouldBeTrue();
        ev.EventCode.ShouldBe(EventCode.InvalidDeviceRequest);
        ev.Address.ShouldBe(0x8000UL);
        ev.ToString().ShouldBe(
            "InvalidDeviceRequestEvent { DeviceId = 0x100, Pasid = 0xf0001, Interrupt = false, Write = true, "
            + "EventCode = InvalidDeviceRequest, Address = 0x8000 }");
        new InvalidDeviceRequestEvent(new ulong[2]).WithDeviceId(0x100).WithPasid(0xF0001).WithWrite(true)
            .WithEventCode(EventCode.InvalidDeviceRequest).WithAddress(0x8000UL)
            .GetWord(0).ShouldBe(0x8020_0001_000F_0100UL);
    }

    [Fact]
    public void RmpPageFault_round_trip()
    {
        // ev0 23:16 RMP flags, ev1 15:0 VMG tag, address = GPA.
        var ev = new RmpPageFaultEvent(Words(0xD020_0001_0003_0008UL, 0x1_0000_2000UL));
        ev.DeviceId.ShouldBe((ushort)8);
        ev.RmpFlags.ShouldBe((byte)3);
        ev.VmgTag.ShouldBe((ushort)1);
        ev.Write.ShouldBeTrue();
        ev.EventCode.ShouldBe(EventCode.RmpPageFault);
        ev.Gpa.ShouldBe(0x1_0000_2000UL);
        ev.ToString().ShouldBe(
            "RmpPageFaultEvent { DeviceId = 0x8, RmpFlags = 0x3, VmgTag = 0x1, Interrupt = false, Write = true, "
            + "EventCode = RmpPageFault, Gpa = 0x100002000 }");
        var built = new RmpPageFaultEvent(new ulong[2]).WithDeviceId(8).WithRmpFlags(3).WithVmgTag(1).WithWrite(true)
            .WithEventCode(EventCode.RmpPageFault).WithGpa(0x1_0000_2000UL);
        built.GetWord(0).ShouldBe(0xD020_0001_0003_0008UL);
        built.GetWord(1).ShouldBe(0x1_0000_2000UL);
    }

    [Fact]
    public void RmpHardwareError_round_trip()
    {
        var ev = new RmpHardwareErrorEvent(Words(0xE000_0002_0000_0008UL, 0x2_0000_300FUL));
        ev.DeviceId.ShouldBe((ushort)8);
        ev.VmgTag.ShouldBe((ushort)2);
        ev.EventCode.ShouldBe(EventCode.RmpHardwareError);
        // Linux masks address bits 2:0 off the SPA.
        ev.Spa.ShouldBe(0x2_0000_3008UL);
        ev.ToString().ShouldBe(
            "RmpHardwareErrorEvent { DeviceId = 0x8, VmgTag = 0x2, Interrupt = false, Write = false, "
            + "EventCode = RmpHardwareError, Spa = 0x200003008 }");
        var built = new RmpHardwareErrorEvent(new ulong[2]).WithDeviceId(8).WithVmgTag(2)
            .WithEventCode(EventCode.RmpHardwareError).WithSpa(0x2_0000_3008UL);
        built.GetWord(0).ShouldBe(0xE000_0002_0000_0008UL);
        built.GetWord(1).ShouldBe(0x2_0000_3008UL);
    }

    [Fact]
    public void Event_layouts_have_no_reserved_bits()
    {
        new IoPageFaultEvent(Words(ulong.MaxValue, ulong.MaxValue)).IsValid.ShouldBeTrue();
        new RmpPageFaultEvent(Words(ulong.MaxValue, ulong.MaxValue)).IsValid.ShouldBeTrue();
        new IllegalCommandErrorEvent(Words(ulong.MaxValue, ulong.MaxValue)).IsValid.ShouldBeTrue();
        IoPageFaultEvent.Words.ShouldBe(2);
    }
}
