using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Driver.Platform;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommu.Amd;

/// <summary>
/// amd_iommu_snp_disable against a mocked CPU: which pages it makes shared, the lookup and PSMASH
/// of a page at a 2 MiB boundary, and each failure's errno and log line.
/// </summary>
public sealed class AmdSnpDisableTests
{
    private const ulong Zone = 0x20_0000_0000;
    private static readonly RmpUpdateArgs Shared = new(0, false, false, false, 0);

    private readonly Mock<ISnpCpu> _cpu = new(MockBehavior.Strict);
    private readonly CapturedLogs _logs = new();

    // The event log, the first SNP page, lands where the allocator puts it: the zone is placed so
    // that it falls on a 2 MiB boundary when asked for.
    private AmdIommuDriver Driver(bool logOn2M, bool withCpu = true, bool snp = true)
    {
        ulong offset = 0;
        if (logOn2M)
        {
            var probe = Build(new Machine(), Zone, null);
            offset = probe.EventLogPa - Zone;
        }
        ulong zone = logOn2M ? Zone + 0x20_0000 - offset : Zone;
        var driver = Build(new Machine(), zone, withCpu ? _cpu.Object : null);
        if (logOn2M)
            (driver.EventLogPa % 0x20_0000).ShouldBe(0UL);
        else
            (driver.EventLogPa % 0x20_0000).ShouldNotBe(0UL);
        if (snp)
            driver.SnpEnable().ShouldBe(Errno.Ok);
        return driver;
    }

    private AmdIommuDriver Build(Machine machine, ulong zone, ISnpCpu? cpu)
    {
        var driver = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, new FrameAllocator(machine.KernelMemory, zone, 16UL << 20),
            new AmdIommuConfig { MmioBase = Machine.IommuMmioBase }, _logs, cpu: cpu);
        driver.Init().ShouldBe(Errno.Ok);
        return driver;
    }

    private void Rmpread(ulong pa, bool found, bool assigned, bool is2M)
    {
        var entry = default(RmpEntry).WithAssigned(assigned).WithPageSize(is2M);
        _cpu.Setup(c => c.Rmpread(pa, out entry, out is2M)).Returns(found);
    }

    [Fact]
    public void Every_snp_page_becomes_a_4k_shared_page_in_order()
    {
        var driver = Driver(logOn2M: false);
        var pages = driver.SnpPages();
        pages.Count.ShouldBe(2, "one event-log page (256 entries) and the semaphore's page");
        var order = new List<ulong>();
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), Shared)).Callback((ulong pa, RmpUpdateArgs _) => order.Add(pa)).Returns(RmpUpdateResult.Success);
        driver.SnpDisable().ShouldBe(Errno.Ok);
        order.ShouldBe(pages);
        _logs.Single(3137, LogLevel.Information).Message.ShouldContain("2 IOMMU pages");
    }

    [Fact]
    public void Before_snp_was_enabled_nothing_is_touched()
    {
        var driver = Driver(logOn2M: false, snp: false);
        driver.SnpDisable().ShouldBe(Errno.Ok);
        _cpu.Invocations.ShouldBeEmpty();
    }

    [Fact]
    public void A_page_on_a_2m_boundary_in_a_2m_entry_is_psmashed_first()
    {
        var driver = Driver(logOn2M: true);
        Rmpread(driver.EventLogPa, found: true, assigned: true, is2M: true);
        _cpu.Setup(c => c.Psmash(driver.EventLogPa)).Returns(PsmashResult.Success);
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), Shared)).Returns(RmpUpdateResult.Success);
        driver.SnpDisable().ShouldBe(Errno.Ok);
        _cpu.Verify(c => c.Psmash(It.IsAny<ulong>()), Times.Once);
        _cpu.Verify(c => c.Rmpupdate(driver.EventLogPa, Shared), Times.Once);
    }

    [Fact]
    public void A_4k_entry_on_a_2m_boundary_is_not_psmashed()
    {
        var driver = Driver(logOn2M: true);
        Rmpread(driver.EventLogPa, found: true, assigned: true, is2M: false);
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), Shared)).Returns(RmpUpdateResult.Success);
        driver.SnpDisable().ShouldBe(Errno.Ok);
        _cpu.Verify(c => c.Psmash(It.IsAny<ulong>()), Times.Never);
    }

    [Theory]
    [InlineData(false, true, Errno.EFAULT, 3133)]
    [InlineData(true, false, Errno.EINVAL, 3134)]
    public void A_failed_lookup_or_an_unassigned_page_stops_before_any_change(bool found, bool assigned, Errno expected, int logId)
    {
        var driver = Driver(logOn2M: true);
        Rmpread(driver.EventLogPa, found, assigned, is2M: false);
        driver.SnpDisable().ShouldBe(expected);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Never);
        _logs.Single(logId, LogLevel.Warning).Message.ShouldContain($"0x{driver.EventLogPa >> 12:x}");
    }

    [Theory]
    [InlineData(PsmashResult.Permission, Errno.EPERM)]
    [InlineData(PsmashResult.InUse, Errno.EBUSY)]
    [InlineData(PsmashResult.Input, Errno.EINVAL)]
    [InlineData(PsmashResult.BadAddress, Errno.EINVAL)]
    public void A_failed_psmash_is_its_errno(PsmashResult result, Errno expected)
    {
        var driver = Driver(logOn2M: true);
        Rmpread(driver.EventLogPa, found: true, assigned: true, is2M: true);
        _cpu.Setup(c => c.Psmash(driver.EventLogPa)).Returns(result);
        driver.SnpDisable().ShouldBe(expected);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), It.IsAny<RmpUpdateArgs>()), Times.Never);
        _logs.Single(3135, LogLevel.Warning).Message.ShouldContain(result.ToString());
    }

    [Fact]
    public void Overlap_is_retried_and_another_refusal_stops_the_walk_with_efault()
    {
        var driver = Driver(logOn2M: false);
        var pages = driver.SnpPages();
        _cpu.SetupSequence(c => c.Rmpupdate(pages[0], Shared)).Returns(RmpUpdateResult.Overlap).Returns(RmpUpdateResult.Overlap).Returns(RmpUpdateResult.Success);
        _cpu.Setup(c => c.Rmpupdate(pages[1], Shared)).Returns(RmpUpdateResult.Permission);
        driver.SnpDisable().ShouldBe(Errno.EFAULT);
        _cpu.Verify(c => c.Rmpupdate(pages[0], Shared), Times.Exactly(3));
        _cpu.Verify(c => c.Rmpupdate(pages[1], Shared), Times.Once);
        _logs.Single(3136, LogLevel.Error).Message.ShouldContain("Permission");
    }

    [Fact]
    public void Overlap_for_ever_gives_up_after_the_bound()
    {
        var driver = Driver(logOn2M: false);
        _cpu.Setup(c => c.Rmpupdate(It.IsAny<ulong>(), Shared)).Returns(RmpUpdateResult.Overlap);
        driver.SnpDisable().ShouldBe(Errno.EFAULT);
        _cpu.Verify(c => c.Rmpupdate(It.IsAny<ulong>(), Shared), Times.Exactly(1_000));
    }

    [Fact]
    public void Without_the_rmp_instructions_the_pages_stay_with_firmware()
    {
        var driver = Driver(logOn2M: false, withCpu: false);
        driver.SnpDisable().ShouldBe(Errno.ENODEV);
        _logs.Single(3138, LogLevel.Error);
    }

    [Fact]
    public void An_iommu_that_is_not_up_has_no_snp_pages()
    {
        var machine = new Machine();
        var idle = new AmdIommuDriver(machine.Mmio, machine.KernelMemory, machine.Clock, new FrameAllocator(machine.KernelMemory, Zone, 1UL << 20));
        idle.SnpPages().ShouldBeEmpty();
        idle.SnpDisable().ShouldBe(Errno.Ok);
    }
}
