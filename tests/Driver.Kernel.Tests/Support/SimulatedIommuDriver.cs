using System.Numerics;
using Driver.Hw.AmdIommu;
using Driver.Hw.Interfaces;
using Driver.Kernel.IommuPt;
using Driver.Platform;
using Driver.Platform.Iommu;
using Shouldly;

namespace Driver.Kernel.Tests.Support;

/// <summary>
/// The part of an AMD IOMMU driver a page table needs, on the simulated machine: one device in
/// one domain, its DTE pointing at the table's top, and IOTLB flushes posted to the command ring
/// as INVALIDATE_IOMMU_PAGES followed by COMPLETION_WAIT, polled as Linux polls.
/// </summary>
internal sealed class SimulatedIommuDriver : IIommuPtDriver
{
    public const ushort DeviceId = 0x10;
    public const ushort DomainId = 7;
    private const ulong DeviceTable = 0x0100_0000;
    private const ulong CommandRing = 0x0200_0000;
    private const ulong EventLog = 0x0201_0000;
    private const ulong Semaphore = 0x0202_0000;
    private const int RingLengthLg2 = 8;
    private readonly Machine _machine;
    private ulong _semaphoreValue;
    private uint _tail;

    public SimulatedIommuDriver(Machine machine)
    {
        _machine = machine;
        Write(AmdIommuMmio.DeviceTableBaseOffset, new DeviceTableBaseRegister(0).WithBase(DeviceTable).WithSize(0).Raw);
        Write(AmdIommuMmio.CommandBufferBaseOffset, new CommandBufferBaseRegister(0).WithBase(CommandRing).WithLength(RingLengthLg2).Raw);
        Write(AmdIommuMmio.EventLogBaseOffset, new EventLogBaseRegister(0).WithBase(EventLog).WithLength(RingLengthLg2).Raw);
        Write(AmdIommuMmio.ControlOffset, new ControlRegister(0).WithIommuEn(true).WithEventLogEn(true).WithCmdBufEn(true).Raw);
    }

    private IPhysicalMemory Memory => _machine.KernelMemory;

    /// <summary>Points the device at a table, as attach_device does, and drops the cached DTE.</summary>
    public void Attach(ulong topPa, int topLevel)
    {
        var dte = default(AmdDte).WithValid(true).WithTranslationValid(true).WithMode((PagingMode)(topLevel + 1))
            .WithHostPageTableRoot(topPa).WithDomainId(DomainId).WithIoRead(true).WithIoWrite(true);
        for (int i = 0; i < AmdDte.Words; i++)
            Memory.WriteU64(DeviceTable + (DeviceId * 32UL) + ((ulong)i * 8), dte.GetWord(i));
        var invalidate = default(InvalidateDevtabEntryCommand).WithOpcode(CommandOpcode.InvalidateDevtabEntry).WithDeviceId(DeviceId);
        Post(invalidate.GetWord(0), invalidate.GetWord(1));
        Sync();
    }

    public void ChangeTop(ulong topPa, int topLevel) => Attach(topPa, topLevel);

    public void FlushIotlb(ulong iova, ulong last)
    {
        // The S-bit encoding: one page, or the naturally aligned power of two that covers the range.
        ulong address = iova & ~0xFFFUL;
        bool sized = (iova >> 12) != (last >> 12);
        if (sized)
        {
            int msb = 63 - BitOperations.LeadingZeroCount(iova ^ last);
            address = msb >= 51 ? 0x7FFF_FFFF_FFFF_F000UL : (iova | ((1UL << msb) - 1)) & ~0xFFFUL;
        }
        var invalidate = default(InvalidateIommuPagesCommand).WithOpcode(CommandOpcode.InvalidateIommuPages)
            .WithDomainId(DomainId).WithAddress(address).WithSize(sized).WithPde(true);
        Post(invalidate.GetWord(0), invalidate.GetWord(1));
        Sync();
    }

    /// <summary>A DMA read or write of the device at <paramref name="iova"/>, as the IOMMU sees it.</summary>
    public TranslationResult Dma(ulong iova, bool write) => _machine.Iommu.Translate(DeviceId, iova, write);

    private void Post(ulong word0, ulong word1)
    {
        ulong pa = CommandRing + (_tail * 16UL);
        Memory.WriteU64(pa, word0);
        Memory.WriteU64(pa + 8, word1);
        _tail = (_tail + 1) % (1u << RingLengthLg2);
        Write(AmdIommuMmio.CommandBufferTailOffset, new RingPointerRegister(0).WithOffset((ushort)_tail).Raw);
    }

    private void Sync()
    {
        ulong value = ++_semaphoreValue;
        var wait = default(CompletionWaitCommand).WithOpcode(CommandOpcode.CompletionWait).WithStore(true)
            .WithStoreAddress(Semaphore).WithStoreData(value);
        Post(wait.GetWord(0), wait.GetWord(1));
        for (int poll = 0; Memory.ReadU64(Semaphore) != value; poll++)
        {
            poll.ShouldBeLessThan(100_000, "COMPLETION_WAIT never stored its semaphore");
            _machine.Clock.Delay(1000);
        }
    }

    private void Write(ulong offset, ulong value) =>
        _machine.Mmio.Write64(Machine.IommuMmioBase + offset, value).ShouldBe(MmioStatus.Ok);
}
