using Driver.Kernel.Iommu;
using Driver.Kernel.Iommu.Amd;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Mm;
using Driver.Platform;
using Driver.Platform.Dma;
using Driver.Platform.Iommu;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The suite's core cases on the AMD driver over the simulated IOMMU, with DMA agents checking translations end to end.</summary>
public partial class IommufdOnAmdTests
{
    private const ulong Pg = 4096;
    private const ulong UserZone = 0x30_0000_0000;

    private sealed class Setup
    {
        public Setup(MachineConfig? config = null)
        {
            Machine = new Machine(config ?? new MachineConfig());
            var tables = new FrameAllocator(Machine.KernelMemory, 0x20_0000_0000, 64UL << 20);
            Driver = new AmdIommuDriver(Machine.Mmio, Machine.KernelMemory, Machine.Clock, tables,
                new AmdIommuConfig { MmioBase = Machine.IommuMmioBase, Irq = Machine.IommuIrq }, interrupts: Machine.Interrupts);
            Driver.Init().ShouldBe(Errno.Ok);
            Core = new IommuCore(Driver, Machine.Clock, new IommuCoreConfig { Strict = true });
            var userFrames = new FrameAllocator(Machine.KernelMemory, UserZone, 16UL << 20);
            Pages = new PageCounts(userFrames);
            Mm = new UserAddressSpace(Pages, Machine.KernelMemory);
            Ctx = new IommufdSubsystem(Core, Machine.KernelMemory).Open();
            File = new IommufdFile(Ctx, Mm, new FdTable());
            U = new IommufdUtils(File);
            Faults = new AmdFaultSubscription(Driver.EventLog, Ctx);
        }

        public Machine Machine { get; }

        public AmdIommuDriver Driver { get; }

        public IommuCore Core { get; }

        public PageCounts Pages { get; }

        public UserAddressSpace Mm { get; }

        public IommufdContext Ctx { get; }

        public IommufdFile File { get; }

        public IommufdUtils U { get; }

        public AmdFaultSubscription Faults { get; }

        public uint Bind(ushort device)
        {
            Core.ProbeDevice(device).ShouldBe(Errno.Ok);
            Ctx.DeviceBind(device, out uint dev).ShouldBe(Errno.Ok);
            return dev;
        }

        public ulong Buffer(ulong length)
        {
            Mm.Mmap(length, out ulong uva).ShouldBe(Errno.Ok);
            Mm.Populate(uva, length).ShouldBe(Errno.Ok);
            return uva;
        }

        public void CheckTranslates(ushort device, ulong iova, ulong uva, ulong length)
        {
            for (ulong off = 0; off < length; off += Pg)
            {
                Mm.TryTranslate(uva + off, out ulong pfn).ShouldBeTrue();
                var result = Machine.Iommu.Translate(device, iova + off, write: true);
                result.Status.ShouldBe(TranslationStatus.Ok);
                result.Spa.ShouldBe(pfn * Pg);
            }
        }

        public DmaAgent Dma(ushort device, params ulong[] iovas)
        {
            var agent = Machine.AddDmaAgent(new DmaAgentConfig(device, [.. iovas.Select(i => new DmaOp(i, 8, Write: true))])
            {
                StartNs = Machine.Clock.NowNs + 100,
                IntervalNs = 100,
                Transactions = iovas.Length,
            });
            Machine.Clock.Delay(2_000 + (100 * iovas.Length));
            return agent;
        }
    }

    [Fact]
    public void Bind_attach_map_dma_unmap()
    {
        var s = new Setup();
        uint dev = s.Bind(0x20);
        s.Machine.Iommu.Translate(0x20, 0x1000, write: false).Status.ShouldNotBe(TranslationStatus.Ok, "a bound device is blocked");
        s.U.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        uint pt = ioas;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        ulong buffer = s.Buffer(16 * Pg);
        ulong iova = 0x10_0000;
        s.U.IoasMap(ioas, buffer, 16 * Pg, ref iova).ShouldBe(Errno.Ok);
        s.CheckTranslates(0x20, iova, buffer, 16 * Pg);
        var agent = s.Dma(0x20, iova, iova + (15 * Pg));
        agent.Records.Select(r => r.Outcome).ShouldBe([DmaOutcome.Completed, DmaOutcome.Completed]);
        s.U.IoasUnmap(ioas, iova, 16 * Pg).ShouldBe(Errno.Ok);
        s.Machine.Iommu.Translate(0x20, iova, write: true).Status.ShouldBe(TranslationStatus.IoPageFault);
        var late = s.Dma(0x20, iova);
        late.Records.Single().Outcome.ShouldBe(DmaOutcome.Faulted);
        s.Ctx.GetDevice(dev, out var device).ShouldBe(Errno.Ok);
        late.Records.Single().EventWord0.ShouldNotBe(0UL);
        s.Driver.EventLog.HandleInterrupt();
        device!.Faults.ShouldBeGreaterThan(0, $"unclaimed {s.Faults.Unclaimed}");
        device.LastFaultIova.ShouldBe(iova);
        s.Pages.TotalPins.ShouldBe(0);
        s.Ctx.Close();
        s.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void A_fault_of_a_device_not_bound_is_unclaimed_and_after_dispose_none_is_counted()
    {
        var s = new Setup();
        uint dev = s.Bind(0x20);
        s.Core.ProbeDevice(0x21).ShouldBe(Errno.Ok);
        s.Core.AllocPagingDomain(DomainAllocFlags.None, out var domain).ShouldBe(Errno.Ok);
        s.Core.AttachDevice(domain!, 0x21).ShouldBe(Errno.Ok);
        s.Dma(0x21, 0x5000).Records.Single().Outcome.ShouldBe(DmaOutcome.Faulted);
        s.Driver.EventLog.HandleInterrupt();
        s.Faults.Unclaimed.ShouldBe(1);
        s.Ctx.GetDevice(dev, out var device).ShouldBe(Errno.Ok);
        device!.Faults.ShouldBe(0);

        s.Faults.Dispose();
        s.Dma(0x21, 0x6000).Records.Single().Outcome.ShouldBe(DmaOutcome.Faulted);
        s.Driver.EventLog.HandleInterrupt();
        s.Faults.Unclaimed.ShouldBe(1);
    }

    [Fact]
    public void Two_devices_share_the_automatic_domain_and_a_later_one_sees_existing_maps()
    {
        var s = new Setup();
        s.U.IoasAlloc(out uint ioas);
        ulong buffer = s.Buffer(8 * Pg);
        ulong iova = 0x40_0000;
        s.U.IoasMap(ioas, buffer, 8 * Pg, ref iova).ShouldBe(Errno.Ok);
        uint a = s.Bind(0x21), b = s.Bind(0x22);
        uint pa = ioas, pb = ioas;
        s.Ctx.DeviceAttach(a, ref pa).ShouldBe(Errno.Ok);
        s.Ctx.DeviceAttach(b, ref pb).ShouldBe(Errno.Ok);
        pb.ShouldBe(pa);
        s.CheckTranslates(0x21, iova, buffer, 8 * Pg);
        s.CheckTranslates(0x22, iova, buffer, 8 * Pg);
        s.Pages.TotalPins.ShouldBe(8);
        s.Ctx.Close();
        s.Pages.TotalPins.ShouldBe(0);
        s.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Replace_moves_dma_to_the_other_ioas_without_a_gap()
    {
        var s = new Setup();
        s.U.IoasAlloc(out uint first);
        s.U.IoasAlloc(out uint second);
        ulong one = s.Buffer(4 * Pg), two = s.Buffer(4 * Pg);
        ulong iova = 0x20_0000, iova2 = 0x20_0000;
        s.U.IoasMap(first, one, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        s.U.IoasMap(second, two, 4 * Pg, ref iova2).ShouldBe(Errno.Ok);
        uint dev = s.Bind(0x23);
        uint pt = first;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        s.CheckTranslates(0x23, iova, one, 4 * Pg);
        pt = second;
        s.Ctx.DeviceReplace(dev, ref pt).ShouldBe(Errno.Ok);
        s.CheckTranslates(0x23, iova, two, 4 * Pg);
        s.Ctx.DeviceDetach(dev).ShouldBe(Errno.Ok);
        s.Machine.Iommu.Translate(0x23, iova, write: false).Status.ShouldNotBe(TranslationStatus.Ok);
        s.Ctx.DeviceUnbind(dev).ShouldBe(Errno.Ok);
        s.Core.GroupOf(0x23)!.Domain.ShouldBe(s.Core.GroupOf(0x23)!.DefaultDomain, "unbind gives the device back to its DMA domain");
        s.Ctx.Close();
        s.Machine.Monitor.Violations.ShouldBeEmpty();
    }

    [Fact]
    public void Explicit_hwpt_and_access_rw_on_the_machine()
    {
        var s = new Setup();
        s.U.IoasAlloc(out uint ioas);
        uint dev = s.Bind(0x24);
        s.U.HwptAlloc(dev, ioas, HwptAllocFlags.None, out uint hwpt).ShouldBe(Errno.Ok);
        uint pt = hwpt;
        s.Ctx.DeviceAttach(dev, ref pt).ShouldBe(Errno.Ok);
        ulong buffer = s.Buffer(4 * Pg);
        ulong iova = 0x8000;
        s.U.IoasMap(ioas, buffer, 4 * Pg, ref iova).ShouldBe(Errno.Ok);
        s.CheckTranslates(0x24, iova, buffer, 4 * Pg);
        var ops = new TestAccessOps(s.Ctx);
        s.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        s.Ctx.AccessAttach(access!, ioas).ShouldBe(Errno.Ok);
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8];
        s.Ctx.AccessRw(access!, iova + Pg + 8, data, write: true).ShouldBe(Errno.Ok);
        var back = new byte[8];
        s.Mm.CopyFromUser(buffer + Pg + 8, back).ShouldBe(Errno.Ok);
        back.ShouldBe(data);
        s.U.Destroy(hwpt).ShouldBe(Errno.EBUSY);
        s.Ctx.Close();
        s.Pages.TotalPins.ShouldBe(0);
        s.Machine.Monitor.Violations.ShouldBeEmpty();
    }
}
