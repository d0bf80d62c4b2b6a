using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Linux's FIXTURE(iommufd_ioas): every body runs on each variant (no domain, one mock domain,
/// two mock domains, one mock domain with a pin batch of 16 pages, the selftest's temporary
/// memory limit).
/// </summary>
public abstract partial class IoasFixture
{
    protected const ulong Pg = 4096;

    protected IoasFixture(int mockDomains, int pinBatch = int.MaxValue)
    {
        Rig = new IommufdRig();
        Rig.Ctx.PinBatch = pinBatch;
        MockDomains = mockDomains;
        U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        IoasId = ioas;
        for (int i = 0; i < mockDomains; i++)
            Devices.Add(Rig.MockDomain(ioas));
        Buffer = Rig.Buffer(BufferSize);
    }

    protected const ulong BufferSize = 64 * Pg;

    private protected IommufdRig Rig { get; }

    protected IommufdUtils U => Rig.Utils;

    protected int MockDomains { get; }

    protected uint IoasId { get; }

    protected ulong Buffer { get; }

    protected List<(uint DevId, uint HwptId, ushort DeviceId)> Devices { get; } = [];

    /// <summary>Where mappings go: inside the mock aperture, which without a domain is as good as any.</summary>
    protected static ulong Base => MockDomainOptions.DefaultApertureStart;

    protected ulong Alignment => MockDomains == 0 ? 1 : Pg;

    /// <summary>Every domain maps <paramref name="iova"/> to the page behind <paramref name="uva"/> (or, without a domain, nothing can be checked).</summary>
    protected void CheckMapped(ulong iova, ulong uva, ulong length)
    {
        for (ulong off = 0; off < length; off += Pg)
        {
            Rig.Mm.TryTranslate(uva + off, out ulong pfn).ShouldBeTrue();
            foreach (var dev in Devices)
                Rig.Driver.DomainOf(dev.DeviceId)!.IovaToPhys(iova + off).ShouldBe(pfn * Pg);
        }
    }

    protected void CheckUnmapped(ulong iova, ulong length)
    {
        for (ulong off = 0; off < length; off += Pg)
        {
            foreach (var dev in Devices)
                Rig.Driver.DomainOf(dev.DeviceId)!.IovaToPhys(iova + off).ShouldBe(0UL);
        }
    }

    [Fact]
    public void Ioas_auto_destroy() => Rig.CheckNoLeak();

    [Fact]
    public void Ioas_destroy()
    {
        if (MockDomains != 0)
        {
            U.Destroy(IoasId).ShouldBe(Errno.EBUSY);
            foreach (var dev in Devices)
                Rig.Ctx.DeviceUnbind(dev.DevId).ShouldBe(Errno.Ok);
        }
        U.Destroy(IoasId).ShouldBe(Errno.Ok);
        U.Destroy(IoasId).ShouldBe(Errno.ENOENT);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Ioas_area_destroy()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 16 * Pg, ref iova).ShouldBe(Errno.Ok);
        foreach (var dev in Devices)
            Rig.Ctx.DeviceUnbind(dev.DevId).ShouldBe(Errno.Ok);
        Rig.Pages.TotalPins.ShouldBe(0, "with the last domain gone nothing stays pinned");
        U.Destroy(IoasId).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Ioas_area_auto_destroy()
    {
        for (ulong i = 0; i < 10; i++)
        {
            ulong iova = Base + (i * 4 * Pg);
            U.IoasMap(IoasId, Buffer + (i * Pg), Pg, ref iova).ShouldBe(Errno.Ok);
        }
        Rig.Pages.TotalPins.ShouldBe(MockDomains == 0 ? 0 : 10);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Hwpt_attach()
    {
        if (MockDomains == 0)
        {
            uint none = 0;
            Rig.Ctx.DeviceAttach(1000, ref none).ShouldBe(Errno.ENOENT);
            return;
        }
        var (dev, hwpt, _) = Devices[0];
        ushort other = Rig.NewDevice();
        Rig.Ctx.DeviceBind(other, out uint otherId).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        Rig.Ctx.DeviceAttach(otherId, ref pt).ShouldBe(Errno.Ok);
        pt.ShouldBe(hwpt);
        Rig.Ctx.DeviceAttach(otherId, ref pt).ShouldBe(Errno.EINVAL, "already attached");
        uint bogus = otherId;
        Rig.Ctx.DeviceReplace(otherId, ref bogus).ShouldBe(Errno.EINVAL, "a device is no page table");
        Rig.Ctx.DeviceDetach(otherId).ShouldBe(Errno.Ok);
        Rig.Ctx.DeviceDetach(otherId).ShouldBe(Errno.EINVAL);
        U.Destroy(hwpt).ShouldBe(Errno.EBUSY);
        Rig.Ctx.DeviceBind(other, out _).ShouldBe(Errno.EBUSY, "DMA ownership is claimed once");
        _ = dev;
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Get_hw_info()
    {
        uint len = 0;
        if (MockDomains == 0)
        {
            U.GetHwInfo(IoasId + 100, 0, ref len, out _, out _).ShouldBe(Errno.ENOENT);
            return;
        }
        U.GetHwInfo(Devices[0].DevId, 0, ref len, out var type, out _).ShouldBe(Errno.Ok);
        type.ShouldBe(Uapi.HwInfoType.Selftest);
        len.ShouldBe((uint)Uapi.IommuTestHwInfo.Bytes);
    }

    [Fact]
    public void Area()
    {
        // Sixteen areas at fixed IOVA, every other page.
        for (ulong i = 0; i < 16; i++)
        {
            ulong iova = Base + (i * 2 * Pg);
            U.IoasMap(IoasId, Buffer + (i * Pg), Pg, ref iova).ShouldBe(Errno.Ok);
            CheckMapped(iova, Buffer + (i * Pg), Pg);
        }
        ulong overlap = Base;
        U.IoasMap(IoasId, Buffer, 2 * Pg, ref overlap).ShouldBe(Errno.EEXIST);
        for (ulong i = 0; i < 16; i++)
        {
            U.IoasUnmap(IoasId, Base + (i * 2 * Pg), Pg, out ulong unmapped).ShouldBe(Errno.Ok);
            unmapped.ShouldBe(Pg);
            CheckUnmapped(Base + (i * 2 * Pg), Pg);
        }
        U.IoasUnmap(IoasId, Base, Pg).ShouldBe(Errno.ENOENT);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Unmap_fully_contained_areas()
    {
        for (ulong i = 0; i < 4; i++)
        {
            ulong iova = Base + (i * 16 * Pg);
            U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        }
        // Starts inside the first area: nothing may be split.
        U.IoasUnmap(IoasId, Base + Pg, 60 * Pg).ShouldBe(Errno.ENOENT);
        // Ends inside the last one: the areas before it are gone, the errno says the rest is not.
        U.IoasUnmap(IoasId, Base, (48 * Pg) + Pg, out _).ShouldBe(Errno.ENOENT);
        U.IoasUnmap(IoasId, Base, 64 * Pg, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(8 * Pg, "only the last area was left");
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Area_auto_iova()
    {
        var iovas = new List<(ulong Iova, ulong Length)>();
        for (ulong i = 1; i <= 10; i++)
        {
            ulong length = i * Pg;
            U.IoasMapAuto(IoasId, Buffer, length, out ulong iova).ShouldBe(Errno.Ok);
            iova.ShouldNotBe(0UL);
            ulong align = Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2(length), 1UL << System.Numerics.BitOperations.TrailingZeroCount(Buffer));
            (iova % align).ShouldBe(0UL, $"length 0x{length:x}");
            if (MockDomains != 0)
                iova.ShouldBeGreaterThanOrEqualTo(MockDomainOptions.DefaultApertureStart);
            CheckMapped(iova, Buffer, length);
            iovas.Add((iova, length));
        }
        foreach (var (iova, length) in iovas)
            U.IoasUnmap(IoasId, iova, length).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Area_allowed()
    {
        ulong start = Base + (1UL << 20);
        ulong allowed = Rig.Ranges((start, start + (16 * Pg) - 1));
        U.IoasAllowIovas(IoasId, allowed, 1).ShouldBe(Errno.Ok);
        U.IoasMapAuto(IoasId, Buffer, 4 * Pg, out ulong iova).ShouldBe(Errno.Ok);
        iova.ShouldBe(start);
        U.IoasMapAuto(IoasId, Buffer, 16 * Pg, out _).ShouldBe(Errno.ENOSPC);
        ulong overlapping = Rig.Ranges((start, start + (2 * Pg)), (start + Pg, start + (4 * Pg)));
        U.IoasAllowIovas(IoasId, overlapping, 2).ShouldBe(Errno.EINVAL);
        ulong backwards = Rig.Ranges((start + Pg, start));
        U.IoasAllowIovas(IoasId, backwards, 1).ShouldBe(Errno.EINVAL);
        U.IoasAllowIovas(IoasId, 0, 1).ShouldBe(Errno.EFAULT);
        U.IoasAllowIovas(IoasId + 1000, allowed, 1).ShouldBe(Errno.ENOENT);
        if (MockDomains != 0)
        {
            ulong reserved = Rig.Ranges((0x1000, 0x10000));
            U.IoasAllowIovas(IoasId, reserved, 1).ShouldBe(Errno.EADDRINUSE, "below the aperture is reserved");
        }
        // The failures kept the old list: the next automatic IOVA is still inside it.
        U.IoasMapAuto(IoasId, Buffer, 4 * Pg, out ulong next).ShouldBe(Errno.Ok);
        next.ShouldBe(start + (4 * Pg));
        U.IoasAllowIovas(IoasId, 0, 0).ShouldBe(Errno.Ok, "an empty list allows everything");
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Copy_area()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        U.IoasAlloc(out uint dst).ShouldBe(Errno.Ok);
        var other = Rig.MockDomain(dst);
        ulong dstIova = Base + (1UL << 20);
        U.IoasCopy(dst, IoasId, Base, 8 * Pg, ref dstIova).ShouldBe(Errno.Ok);
        Rig.Driver.DomainOf(other.DeviceId)!.IovaToPhys(dstIova).ShouldNotBe(0UL);
        Rig.Mm.TryTranslate(Buffer, out ulong pfn);
        Rig.Pages.PinCount(pfn).ShouldBe(1, "the copy shares the pin");
        U.IoasCopy(dst, IoasId, Base + (8 * Pg), Pg, ref dstIova).ShouldBe(Errno.ENOENT);
        U.IoasCopy(dst, IoasId + 1000, Base, Pg, ref dstIova).ShouldBe(Errno.ENOENT);
        U.IoasCopy(dst + 1000, IoasId, Base, Pg, ref dstIova).ShouldBe(Errno.ENOENT);
        U.IoasCopy(dst, IoasId, Base, Pg, ref dstIova, IoasMapFlags.FixedIova).ShouldBe(Errno.EINVAL);
        U.IoasCopy(dst, IoasId, Base, ulong.MaxValue, ref dstIova).ShouldBe(Errno.EOVERFLOW);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Iova_ranges()
    {
        ulong array = Rig.Buffer(Pg);
        uint num = 0;
        U.IoasIovaRanges(IoasId, array, ref num, out ulong alignment).ShouldBe(Errno.EMSGSIZE);
        num.ShouldBe(1u);
        alignment.ShouldBe(Alignment);
        num = 4;
        U.IoasIovaRanges(IoasId, array, ref num, out _).ShouldBe(Errno.Ok);
        num.ShouldBe(1u);
        var ranges = Rig.ReadRanges(array, 1);
        if (MockDomains == 0)
            ranges[0].ShouldBe((0UL, ulong.MaxValue));
        else
            ranges[0].ShouldBe((MockDomainOptions.DefaultApertureStart, MockDomainOptions.DefaultApertureEnd));
        num = 1;
        U.IoasIovaRanges(IoasId + 1000, array, ref num, out _).ShouldBe(Errno.ENOENT);
        U.IoasIovaRanges(IoasId, 0, ref num, out _).ShouldBe(Errno.EFAULT);
    }

    [Fact]
    public void Ioas_option_huge_pages()
    {
        ulong value = 0;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Get, IoasId, ref value).ShouldBe(Errno.Ok);
        value.ShouldBe(1UL);
        value = 0;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref value).ShouldBe(Errno.Ok);
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Get, IoasId, ref value).ShouldBe(Errno.Ok);
        value.ShouldBe(0UL);
        value = 2;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref value).ShouldBe(Errno.EINVAL);
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Get, IoasId + 1000, ref value).ShouldBe(Errno.ENOENT);
        value = 1;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref value).ShouldBe(Errno.Ok);
        // With a domain holding mappings large pages can no longer be turned off.
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, Pg, ref iova).ShouldBe(Errno.Ok);
        value = 0;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref value).ShouldBe(MockDomains == 0 ? Errno.Ok : Errno.EINVAL);
    }

    [Fact]
    public void Ioas_iova_alloc()
    {
        for (ulong pages = 1; pages <= 32; pages++)
        {
            U.IoasMapAuto(IoasId, Buffer, pages * Pg, out ulong iova).ShouldBe(Errno.Ok);
            U.IoasUnmap(IoasId, iova, pages * Pg).ShouldBe(Errno.Ok);
        }
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Ioas_align_change()
    {
        // A sub-page mapping is fine without a domain and refused with one.
        ulong iova = Base + 1;
        var err = U.IoasMap(IoasId, Buffer + 1, Pg, ref iova);
        if (MockDomains != 0)
        {
            err.ShouldBe(Errno.EINVAL);
            return;
        }
        err.ShouldBe(Errno.Ok);
        ushort device = Rig.NewDevice();
        Rig.Ctx.DeviceBind(device, out uint devId).ShouldBe(Errno.Ok);
        uint pt = IoasId;
        Rig.Ctx.DeviceAttach(devId, ref pt).ShouldBe(Errno.EADDRINUSE, "an area is not page aligned");
        U.IoasUnmap(IoasId, Base + 1, Pg).ShouldBe(Errno.Ok);
        Rig.Ctx.DeviceAttach(devId, ref pt).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Copy_sweep()
    {
        ulong iova = Base + (4 * Pg);
        U.IoasMap(IoasId, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        U.IoasAlloc(out uint dst);
        for (ulong start = Base; start < Base + (16 * Pg); start += Pg)
        {
            for (ulong length = Pg; length <= 8 * Pg; length += Pg)
            {
                ulong dstIova = 0;
                var err = U.IoasCopy(dst, IoasId, start, length, ref dstIova, IoasMapFlags.Readable | IoasMapFlags.Writeable);
                bool inside = start >= Base + (4 * Pg) && start + length <= Base + (12 * Pg);
                err.ShouldBe(inside ? Errno.Ok : Errno.ENOENT, $"copy of 0x{length:x} at 0x{start:x}");
                if (inside)
                    U.IoasUnmap(dst, dstIova, length).ShouldBe(Errno.Ok);
            }
        }
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Unmap_all()
    {
        ulong total = 0;
        for (ulong i = 0; i < 5; i++)
        {
            ulong iova = Base + (i * 8 * Pg);
            U.IoasMap(IoasId, Buffer, (i + 1) * Pg, ref iova).ShouldBe(Errno.Ok);
            total += (i + 1) * Pg;
        }
        U.IoasUnmap(IoasId, 0, ulong.MaxValue, out ulong unmapped).ShouldBe(Errno.Ok);
        unmapped.ShouldBe(total);
        Rig.Pages.TotalPins.ShouldBe(0);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Map_errors()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        iova = Base + (2 * Pg);
        U.IoasMap(IoasId, Buffer, 4 * Pg, ref iova).ShouldBe(Errno.EEXIST);
        iova = Base + (8 * Pg);
        U.IoasMap(IoasId, 0x1000, 4 * Pg, ref iova).ShouldBe(MockDomains == 0 ? Errno.Ok : Errno.EFAULT, "without a domain nothing is pinned yet");
        ulong readOnly = Rig.Buffer(Pg);
        Rig.Mm.Munmap(readOnly, Pg);
        Rig.Mm.Mmap(Pg, writable: false, out ulong ro).ShouldBe(Errno.Ok);
        iova = Base + (32 * Pg);
        U.IoasMap(IoasId, ro, Pg, ref iova, IoasMapFlags.Readable | IoasMapFlags.FixedIova).ShouldBe(Errno.Ok);
        iova = Base + (40 * Pg);
        U.IoasMap(IoasId, ro, Pg, ref iova).ShouldBe(MockDomains == 0 ? Errno.Ok : Errno.EFAULT, "a write mapping of read-only memory");
        if (MockDomains != 0)
        {
            iova = 0x1000;
            U.IoasMap(IoasId, Buffer, Pg, ref iova).ShouldBe(Errno.EINVAL, "below the aperture is reserved");
            iova = Base + 0x800;
            U.IoasMap(IoasId, Buffer, Pg, ref iova).ShouldBe(Errno.EINVAL, "misaligned");
            iova = Base + (48 * Pg);
            U.IoasMap(IoasId, Buffer, Pg + 1, ref iova).ShouldBe(Errno.EINVAL, "length not a multiple of the alignment");
        }
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Map_file()
    {
        var memfd = Rig.NewMemFd(16 * Pg);
        int fd = Rig.Fds.Install(memfd);
        ulong iova = Base;
        U.IoasMapFile(IoasId, fd, 0, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        foreach (var dev in Devices)
        {
            memfd.File.TryFindPage(0, out ulong pfn).ShouldBeTrue();
            Rig.Driver.DomainOf(dev.DeviceId)!.IovaToPhys(Base).ShouldBe(pfn * Pg);
        }
        iova = Base + (16 * Pg);
        U.IoasMapFile(IoasId, fd + 7, 0, Pg, ref iova).ShouldBe(Errno.EBADF);
        var ro = memfd.File.Open(writable: false);
        int roFd = Rig.Fds.Install(ro);
        U.IoasMapFile(IoasId, roFd, 0, Pg, ref iova).ShouldBe(Errno.EPERM);
        U.IoasMapFile(IoasId, roFd, 0, Pg, ref iova, IoasMapFlags.Readable | IoasMapFlags.FixedIova).ShouldBe(Errno.Ok);
        U.IoasUnmap(IoasId, 0, ulong.MaxValue).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }
}

public sealed class IoasNoDomainTests() : IoasFixture(0);

public sealed class IoasMockDomainTests() : IoasFixture(1);

public sealed class IoasTwoMockDomainTests() : IoasFixture(2);

public sealed class IoasMockDomainLimitTests() : IoasFixture(1, pinBatch: 16);
