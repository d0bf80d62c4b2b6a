using Driver.Hw.Sev;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests;

/// <summary>Layout of hwdefs/sev/rmp.hwdef.</summary>
public class RmpEntryTests
{
    private static RmpEntry Entry(ulong lo, ulong hi = 0) => new(new[] { lo, hi });

    private static RmpEntry Empty => new(new ulong[RmpEntry.Words]);

    [Fact]
    public void Guest_valid_page()
    {
        // Assigned, Validated, ASID 1, GPA 0x1000_0000.
        var entry = Entry(0x4008_0000_1000_0001UL);

        entry.Assigned.ShouldBeTrue();
        entry.PageSize.ShouldBeFalse();
        entry.Immutable.ShouldBeFalse();
        entry.SubpageCount.ShouldBe((ushort)0);
        entry.Gpa.ShouldBe(0x1000_0000UL);
        entry.Asid.ShouldBe((ushort)1);
        entry.Vmsa.ShouldBeFalse();
        entry.Validated.ShouldBeTrue();
        entry.Lock.ShouldBeFalse();
        entry.VmplPermissions.ShouldBe(0UL);
        entry.IsValid.ShouldBeTrue();
        entry.ToString().ShouldBe(
            "RmpEntry { Assigned = true, PageSize = false, Immutable = false, SubpageCount = 0x0, "
            + "Gpa = 0x10000000, Asid = 0x1, Vmsa = false, Validated = true, Lock = false, VmplPermissions = 0x0 }");

        var built = Empty.WithAssigned(true).WithValidated(true).WithAsid(1).WithGpa(0x1000_0000UL);
        built.GetWord(0).ShouldBe(0x4008_0000_1000_0001UL);
        built.GetWord(1).ShouldBe(0UL);
        built.ShouldBe(entry);
    }

    [Fact]
    public void Firmware_page_is_assigned_and_immutable()
    {
        var entry = Entry(0x5UL);
        entry.Assigned.ShouldBeTrue();
        entry.Immutable.ShouldBeTrue();
        entry.Asid.ShouldBe((ushort)0);
        entry.Gpa.ShouldBe(0UL);
        Empty.WithAssigned(true).WithImmutable(true).GetWord(0).ShouldBe(0x5UL);
        Empty.ToString().ShouldBe(
            "RmpEntry { Assigned = false, PageSize = false, Immutable = false, SubpageCount = 0x0, "
            + "Gpa = 0x0, Asid = 0x0, Vmsa = false, Validated = false, Lock = false, VmplPermissions = 0x0 }");
    }

    [Fact]
    public void Every_low_qword_bit_belongs_to_a_field()
    {
        var entry = Entry(ulong.MaxValue, 0x0F0F_0F0FUL);
        entry.Assigned.ShouldBeTrue();
        entry.PageSize.ShouldBeTrue();
        entry.Immutable.ShouldBeTrue();
        entry.SubpageCount.ShouldBe((ushort)0x1FF);
        entry.Gpa.ShouldBe(0x7_FFFF_FFFF_F000UL);
        entry.Asid.ShouldBe((ushort)0x3FF);
        entry.Vmsa.ShouldBeTrue();
        entry.Validated.ShouldBeTrue();
        entry.Lock.ShouldBeTrue();
        entry.VmplPermissions.ShouldBe(0x0F0F_0F0FUL);
        entry.IsValid.ShouldBeTrue();
        entry.ToString().ShouldBe(
            "RmpEntry { Assigned = true, PageSize = true, Immutable = true, SubpageCount = 0x1ff, "
            + "Gpa = 0x7fffffffff000, Asid = 0x3ff, Vmsa = true, Validated = true, Lock = true, VmplPermissions = 0xf0f0f0f }");

        var built = Empty.WithAssigned(true).WithPageSize(true).WithImmutable(true).WithSubpageCount(0x1FF)
            .WithGpa(0x7_FFFF_FFFF_F000UL).WithAsid(0x3FF).WithVmsa(true).WithValidated(true).WithLock(true)
            .WithVmplPermissions(0x0F0F_0F0FUL);
        built.GetWord(0).ShouldBe(ulong.MaxValue);
        built.GetWord(1).ShouldBe(0x0F0F_0F0FUL);
    }

    [Fact]
    public void Field_limits()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Empty.WithAsid(0x400));
        Should.Throw<ArgumentOutOfRangeException>(() => Empty.WithSubpageCount(0x200));
        Should.Throw<ArgumentOutOfRangeException>(() => Empty.WithGpa(1UL << 51));
        Empty.WithAsid(0x3FF).GetWord(0).ShouldBe(0x3FFUL << 51);
        RmpEntry.Bits.ShouldBe(128);
        RmpEntry.Words.ShouldBe(2);
    }
}
