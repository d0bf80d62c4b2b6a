using Driver.Hw.Iommufd;
using Driver.Hw.Linux;
using Shouldly;
using Xunit;

namespace Driver.Hw.Tests.Uapi;

/// <summary>Every iommufd uAPI struct has the size and field offsets of include/uapi/linux/iommufd.h.</summary>
public sealed class IommufdLayoutTests
{
    [Fact]
    public void IommuDestroy_MatchesTheHeader() => UapiLayout.Check<IommuDestroy>(8, v => v.CopyTo, b => IommuDestroy.FromBytes(b),
        ("Size", 0, 4), ("Id", 4, 4));

    [Fact]
    public void IommuIoasAlloc_MatchesTheHeader() => UapiLayout.Check<IommuIoasAlloc>(12, v => v.CopyTo, b => IommuIoasAlloc.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("OutIoasId", 8, 4));

    [Fact]
    public void IommuIovaRange_MatchesTheHeader() => UapiLayout.Check<IommuIovaRange>(16, v => v.CopyTo, b => IommuIovaRange.FromBytes(b),
        ("Start", 0, 8), ("Last", 8, 8));

    [Fact]
    public void IommuIoasIovaRanges_MatchesTheHeader() => UapiLayout.Check<IommuIoasIovaRanges>(32, v => v.CopyTo, b => IommuIoasIovaRanges.FromBytes(b),
        ("Size", 0, 4), ("IoasId", 4, 4), ("NumIovas", 8, 4), ("AllowedIovas", 16, 8), ("OutIovaAlignment", 24, 8));

    [Fact]
    public void IommuIoasAllowIovas_MatchesTheHeader() => UapiLayout.Check<IommuIoasAllowIovas>(24, v => v.CopyTo, b => IommuIoasAllowIovas.FromBytes(b),
        ("Size", 0, 4), ("IoasId", 4, 4), ("NumIovas", 8, 4), ("AllowedIovas", 16, 8));

    [Fact]
    public void IommuIoasMap_MatchesTheHeader() => UapiLayout.Check<IommuIoasMap>(40, v => v.CopyTo, b => IommuIoasMap.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("IoasId", 8, 4), ("UserVa", 16, 8), ("Length", 24, 8), ("Iova", 32, 8));

    [Fact]
    public void IommuIoasMapFile_MatchesTheHeader() => UapiLayout.Check<IommuIoasMapFile>(40, v => v.CopyTo, b => IommuIoasMapFile.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("IoasId", 8, 4), ("Fd", 12, 4), ("Start", 16, 8), ("Length", 24, 8), ("Iova", 32, 8));

    [Fact]
    public void IommuIoasCopy_MatchesTheHeader() => UapiLayout.Check<IommuIoasCopy>(40, v => v.CopyTo, b => IommuIoasCopy.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("DstIoasId", 8, 4), ("SrcIoasId", 12, 4), ("Length", 16, 8), ("DstIova", 24, 8), ("SrcIova", 32, 8));

    [Fact]
    public void IommuIoasUnmap_MatchesTheHeader() => UapiLayout.Check<IommuIoasUnmap>(24, v => v.CopyTo, b => IommuIoasUnmap.FromBytes(b),
        ("Size", 0, 4), ("IoasId", 4, 4), ("Iova", 8, 8), ("Length", 16, 8));

    [Fact]
    public void IommuOption_MatchesTheHeader() => UapiLayout.Check<IommuOption>(24, v => v.CopyTo, b => IommuOption.FromBytes(b),
        ("Size", 0, 4), ("OptionId", 4, 4), ("Op", 8, 2), ("ObjectId", 12, 4), ("Val64", 16, 8));

    [Fact]
    public void IommuVfioIoas_MatchesTheHeader() => UapiLayout.Check<IommuVfioIoas>(12, v => v.CopyTo, b => IommuVfioIoas.FromBytes(b),
        ("Size", 0, 4), ("IoasId", 4, 4), ("Op", 8, 2));

    [Fact]
    public void IommuHwptAlloc_MatchesTheHeader() => UapiLayout.Check<IommuHwptAlloc>(48, v => v.CopyTo, b => IommuHwptAlloc.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("DevId", 8, 4), ("PtId", 12, 4), ("OutHwptId", 16, 4),
        ("DataType", 24, 4), ("DataLen", 28, 4), ("DataUptr", 32, 8), ("FaultId", 40, 4));

    [Fact]
    public void IommuHwInfo_MatchesTheHeader() => UapiLayout.Check<IommuHwInfo>(40, v => v.CopyTo, b => IommuHwInfo.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("DevId", 8, 4), ("DataLen", 12, 4), ("DataUptr", 16, 8),
        ("OutDataType", 24, 4), ("OutMaxPasidLog2", 28, 1), ("OutCapabilities", 32, 8));

    [Fact]
    public void IommuHwInfoAmd_MatchesTheHeader() => UapiLayout.Check<IommuHwInfoAmd>(16, v => v.CopyTo, b => IommuHwInfoAmd.FromBytes(b),
        ("Efr", 0, 8), ("Efr2", 8, 8));

    [Fact]
    public void IommuTestHwInfo_MatchesTheHeader() => UapiLayout.Check<IommuTestHwInfo>(8, v => v.CopyTo, b => IommuTestHwInfo.FromBytes(b),
        ("Flags", 0, 4), ("TestReg", 4, 4));

    [Fact]
    public void IommuHwptSetDirtyTracking_MatchesTheHeader() => UapiLayout.Check<IommuHwptSetDirtyTracking>(16, v => v.CopyTo, b => IommuHwptSetDirtyTracking.FromBytes(b),
        ("Size", 0, 4), ("Flags", 4, 4), ("HwptId", 8, 4));

    [Fact]
    public void IommuHwptGetDirtyBitmap_MatchesTheHeader() => UapiLayout.Check<IommuHwptGetDirtyBitmap>(48, v => v.CopyTo, b => IommuHwptGetDirtyBitmap.FromBytes(b),
        ("Size", 0, 4), ("HwptId", 4, 4), ("Flags", 8, 4), ("Iova", 16, 8), ("Length", 24, 8), ("PageSize", 32, 8), ("Data", 40, 8));

    [Fact]
    public void Commands_AreIO_OfTypeSemicolon_From0x80()
    {
        var destroy = default(IoctlCommand).WithType((byte)';').WithNr((byte)IommufdCmd.Destroy);
        destroy.Raw.ShouldBe(0x3B80U, "IOMMU_DESTROY = _IO(';', 0x80)");
        destroy.Dir.ShouldBe(IoctlDir.None);
        ((byte)IommufdCmd.IoasMap).ShouldBe((byte)0x85);
        ((byte)IommufdCmd.GetHwInfo).ShouldBe((byte)0x8A);
        ((byte)IommufdCmd.HwptGetDirtyBitmap).ShouldBe((byte)0x8C);
        ((byte)IommufdCmd.IoasMapFile).ShouldBe((byte)0x8F);
    }

    [Fact]
    public void FlagValues_AreLinuxs()
    {
        ((uint)IoasMapFlags.FixedIova).ShouldBe(1U);
        ((uint)IoasMapFlags.Writeable).ShouldBe(2U);
        ((uint)IoasMapFlags.Readable).ShouldBe(4U);
        ((uint)HwptAllocFlags.DirtyTracking).ShouldBe(2U);
        ((uint)HwptAllocFlags.FaultIdValid).ShouldBe(4U);
        ((uint)HwInfoType.Amd).ShouldBe(4U);
        ((uint)HwInfoType.Selftest).ShouldBe(0xFEEDBEEFU);
        ((ulong)HwCapabilities.DirtyTracking).ShouldBe(1UL);
        ((uint)HwptGetDirtyBitmapFlags.NoClear).ShouldBe(1U);
        ((uint)IommufdOption.HugePages).ShouldBe(1U);
        ((ushort)IommufdOptionOp.Get).ShouldBe((ushort)1);
    }

    [Fact]
    public void AMapStruct_DecodesFromTheBytesUserspaceWrote()
    {
        byte[] bytes = new byte[40];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), 40U);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), 7U);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), 3U);
        BitConverter.TryWriteBytes(bytes.AsSpan(16), 0x7f00_0000_1000UL);
        BitConverter.TryWriteBytes(bytes.AsSpan(24), 0x20_0000UL);
        BitConverter.TryWriteBytes(bytes.AsSpan(32), 0x1_0000UL);
        var map = IommuIoasMap.FromBytes(bytes);
        map.ToString().ShouldBe("IommuIoasMap { Size = 0x28, Flags = 0x7, IoasId = 0x3, UserVa = 0x7f0000001000, Length = 0x200000, Iova = 0x10000 }");
        map.IsValid.ShouldBeTrue();
        var back = new byte[40];
        map.WithIova(0x2_0000).CopyTo(back);
        BitConverter.ToUInt64(back, 32).ShouldBe(0x2_0000UL);
        back.AsSpan(0, 32).ToArray().ShouldBe(bytes.AsSpan(0, 32).ToArray());
    }
}
