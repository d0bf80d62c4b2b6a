using Driver.Hw.AmdIommu;
using Driver.Kernel.Iommu.Amd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>The command builders: opcodes, fields and the S-bit range encoding.</summary>
public sealed class AmdCommandTests
{
    [Theory]
    [InlineData(0x1000UL, 0x1FFFUL, false, 0x1000UL)]
    [InlineData(0x1000UL, 0x1234UL, false, 0x1000UL)]
    [InlineData(0x0UL, 0x1FFFUL, true, 0x0000UL)]
    [InlineData(0x2000UL, 0x3FFFUL, true, 0x2000UL)]
    [InlineData(0x1000UL, 0x2FFFUL, true, 0x1000UL)]
    [InlineData(0x20_0000UL, 0x3F_FFFFUL, true, 0x2F_F000UL)]
    [InlineData(0x0UL, ulong.MaxValue, true, AmdCommand.AllPagesAddress)]
    [InlineData(0x1FFFUL, 0x1FFFUL, false, 0x1000UL)]
    [InlineData(0x0UL, (1UL << 52) - 1, true, 0x0007_FFFF_FFFF_F000UL)]
    [InlineData(0x10_0000_0000_0000UL, 0x1F_FFFF_FFFF_FFFFUL, true, 0x0017_FFFF_FFFF_F000UL)]
    [InlineData(0x0UL, (1UL << 53) - 1, true, AmdCommand.AllPagesAddress)]
    [InlineData(0x1000UL, 1UL << 60, true, AmdCommand.AllPagesAddress)]
    public void InvalidateIommuPages_EncodesTheSmallestCoveringBlock(ulong iova, ulong last, bool sized, ulong address)
    {
        var command = AmdCommand.InvalidateIommuPages(7, iova, last, pde: false);
        command.Opcode.ShouldBe(CommandOpcode.InvalidateIommuPages);
        var decoded = new InvalidateIommuPagesCommand([command.Low, command.High]);
        decoded.DomainId.ShouldBe((ushort)7);
        decoded.Size.ShouldBe(sized);
        decoded.Pde.ShouldBeFalse();
        decoded.Address.ShouldBe(address);
        decoded.IsValid.ShouldBeTrue();
    }

    [Fact]
    public void TheEncodedBlock_CoversTheRangeAndIsNaturallyAligned()
    {
        var random = new Random(5);
        for (int i = 0; i < 2000; i++)
        {
            ulong iova = (ulong)random.NextInt64(0, 1L << 48) & ~0xFFFUL;
            ulong last = iova + (ulong)random.NextInt64(1, 1L << random.Next(13, 40)) - 1;
            var decoded = new InvalidateIommuPagesCommand([AmdCommand.InvalidateIommuPages(1, iova, last, true).Low,
                AmdCommand.InvalidateIommuPages(1, iova, last, true).High]);
            if (!decoded.Size)
            {
                (iova >> 12).ShouldBe(last >> 12);
                continue;
            }
            // The lowest clear bit at or above bit 12, z, makes a block of 2^(z+1) bytes.
            ulong a = decoded.Address | 0xFFF;
            int zero = System.Numerics.BitOperations.TrailingZeroCount(~a);
            ulong blockSize = 1UL << (zero + 1);
            ulong start = a & ~(blockSize - 1);
            start.ShouldBeLessThanOrEqualTo(iova);
            (start + blockSize - 1).ShouldBeGreaterThanOrEqualTo(last);
            // And no smaller aligned block would do.
            ((iova >> zero) == (last >> zero)).ShouldBeFalse();
        }
    }

    [Fact]
    public void EmptyRange_IsABug() =>
        Should.Throw<ArgumentOutOfRangeException>(() => AmdCommand.InvalidateIommuPages(1, 0x2000, 0x1000, false))
            .Message.ShouldContain("empty invalidation range");

    [Fact]
    public void Builders_SetOpcodeAndFields_AndPrintThroughTheirLayouts()
    {
        var wait = AmdCommand.CompletionWait(0x1234_5678, 9);
        wait.Opcode.ShouldBe(CommandOpcode.CompletionWait);
        var decodedWait = new CompletionWaitCommand([wait.Low, wait.High]);
        decodedWait.Store.ShouldBeTrue();
        decodedWait.StoreAddress.ShouldBe(0x1234_5678UL);
        decodedWait.StoreData.ShouldBe(9UL);
        wait.ToString().ShouldStartWith("CompletionWaitCommand {");

        var devtab = AmdCommand.InvalidateDevtabEntry(0xBEEF);
        new InvalidateDevtabEntryCommand([devtab.Low, devtab.High]).DeviceId.ShouldBe((ushort)0xBEEF);
        devtab.ToString().ShouldContain("DeviceId = 0xbeef");

        AmdCommand.InvalidateIommuAll().Opcode.ShouldBe(CommandOpcode.InvalidateIommuAll);
        var all = new InvalidateIommuPagesCommand([AmdCommand.InvalidateDomain(3).Low, AmdCommand.InvalidateDomain(3).High]);
        all.Address.ShouldBe(AmdCommand.AllPagesAddress);
        all.Size.ShouldBeTrue();
        all.Pde.ShouldBeTrue();
        new AmdCommand(0, 0).ToString().ShouldStartWith("CommandHeader {");
    }
}
