using Driver.Kernel.IommuPt;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform.Memory;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.IommuPt;

public sealed class InitTests
{
    private static Errno Init<TFormat>(PtConfig config, out IommuPageTable<TFormat>? table, IFrameAllocator? allocator = null)
        where TFormat : struct, IPtFormat
    {
        var memory = new PhysicalMemory();
        return IommuPageTable<TFormat>.Init(config, memory, allocator ?? new FrameAllocator(memory, 1UL << 32, 1UL << 20), new RecordingDriver(), out table);
    }

    [Fact]
    public void FeaturesTheFormatLacks_AreEopnotsupp()
    {
        Init<AmdV1Format>(new PtConfig { TopLevel = 3, SignExtend = true }, out var amd).ShouldBe(Errno.EOPNOTSUPP);
        amd.ShouldBeNull();
        Init<X86Format>(new PtConfig { TopLevel = 3, DynamicTop = true }, out var x86).ShouldBe(Errno.EOPNOTSUPP);
        x86.ShouldBeNull();
        Init<RiscvFormat>(new PtConfig { TopLevel = 2, DynamicTop = true, SignExtend = true }, out _).ShouldBe(Errno.EOPNOTSUPP);
    }

    [Theory]
    [InlineData(-1, 0, 0, 0UL)]
    [InlineData(6, 0, 0, 0UL)]
    [InlineData(2, 12, 0, 0UL)]
    [InlineData(2, 65, 0, 0UL)]
    [InlineData(2, 0, 12, 0UL)]
    [InlineData(2, 0, 53, 0UL)]
    [InlineData(2, 0, 0, 1UL << 39)]
    [InlineData(2, 0, 0, 1UL << 30 | 1UL << 11)]
    [InlineData(2, 0, 0, 1UL << 39 | 1UL << 12)]
    [InlineData(2, 0, 40, 1UL << 40)]
    public void BadAmdV1Configurations_AreEinval(int topLevel, int vaBits, int oaBits, ulong pageSizes)
    {
        Init<AmdV1Format>(new PtConfig { TopLevel = topLevel, VaBits = vaBits, OaBits = oaBits, PageSizes = pageSizes, DynamicTop = true }, out var table)
            .ShouldBe(Errno.EINVAL);
        table.ShouldBeNull();
    }

    [Fact]
    public void SignExtendedSpaces_AreWhatTheTopCovers()
    {
        Init<X86Format>(new PtConfig { TopLevel = 3, SignExtend = true, VaBits = 57 }, out _).ShouldBe(Errno.EINVAL);
        Init<X86Format>(new PtConfig { TopLevel = 4, SignExtend = true, VaBits = 57 }, out var five).ShouldBe(Errno.Ok);
        five!.VaBits.ShouldBe(57);
        Init<RiscvFormat>(new PtConfig { TopLevel = 2, SignExtend = true }, out var sv39).ShouldBe(Errno.Ok);
        sv39!.VaBits.ShouldBe(39);
        Init<X86Format>(new PtConfig { TopLevel = 4, VaBits = 58 }, out _).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void PageSizes_FollowTheTopTheVaAndTheOa()
    {
        Init<AmdV1Format>(new PtConfig { TopLevel = 1 }, out var fixedTop).ShouldBe(Errno.Ok);
        fixedTop!.PageSizeBitmap.ShouldBe(AmdV1Format.PossibleSizes(0) | AmdV1Format.PossibleSizes(1));
        fixedTop.TopLevel.ShouldBe(1);

        Init<AmdV1Format>(new PtConfig { TopLevel = 1, DynamicTop = true, OaBits = 40 }, out var smallOa).ShouldBe(Errno.Ok);
        smallOa!.PageSizeBitmap.ShouldBe(0x7F_FFFF_F000UL);
        smallOa.MapPages(0, 1UL << 40, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        smallOa.MapPages(0, (1UL << 40) - 4096, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);

        Init<AmdV1Format>(new PtConfig { TopLevel = 0, DynamicTop = true, VaBits = 32 }, out var smallVa).ShouldBe(Errno.Ok);
        smallVa!.PageSizeBitmap.ShouldBe(0xFFFF_F000UL);
        smallVa.MapPages((1UL << 32) - 4096, 0, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.Ok);
        smallVa.TopLevel.ShouldBe(2);
        smallVa.MapPages(1UL << 32, 0, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ERANGE);
        smallVa.UnmapPages(1UL << 32, 4096, new IotlbGather(), out _).ShouldBe(Errno.ERANGE);

        Init<AmdV1Format>(new PtConfig { TopLevel = 2, PageSizes = 1UL << 21 }, out var only2M).ShouldBe(Errno.Ok);
        only2M!.PageSizeBitmap.ShouldBe(1UL << 21);
        only2M.MapPages(0, 0, 4096, 1, IommuProt.Read, out _).ShouldBe(Errno.ENXIO);
        only2M.Cut(1UL << 20).ShouldBe(Errno.EINVAL);
        only2M.Merge(0, 1UL << 20).ShouldBe(Errno.EINVAL);
    }

    [Fact]
    public void WithoutAFrameForTheTop_IsEnomem()
    {
        var allocator = new Mock<IFrameAllocator>();
        ulong none = 0;
        allocator.Setup(a => a.TryAlloc(out none)).Returns(false);
        Init<AmdV1Format>(new PtConfig { TopLevel = 2 }, out var table, allocator.Object).ShouldBe(Errno.ENOMEM);
        table.ShouldBeNull();
    }

    [Fact]
    public void NullArguments_AreBugs()
    {
        var memory = new PhysicalMemory();
        var allocator = new FrameAllocator(memory, 1UL << 32, 1UL << 20);
        var driver = new RecordingDriver();
        Should.Throw<ArgumentNullException>(() => IommuPageTable<AmdV1Format>.Init(null!, memory, allocator, driver, out _));
        Should.Throw<ArgumentNullException>(() => IommuPageTable<AmdV1Format>.Init(new PtConfig(), null!, allocator, driver, out _));
        Should.Throw<ArgumentNullException>(() => IommuPageTable<AmdV1Format>.Init(new PtConfig(), memory, null!, driver, out _));
        Should.Throw<ArgumentNullException>(() => IommuPageTable<AmdV1Format>.Init(new PtConfig(), memory, allocator, null!, out _));
        IommuPageTable<AmdV1Format>.Init(new PtConfig(), memory, allocator, driver, out var table).ShouldBe(Errno.Ok);
        Should.Throw<ArgumentNullException>(() => table!.UnmapPages(0, 4096, null!, out _));
        Should.Throw<ArgumentNullException>(() => table!.IotlbSync(null!));
        Should.Throw<ArgumentNullException>(() => table!.ReadAndClearDirty(0, 4096, DirtyFlags.None, null!, new IotlbGather()));
        Should.Throw<ArgumentNullException>(() => table!.ReadAndClearDirty(0, 4096, DirtyFlags.None, new IovaBitmap(0, 4096), null!));
    }
}
