using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Linux's FIXTURE(iommufd_mock_domain): one or two mock domains, plain (4 KiB PTEs) or with
/// huge IOVA pages, and a 2 MiB-aligned buffer as a huge user page would give.
/// </summary>
public abstract class MockDomainFixture
{
    protected const ulong Pg = 4096;
    protected const ulong BufferSize = 4UL << 20;

    protected MockDomainFixture(int domains, bool huge)
    {
        Rig = new IommufdRig(huge ? MockDomainOptions.HugePages : MockDomainOptions.Plain, userFrames: 8192);
        Huge = huge;
        U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        IoasId = ioas;
        for (int i = 0; i < domains; i++)
            Devices.Add(Rig.MockDomain(ioas));
        Buffer = Rig.Buffer(BufferSize);
    }

    private protected IommufdRig Rig { get; }

    protected IommufdUtils U => Rig.Utils;

    protected bool Huge { get; }

    protected uint IoasId { get; }

    protected ulong Buffer { get; }

    protected List<(uint DevId, uint HwptId, ushort DeviceId)> Devices { get; } = [];

    protected static ulong Base => MockDomainOptions.DefaultApertureStart;

    /// <summary>check_mock_iova: every domain translates each page of the range to the page behind the buffer.</summary>
    protected void CheckMockIova(ulong uva, ulong iova, ulong length)
    {
        for (ulong off = 0; off < length; off += Pg)
        {
            Rig.Mm.TryTranslate(uva + off, out ulong pfn).ShouldBeTrue();
            foreach (var dev in Devices)
                Rig.Driver.DomainOf(dev.DeviceId)!.IovaToPhys(iova + off).ShouldBe(pfn * Pg, $"iova 0x{iova + off:x}");
        }
    }

    private void CheckGone(ulong iova, ulong length)
    {
        foreach (var dev in Devices)
        {
            var domain = Rig.Driver.DomainOf(dev.DeviceId)!;
            for (ulong off = 0; off < length; off += Pg)
                domain.IovaToPhys(iova + off).ShouldBe(0UL);
        }
    }

    [Fact]
    public void Basic()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, BufferSize, ref iova).ShouldBe(Errno.Ok);
        CheckMockIova(Buffer, iova, BufferSize);
        Rig.Pages.TotalPins.ShouldBe((long)(BufferSize / Pg));
        U.IoasUnmap(IoasId, iova, BufferSize).ShouldBe(Errno.Ok);
        CheckGone(iova, BufferSize);
        // A user VA that is not mapped fails the map with nothing left behind.
        Rig.Mm.Munmap(Buffer + Pg, Pg);
        U.IoasMap(IoasId, Buffer, 4 * Pg, ref iova).ShouldBe(Errno.EFAULT);
        Rig.Pages.TotalPins.ShouldBe(0);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Huge_pages_follow_the_option()
    {
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 2UL << 20, ref iova).ShouldBe(Errno.Ok);
        var table = Rig.Driver.DomainOf(Devices[0].DeviceId)!.Table;
        table.TryLookup(iova, out var entry).ShouldBeTrue();
        bool contiguous = Rig.Mm.TryTranslate(Buffer, out ulong first) && Enumerable.Range(0, 512).All(i =>
            Rig.Mm.TryTranslate(Buffer + ((ulong)i * Pg), out ulong p) && p == first + (ulong)i);
        entry.SizeLg2.ShouldBe(Huge && contiguous && (first % 512) == 0 ? 21 : 12);
        U.IoasUnmap(IoasId, 0, ulong.MaxValue).ShouldBe(Errno.Ok);
        // Huge pages off (allowed once no area is mapped): every page is its own PTE, whatever the memory.
        ulong zero = 0;
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref zero).ShouldBe(Errno.Ok);
        U.IoasMap(IoasId, Buffer, 2UL << 20, ref iova).ShouldBe(Errno.Ok);
        table.TryLookup(iova, out entry).ShouldBeTrue();
        entry.SizeLg2.ShouldBe(12);
        U.Option(Uapi.IommufdOption.HugePages, Uapi.IommufdOptionOp.Set, IoasId, ref zero).ShouldBe(Errno.Ok, "already off");
        Rig.CheckNoLeak();
    }

    [Fact]
    public void All_aligns()
    {
        const ulong span = 16 * Pg;
        for (ulong start = 0; start < span; start += Pg)
        {
            for (ulong end = start + Pg; end <= span; end += Pg)
            {
                ulong iova = Base + start;
                U.IoasMap(IoasId, Buffer + start, end - start, ref iova).ShouldBe(Errno.Ok);
                CheckMockIova(Buffer + start, iova, end - start);
                U.IoasUnmap(IoasId, iova, end - start, out ulong unmapped).ShouldBe(Errno.Ok);
                unmapped.ShouldBe(end - start);
                CheckGone(iova, end - start);
            }
        }
        Rig.CheckNoLeak();
    }

    [Fact]
    public void All_aligns_copy()
    {
        const ulong span = 12 * Pg;
        U.IoasAlloc(out uint src).ShouldBe(Errno.Ok);
        ulong srcIova = Base;
        U.IoasMap(src, Buffer, span, ref srcIova).ShouldBe(Errno.Ok);
        for (ulong start = 0; start < span; start += Pg)
        {
            for (ulong end = start + Pg; end <= span; end += Pg)
            {
                ulong dst = Base + (1UL << 20) + start;
                U.IoasCopy(IoasId, src, Base + start, end - start, ref dst).ShouldBe(Errno.Ok);
                CheckMockIova(Buffer + start, dst, end - start);
                U.IoasUnmap(IoasId, dst, end - start).ShouldBe(Errno.Ok);
            }
        }
        Rig.CheckNoLeak();
    }

    [Fact]
    public void User_copy()
    {
        // Pages mapped into an IOAS with no domain (an access's IOAS) are copied into the domains.
        U.IoasAlloc(out uint plain).ShouldBe(Errno.Ok);
        ulong iova = Base;
        U.IoasMap(plain, Buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        Rig.Pages.TotalPins.ShouldBe(0);
        ulong dst = Base;
        U.IoasCopy(IoasId, plain, Base, 8 * Pg, ref dst).ShouldBe(Errno.Ok);
        CheckMockIova(Buffer, dst, 8 * Pg);
        Rig.Pages.TotalPins.ShouldBe(8);
        U.Destroy(plain).ShouldBe(Errno.Ok);
        CheckMockIova(Buffer, dst, 8 * Pg);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Replace()
    {
        var (dev, hwpt, device) = Devices[0];
        U.IoasAlloc(out uint other).ShouldBe(Errno.Ok);
        ulong iova = Base;
        U.IoasMap(other, Buffer, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        uint pt = other;
        Rig.Ctx.DeviceReplace(dev, ref pt).ShouldBe(Errno.Ok);
        pt.ShouldNotBe(hwpt);
        Rig.Driver.DomainOf(device)!.IovaToPhys(Base).ShouldNotBe(0UL, "the new IOAS's mapping is there");
        if (Devices.Count == 1)
            U.Destroy(hwpt).ShouldBe(Errno.ENOENT, "the old automatic HWPT went with its last device");
        pt = IoasId;
        Rig.Ctx.DeviceReplace(dev, ref pt).ShouldBe(Errno.Ok);
        uint bad = 9999;
        Rig.Ctx.DeviceReplace(dev, ref bad).ShouldBe(Errno.ENOENT);
        Rig.Ctx.DeviceDetach(dev).ShouldBe(Errno.Ok);
        Rig.Ctx.DeviceReplace(dev, ref pt).ShouldBe(Errno.EINVAL, "replace needs an attached device");
        Rig.CheckNoLeak();
    }

    [Fact]
    public void Alloc_hwpt()
    {
        var (dev, _, device) = Devices[0];
        U.HwptAlloc(dev, IoasId, HwptAllocFlags.None, out uint hwpt).ShouldBe(Errno.Ok);
        U.HwptAlloc(dev, IoasId, HwptAllocFlags.NestParent, out _).ShouldBe(Errno.EOPNOTSUPP);
        U.HwptAlloc(dev, IoasId, (HwptAllocFlags)0x100, out _).ShouldBe(Errno.EOPNOTSUPP);
        U.HwptAlloc(dev, IoasId, HwptAllocFlags.DirtyTracking, out _).ShouldBe(Errno.EOPNOTSUPP, "the mock device cannot track");
        U.HwptAlloc(dev, hwpt, HwptAllocFlags.None, out _).ShouldBe(Errno.EINVAL, "nesting is not offered");
        U.HwptAlloc(dev + 1000, IoasId, HwptAllocFlags.None, out _).ShouldBe(Errno.ENOENT);
        U.HwptAlloc(dev, IoasId + 1000, HwptAllocFlags.None, out _).ShouldBe(Errno.ENOENT);
        U.HwptAlloc(dev, IoasId, HwptAllocFlags.FaultIdValid, out _).ShouldBe(Errno.ENOENT, "no FAULT object");
        uint pt = hwpt;
        Rig.Ctx.DeviceReplace(dev, ref pt).ShouldBe(Errno.Ok);
        U.Destroy(hwpt).ShouldBe(Errno.EBUSY);
        ulong iova = Base;
        U.IoasMap(IoasId, Buffer, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        Rig.Driver.DomainOf(device)!.IovaToPhys(Base).ShouldNotBe(0UL);
        Rig.Ctx.DeviceDetach(dev).ShouldBe(Errno.Ok);
        U.Destroy(hwpt).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }

    [Fact]
    public void File_backed()
    {
        var memfd = Rig.NewMemFd(BufferSize);
        int fd = Rig.Fds.Install(memfd);
        ulong iova = Base;
        U.IoasMapFile(IoasId, fd, Pg, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        for (ulong i = 0; i < 8; i++)
        {
            memfd.File.TryFindPage(i + 1, out ulong pfn).ShouldBeTrue();
            foreach (var dev in Devices)
                Rig.Driver.DomainOf(dev.DeviceId)!.IovaToPhys(iova + (i * Pg)).ShouldBe(pfn * Pg);
        }
        ulong auto = 0;
        U.IoasMapFile(IoasId, fd, 0, 8 * Pg, ref auto, IoasMapFlags.Readable | IoasMapFlags.Writeable).ShouldBe(Errno.Ok);
        auto.ShouldNotBe(0UL);
        U.IoasUnmap(IoasId, 0, ulong.MaxValue).ShouldBe(Errno.Ok);
        Rig.CheckNoLeak();
    }
}

public sealed class MockDomainOneTests() : MockDomainFixture(1, huge: false);

public sealed class MockDomainTwoTests() : MockDomainFixture(2, huge: false);

public sealed class MockDomainOneHugeTests() : MockDomainFixture(1, huge: true);

public sealed class MockDomainTwoHugeTests() : MockDomainFixture(2, huge: true);
