using Driver.Kernel.Iommufd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>What iommufd prints when something is refused or goes wrong (event ids 4000-4004).</summary>
public class IommufdLogTests
{
    private const ulong Pg = 4096;

    private readonly FakeLogCollector _logs = new();
    private readonly IommufdRig _rig;

    public IommufdLogTests() => _rig = new IommufdRig(logs: new LoggerFactory([new FakeLoggerProvider(_logs)]));

    private FakeLogRecord Single(int id) => _logs.GetSnapshot().Single(r => r.Id.Id == id);

    [Fact]
    public void ABind_AndABindOfADeviceAnotherContextOwns()
    {
        ushort device = _rig.NewDevice();
        _rig.Ctx.DeviceBind(device, out uint id).ShouldBe(Errno.Ok);
        Single(4000).Message.ShouldBe($"iommufd: device 0x{device:x4} bound as object {id}");
        _rig.Subsystem.Open().DeviceBind(device, out _).ShouldBe(Errno.EBUSY);
        var refused = Single(4001);
        refused.Level.ShouldBe(LogLevel.Warning);
        refused.Message.ShouldBe($"iommufd: device 0x{device:x4}: DMA already owned, bind refused");
    }

    [Fact]
    public void AFailedMap_SaysWhereAndWhy()
    {
        _rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        ulong buffer = _rig.Buffer(2 * Pg);
        ulong iova = 0x10_0000;
        _rig.Utils.IoasMap(ioas, buffer, 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        _logs.GetSnapshot().ShouldNotContain(r => r.Id.Id == 4002);
        _rig.Utils.IoasMap(ioas, buffer, Pg, ref iova).ShouldBe(Errno.EEXIST);
        var record = Single(4002);
        record.Level.ShouldBe(LogLevel.Debug);
        record.Message.ShouldBe($"iommufd: IOAS {ioas}: map of 0x1000 bytes at iova 0x100000 failed with EEXIST");
        _rig.CheckNoLeak();
    }

    [Fact]
    public void AFault_IsPrintedForTheBoundDevice()
    {
        ushort device = _rig.NewDevice();
        _rig.Ctx.DeviceBind(device, out uint id).ShouldBe(Errno.Ok);
        _rig.Ctx.ReportFault(device, 0x12_3000, write: true).ShouldBeTrue();
        _rig.Ctx.ReportFault((ushort)(device + 1), 0x12_3000, write: true).ShouldBeFalse();
        var record = Single(4003);
        record.Level.ShouldBe(LogLevel.Warning);
        record.Message.ShouldBe($"iommufd: device 0x{device:x4}: IO page fault at iova 0x123000 (write True)");
        _rig.Ctx.GetDevice(id, out var bound).ShouldBe(Errno.Ok);
        (bound!.Faults, bound.LastFaultIova).ShouldBe((1L, 0x12_3000UL));
    }

    [Fact]
    public void AnUnmapThatAnAccessBlocks_SaysHowOftenItAsked()
    {
        _rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
        ulong iova = 0x10_0000;
        _rig.Utils.IoasMap(ioas, _rig.Buffer(Pg), Pg, ref iova).ShouldBe(Errno.Ok);
        var ops = new TestAccessOps(_rig.Ctx) { Stubborn = true };
        _rig.Ctx.AccessCreate(ops, out var access).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessAttach(access!, ioas).ShouldBe(Errno.Ok);
        _rig.Ctx.AccessPin(access!, iova, Pg, write: false, new ulong[1]).ShouldBe(Errno.Ok);
        _rig.Utils.IoasUnmap(ioas, iova, Pg).ShouldBe(Errno.EDEADLOCK);
        var record = Single(4004);
        record.Level.ShouldBe(LogLevel.Error);
        record.Message.ShouldBe($"iommufd: unmap at iova 0x100000: an access does not let go of its pins after {IoPageTable.MaxUnmapTries} requests");
        _rig.Ctx.AccessUnpin(access!, iova, Pg);
        _rig.Ctx.AccessDestroy(access!).ShouldBe(Errno.Ok);
        _rig.CheckNoLeak();
    }
}
