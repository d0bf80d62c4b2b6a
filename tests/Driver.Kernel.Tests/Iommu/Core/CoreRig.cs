using Driver.Hw.Interfaces;
using Driver.Kernel.Iommu;
using Driver.Kernel.IommuPt;
using Microsoft.Extensions.Logging;
using Moq;
using Shouldly;

namespace Driver.Kernel.Tests.Iommu.Core;

/// <summary>The core over a Moq driver whose paging domains are Moq domain-ops, with a clock that only moves when told.</summary>
internal sealed class CoreRig
{
    public const ulong AllSizes4K2M1G = (1UL << 12) | (1UL << 21) | (1UL << 30);

    public CoreRig(IommuCoreConfig? config = null, ulong pageSizes = AllSizes4K2M1G, ILoggerFactory? loggerFactory = null)
    {
        Clock.SetupGet(c => c.NowNs).Returns(() => Now);
        Ops.SetupGet(o => o.PageSizeBitmap).Returns(pageSizes);
        Ops.SetupGet(o => o.VaBits).Returns(48);
        Ops.Setup(o => o.MapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IommuProt>(), out It.Ref<ulong>.IsAny))
            .Returns(new MapPagesCallback((ulong iova, ulong paddr, ulong size, ulong count, IommuProt prot, out ulong mapped) =>
            {
                Calls.Add($"map 0x{iova:x} 0x{paddr:x} 0x{size:x} x{count}");
                if (FailMapAt is ulong fail && fail >= iova && fail < iova + (size * count))
                {
                    mapped = fail - iova;
                    return Errno.ENOMEM;
                }
                mapped = size * count;
                return Errno.Ok;
            }));
        Ops.Setup(o => o.UnmapPages(It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<ulong>(), It.IsAny<IotlbGather>()))
            .Returns((ulong iova, ulong size, ulong count, IotlbGather gather) =>
            {
                Calls.Add($"unmap 0x{iova:x} 0x{size:x} x{count}");
                gather.AddRange(iova, size * count);
                return size * count;
            });
        Ops.Setup(o => o.IotlbSync(It.IsAny<IotlbGather>())).Callback<IotlbGather>(g =>
            Calls.Add(g.HasRange ? $"sync 0x{g.Start:x}-0x{g.End:x}" : "sync frames"));
        Ops.Setup(o => o.FlushIotlbAll()).Callback(() => Calls.Add("flush all")).Returns(Errno.Ok);
        Ops.Setup(o => o.Free()).Returns(Errno.Ok);
        IIommuDomainOps? ops = Ops.Object;
        var caps = new IommuDeviceCaps(false, 4);
        Driver.Setup(d => d.ProbeDevice(It.IsAny<ushort>(), out caps)).Returns((ushort id, out IommuDeviceCaps c) =>
        {
            c = new IommuDeviceCaps(false, 4);
            return id < 0x100 ? Errno.Ok : Errno.ENODEV;
        });
        Driver.Setup(d => d.AllocPagingDomain(It.IsAny<DomainAllocFlags>(), out ops)).Returns(Errno.Ok);
        Driver.Setup(d => d.AttachDevice(It.IsAny<ushort>(), It.IsAny<IommuDomainType>(), It.IsAny<IIommuDomainOps?>()))
            .Returns(() => AttachResult);
        Core = new IommuCore(Driver.Object, Clock.Object, config, loggerFactory);
    }

    public delegate Errno MapPagesCallback(ulong iova, ulong paddr, ulong size, ulong count, IommuProt prot, out ulong mapped);

    public Mock<IIommuDriver> Driver { get; } = new(MockBehavior.Strict);

    public Mock<IIommuDomainOps> Ops { get; } = new(MockBehavior.Strict);

    public Mock<IClock> Clock { get; } = new();

    public IommuCore Core { get; }

    public List<string> Calls { get; } = [];

    public long Now { get; set; }

    public ulong? FailMapAt { get; set; }

    public Errno AttachResult { get; set; } = Errno.Ok;

    public IommuDomain NewDomain(bool? strict = null)
    {
        Core.AllocPagingDomain(DomainAllocFlags.None, out var domain, strict).ShouldBe(Errno.Ok);
        return domain!;
    }
}
