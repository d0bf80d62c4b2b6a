using Driver.Hw.AmdIommu;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layouts and enum of hwdefs/amd-iommu/commands.hwdef.</summary>
public class AmdIommuCommandTests
{
    private static ulong[] Words(ulong w0, ulong w1) => [w0, w1];

    private static CommandHeader Header(ulong w0, ulong w1) => new(Words(w0, w1));

    [Fact]
    public void Header_dispatches_on_bits_63_to_60()
    {
        Header(0x1000_0000_1234_5679UL, 1UL).Opcode.ShouldBe(CommandOpcode.CompletionWait);
        Header(0x2000_0000_0000_0010UL, 0UL).Opcode.ShouldBe(CommandOpcode.InvalidateDevtabEntry);
        Header(0x3000_0005_0000_0000UL, 0UL).Opcode.ShouldBe(CommandOpcode.InvalidateIommuPages);
        Header(0x40CD_0100_20AB_0100UL, 0UL).Opcode.ShouldBe(CommandOpcode.InvalidateIotlbPages);
        Header(0x5000_0000_0000_0020UL, 0UL).Opcode.ShouldBe(CommandOpcode.InvalidateInterruptTable);
        Header(0x8000_0000_0000_0000UL, 0UL).Opcode.ShouldBe(CommandOpcode.InvalidateIommuAll);
        Header(0x1000_0000_1234_5679UL, 1UL).ToString().ShouldBe("CommandHeader { Opcode = CompletionWait }");
        Header(0x1FFF_FFFF_FFFF_FFFFUL, ulong.MaxValue).IsValid.ShouldBeTrue();

        // Opcode 0 and 0xf name no command: printed as hex, so a command processor can report them.
        Header(0UL, 0UL).ToString().ShouldBe("CommandHeader { Opcode = 0x0 }");
        Header(0xF000_0000_0000_0000UL, 0UL).ToString().ShouldBe("CommandHeader { Opcode = 0xf }");
        CommandHeader.Words.ShouldBe(2);
        typeof(CommandOpcode).GetEnumUnderlyingType().ShouldBe(typeof(byte));
    }

    [Fact]
    public void CompletionWait_as_Linux_builds_it()
    {
        // Semaphore at 0x1234_5678 with S = 1, value 1 to store.
        var cmd = new CompletionWaitCommand(Words(0x1000_0000_1234_5679UL, 1UL));

        cmd.Store.ShouldBeTrue();
        cmd.Interrupt.ShouldBeFalse();
        cmd.FlushQueue.ShouldBeFalse();
        cmd.StoreAddress.ShouldBe(0x1234_5678UL);
        cmd.Opcode.ShouldBe(CommandOpcode.CompletionWait);
        cmd.StoreData.ShouldBe(1UL);
        cmd.IsValid.ShouldBeTrue();
        cmd.ToString().ShouldBe(
            "CompletionWaitCommand { Store = true, Interrupt = false, FlushQueue = false, "
            + "StoreAddress = 0x12345678, Opcode = CompletionWait, StoreData = 0x1 }");

        var built = new CompletionWaitCommand(new ulong[2])
            .WithStore(true).WithStoreAddress(0x1234_5678UL)
            .WithOpcode(CommandOpcode.CompletionWait).WithStoreData(1UL);
        built.GetWord(0).ShouldBe(0x1000_0000_1234_5679UL);
        built.GetWord(1).ShouldBe(1UL);
        built.ShouldBe(cmd);
    }

    [Fact]
    public void CompletionWait_interrupt_and_reserved_bits()
    {
        var cmd = new CompletionWaitCommand(new ulong[2]).WithInterrupt(true).WithOpcode(CommandOpcode.CompletionWait);
        cmd.GetWord(0).ShouldBe(0x1000_0000_0000_0002UL);
        new CompletionWaitCommand(Words(0x1000_0000_0000_0004UL, 0UL)).FlushQueue.ShouldBeTrue();
        // Bits 59:52 are reserved.
        new CompletionWaitCommand(Words(0x1010_0000_1234_5679UL, 1UL)).IsValid.ShouldBeFalse();
        new CompletionWaitCommand(Words(0x1800_0000_1234_5679UL, 1UL)).IsValid.ShouldBeFalse();
        // The semaphore must be 8-byte aligned and below 2^52.
        Should.Throw<ArgumentOutOfRangeException>(() => cmd.WithStoreAddress(0x1234_5674UL));
        Should.Throw<ArgumentOutOfRangeException>(() => cmd.WithStoreAddress(1UL << 52));
    }

    [Fact]
    public void InvalidateDevtabEntry_round_trip()
    {
        var cmd = new InvalidateDevtabEntryCommand(Words(0x2000_0000_0000_0010UL, 0UL));
        cmd.DeviceId.ShouldBe((ushort)0x10);
        cmd.Opcode.ShouldBe(CommandOpcode.InvalidateDevtabEntry);
        cmd.IsValid.ShouldBeTrue();
        cmd.ToString().ShouldBe("InvalidateDevtabEntryCommand { DeviceId = 0x10, Opcode = InvalidateDevtabEntry }");

        var built = new InvalidateDevtabEntryCommand(new ulong[2]).WithDeviceId(0x10).WithOpcode(CommandOpcode.InvalidateDevtabEntry);
        built.GetWord(0).ShouldBe(0x2000_0000_0000_0010UL);
        built.GetWord(1).ShouldBe(0UL);

        new InvalidateDevtabEntryCommand(Words(0x2000_0000_0001_0010UL, 0UL)).IsValid.ShouldBeFalse();
        new InvalidateDevtabEntryCommand(Words(0x2000_0000_0000_0010UL, 1UL)).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void InvalidateIommuPages_whole_domain_flush()
    {
        // Linux flushing everything of domain 5: address 0x7fff_ffff_ffff_f000, S = 1, PDE = 1.
        var cmd = new InvalidateIommuPagesCommand(Words(0x3000_0005_0000_0000UL, 0x7FFF_FFFF_FFFF_F003UL));

        cmd.Pasid.ShouldBe(0u);
        cmd.DomainId.ShouldBe((ushort)5);
        cmd.Opcode.ShouldBe(CommandOpcode.InvalidateIommuPages);
        cmd.Size.ShouldBeTrue();
        cmd.Pde.ShouldBeTrue();
        cmd.GuestNested.ShouldBeFalse();
        cmd.Address.ShouldBe(0x7FFF_FFFF_FFFF_F000UL);
        cmd.IsValid.ShouldBeTrue();
        cmd.ToString().ShouldBe(
            "InvalidateIommuPagesCommand { Pasid = 0x0, DomainId = 0x5, Opcode = InvalidateIommuPages, "
            + "Size = true, Pde = true, GuestNested = false, Address = 0x7ffffffffffff000 }");

        var built = new InvalidateIommuPagesCommand(new ulong[2])
            .WithDomainId(5).WithOpcode(CommandOpcode.InvalidateIommuPages)
            .WithSize(true).WithPde(true).WithAddress(0x7FFF_FFFF_FFFF_F000UL);
        built.GetWord(0).ShouldBe(0x3000_0005_0000_0000UL);
        built.GetWord(1).ShouldBe(0x7FFF_FFFF_FFFF_F003UL);
    }

    [Fact]
    public void InvalidateIommuPages_address_holds_bits_63_to_12()
    {
        var cmd = new InvalidateIommuPagesCommand(new ulong[2]).WithAddress(0xFFFF_FFFF_FFFF_F000UL);
        cmd.GetWord(1).ShouldBe(0xFFFF_FFFF_FFFF_F000UL);
        cmd.GetWord(0).ShouldBe(0UL);
        new InvalidateIommuPagesCommand(Words(0UL, 1UL << 12)).Address.ShouldBe(1UL << 12);
        new InvalidateIommuPagesCommand(Words(0UL, 1UL << 63)).Address.ShouldBe(1UL << 63);
        Should.Throw<ArgumentOutOfRangeException>(() => cmd.WithAddress(0x800UL));
    }

    [Fact]
    public void InvalidateIommuPages_guest_flush_and_reserved_bits()
    {
        var cmd = new InvalidateIommuPagesCommand(Words(0x3000_0007_000A_BCDEUL, 0xDEAD_B006UL));
        cmd.Pasid.ShouldBe(0xABCDEu);
        cmd.DomainId.ShouldBe((ushort)7);
        cmd.Size.ShouldBeFalse();
        cmd.Pde.ShouldBeTrue();
        cmd.GuestNested.ShouldBeTrue();
        cmd.Address.ShouldBe(0xDEAD_B000UL);
        cmd.ToString().ShouldBe(
            "InvalidateIommuPagesCommand { Pasid = 0xabcde, DomainId = 0x7, Opcode = InvalidateIommuPages, "
            + "Size = false, Pde = true, GuestNested = true, Address = 0xdeadb000 }");
        new InvalidateIommuPagesCommand(new ulong[2]).WithPasid(0xABCDE).WithDomainId(7)
            .WithOpcode(CommandOpcode.InvalidateIommuPages).WithPde(true).WithGuestNested(true)
            .WithAddress(0xDEAD_B000UL).ShouldBe(cmd);
        Should.Throw<ArgumentOutOfRangeException>(() => cmd.WithPasid(0x10_0000));

        // QEMU rejects bits 31:20, 59:48 and 75:67.
        new InvalidateIommuPagesCommand(Words(0x3000_0005_0010_0000UL, 0UL)).IsValid.ShouldBeFalse();
        new InvalidateIommuPagesCommand(Words(0x3001_0005_0000_0000UL, 0UL)).IsValid.ShouldBeFalse();
        new InvalidateIommuPagesCommand(Words(0x3000_0005_0000_0000UL, 0x8UL)).IsValid.ShouldBeFalse();
        new InvalidateIommuPagesCommand(Words(0x3000_0005_0000_0000UL, 0x800UL)).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void InvalidateIotlbPages_as_Linux_builds_it()
    {
        // DeviceID 0x100, queue depth 0x20, PASID 0xabcd with GN, one page at 0x4000.
        // Linux also copies the DeviceID into bits 47:32, which the layout ignores.
        var cmd = new InvalidateIotlbPagesCommand(Words(0x40CD_0100_20AB_0100UL, 0x4004UL));

        cmd.DeviceId.ShouldBe((ushort)0x100);
        cmd.Pasid.ShouldBe((ushort)0xABCD);
        cmd.MaxPending.ShouldBe((byte)0x20);
        cmd.Opcode.ShouldBe(CommandOpcode.InvalidateIotlbPages);
        cmd.Size.ShouldBeFalse();
        cmd.GuestNested.ShouldBeTrue();
        cmd.Address.ShouldBe(0x4000UL);
        cmd.IsValid.ShouldBeTrue();
        cmd.ToString().ShouldBe(
            "InvalidateIotlbPagesCommand { DeviceId = 0x100, Pasid = 0xabcd, MaxPending = 0x20, "
            + "Opcode = InvalidateIotlbPages, Size = false, GuestNested = true, Address = 0x4000 }");

        var built = new InvalidateIotlbPagesCommand(new ulong[2])
            .WithDeviceId(0x100).WithPasid(0xABCD).WithMaxPending(0x20)
            .WithOpcode(CommandOpcode.InvalidateIotlbPages).WithGuestNested(true).WithAddress(0x4000UL);
        built.GetWord(0).ShouldBe(0x40CD_0000_20AB_0100UL);
        built.GetWord(1).ShouldBe(0x4004UL);
        built.ToString().ShouldBe(cmd.ToString());

        // PASID pieces: bits 7:0 at 55:48, bits 15:8 at 23:16.
        new InvalidateIotlbPagesCommand(new ulong[2]).WithPasid(0x00FF).GetWord(0).ShouldBe(0x00FF_0000_0000_0000UL);
        new InvalidateIotlbPagesCommand(new ulong[2]).WithPasid(0xFF00).GetWord(0).ShouldBe(0x0000_0000_00FF_0000UL);

        new InvalidateIotlbPagesCommand(Words(0x40CD_0100_20AB_0100UL, 0x4006UL)).IsValid.ShouldBeFalse();
        new InvalidateIotlbPagesCommand(Words(0x40CD_0100_20AB_0100UL, 0x4044UL)).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void InvalidateInterruptTable_round_trip()
    {
        var cmd = new InvalidateInterruptTableCommand(Words(0x5000_0000_0000_0020UL, 0UL));
        cmd.DeviceId.ShouldBe((ushort)0x20);
        cmd.Opcode.ShouldBe(CommandOpcode.InvalidateInterruptTable);
        cmd.ToString().ShouldBe("InvalidateInterruptTableCommand { DeviceId = 0x20, Opcode = InvalidateInterruptTable }");
        var built = new InvalidateInterruptTableCommand(new ulong[2]).WithDeviceId(0x20).WithOpcode(CommandOpcode.InvalidateInterruptTable);
        built.GetWord(0).ShouldBe(0x5000_0000_0000_0020UL);
        built.IsValid.ShouldBeTrue();
        new InvalidateInterruptTableCommand(Words(0x5800_0000_0000_0020UL, 0UL)).IsValid.ShouldBeFalse();
        new InvalidateInterruptTableCommand(Words(0x5000_0000_0000_0020UL, 1UL << 63)).IsValid.ShouldBeFalse();
    }

    [Fact]
    public void InvalidateIommuAll_has_no_fields()
    {
        var cmd = new InvalidateIommuAllCommand(Words(0x8000_0000_0000_0000UL, 0UL));
        cmd.Opcode.ShouldBe(CommandOpcode.InvalidateIommuAll);
        cmd.IsValid.ShouldBeTrue();
        cmd.ToString().ShouldBe("InvalidateIommuAllCommand { Opcode = InvalidateIommuAll }");
        new InvalidateIommuAllCommand(new ulong[2]).WithOpcode(CommandOpcode.InvalidateIommuAll)
            .GetWord(0).ShouldBe(0x8000_0000_0000_0000UL);
        new InvalidateIommuAllCommand(Words(0x8000_0000_0000_0001UL, 0UL)).IsValid.ShouldBeFalse();
        new InvalidateIommuAllCommand(Words(0x8000_0000_0000_0000UL, 2UL)).IsValid.ShouldBeFalse();
    }
}
