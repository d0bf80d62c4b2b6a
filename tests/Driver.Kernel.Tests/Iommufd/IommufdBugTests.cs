using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Driver.Kernel.IommuPt;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>A caller's bug inside iommufd throws, at once and with a message that says what was wrong.</summary>
public class IommufdBugTests
{
    private const ulong Pg = 4096;

    private sealed class Leaf() : IommufdObject(IommufdObjectType.Access)
    {
        internal override void Destroy()
        {
        }
    }

    /// <summary>Pages 0x100 + index, pinned and unpinned without complaint.</summary>
    private sealed class Frames : IPageProvider
    {
        public Errno Pin(ulong index, int count, bool write, Span<ulong> pfns)
        {
            for (int i = 0; i < count; i++)
                pfns[i] = 0x100 + index + (ulong)i;
            return Errno.Ok;
        }

        public void Unpin(ReadOnlySpan<ulong> pfns)
        {
        }
    }

    private sealed class NoOps : IIommufdAccessOps
    {
        public bool NeedsPinPages => false;

        public void Unmap(IommufdAccess access, ulong iova, ulong length)
        {
        }
    }

    [Fact]
    public void NullArguments_AreRefusedByName()
    {
        var rig = new IommufdRig();
        var ctx = rig.Ctx;
        var iopt = new IoPageTable(rig.Core);
        rig.Utils.IoasAlloc(out uint ioasId).ShouldBe(Errno.Ok);
        ctx.GetIoas(ioasId, out var ioas).ShouldBe(Errno.Ok);
        ulong iova = 0;
        void Null(string name, Action call) => Should.Throw<ArgumentNullException>(call).ParamName.ShouldBe(name);

        Null("ctx", () => _ = new IommufdFile(null!, rig.Mm, rig.Fds));
        Null("mm", () => _ = new IommufdFile(ctx, null!, rig.Fds));
        Null("fds", () => _ = new IommufdFile(ctx, rig.Mm, null!));
        Null("file", () => _ = new IommufdUtils(null!));
        Null("core", () => _ = new IommufdSubsystem(null!, rig.Memory));
        Null("memory", () => _ = new IommufdSubsystem(rig.Core, null!));
        Null("mm", () => _ = new UserPagesProvider(null!));
        Null("file", () => _ = new FilePagesProvider(null!));
        Null("ctx", () => _ = new AmdFaultSubscription(new global::Driver.Kernel.Tests.Iommu.Amd.AmdRig().Driver.EventLog, null!));
        Null("log", () => _ = new AmdFaultSubscription(null!, ctx));
        Null("memory", () => _ = new MockIommuDriver(null!, rig.TableFrames));
        Null("frames", () => _ = new MockIommuDriver(rig.Memory, null!));
        Null("source", () => _ = new IoptPages(null!, 0, 1, true));
        Null("core", () => _ = new IoPageTable(null!));

        Null("slices", () => iopt.MapPages(null!, Pg, ref iova, IommuProt.Read, allocIova: true));
        Null("slices", () => iopt.GetPages(0, Pg, null!));
        Null("ranges", () => iopt.SetAllowIovas(null!));
        Null("owner", () => iopt.ReserveIova(0, Pg - 1, null!));
        Null("access", () => iopt.AddAccess(null!));
        Null("memory", () => iopt.AccessRw(null!, 0, new byte[1], write: false));
        Null("domain", () => IoPageTable.ApertureOf(null!));
        Null("domain", () => iopt.AddDomain(null!));
        Null("domain", () => iopt.RemoveDomain(null!));
        Null("domain", () => iopt.SetDirtyTracking(null!, true));
        Null("domain", () => iopt.ReadAndClearDirty(null!, dirtyOps: true, 0, Pg, Pg, DirtyFlags.None, () => new IovaBitmap(0, Pg)));
        Null("bitmap", () => iopt.ReadAndClearDirty(rig.Core.Identity, dirtyOps: true, 0, Pg, Pg, DirtyFlags.None, null!));
        Null("node", () => new IntervalSet<int>().Remove(null!));
        Null("obj", () => ctx.Objects.Reserve(null!));
        Null("obj", () => ctx.Objects.Finalize(null!));
        Null("obj", () => ctx.Objects.Abort(null!));

        Null("ioas", () => ctx.IoasMapPages(null!, new UserPagesProvider(rig.Mm), 0, Pg, true, IoasMapFlags.Readable, ref iova));
        Null("source", () => ctx.IoasMapPages(ioas!, null!, 0, Pg, true, IoasMapFlags.Readable, ref iova));
        Null("read", () => ctx.IoasAllowIovas(ioasId, 1, null!));
        Null("ranges", () => ctx.IoasAllowIovas(ioasId, (IReadOnlyList<(ulong, ulong)>)null!));
        Null("ops", () => ctx.AccessCreate(null!, out _));
        Null("access", () => ctx.AccessAttach(null!, ioasId));
        Null("access", () => ctx.AccessDetach(null!));
        Null("access", () => ctx.AccessDestroy(null!));
        Null("access", () => ctx.AccessPin(null!, 0, Pg, false, new ulong[1]));
        Null("access", () => ctx.AccessUnpin(null!, 0, Pg));
        Null("access", () => ctx.AccessRw(null!, 0, new byte[1], false));
        rig.Ctx.Objects.Count.ShouldBe(1, "no call made an object");
    }

    [Fact]
    public void TheObjectTable_RefusesObjectsInTheWrongState()
    {
        var table = new ObjectTable();
        var leaf = new Leaf();
        Should.Throw<InvalidOperationException>(() => table.Finalize(leaf)).Message.ShouldContain("not reserved");
        Should.Throw<InvalidOperationException>(() => table.Abort(leaf)).Message.ShouldContain("not reserved");
        table.Reserve(leaf).ShouldBe(Errno.Ok);
        Should.Throw<InvalidOperationException>(() => table.Reserve(leaf)).Message.ShouldContain("already in a table");
        table.Finalize(leaf);
        Should.Throw<InvalidOperationException>(() => table.Abort(leaf)).Message.ShouldContain("not reserved");
        table.Count.ShouldBe(1);
        Should.Throw<InvalidOperationException>(leaf.RemoveUser).Message.ShouldContain("has no user to drop");
        leaf.Users.ShouldBe(0);
    }

    [Fact]
    public void IntervalSets_RefuseBackwardRangesAndStrangers()
    {
        var set = new IntervalSet<int>();
        Should.Throw<ArgumentException>(() => set.Add(2, 1, 0)).Message.ShouldContain("ends before it starts");
        set.IsEmpty.ShouldBeTrue();
        var stranger = new IntervalSet<int>().Add(1, 2, 0);
        set.Add(1, 2, 0);
        Should.Throw<InvalidOperationException>(() => set.Remove(stranger)).Message.ShouldContain("not in the set");
        set.Count.ShouldBe(1);
    }

    [Fact]
    public void IoptPages_RefuseUnbalancedHoldersAndReferences()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => new IoptPages(new Frames(), 0, 0, true));
        Should.Throw<ArgumentOutOfRangeException>(() => new IoptPages(new Frames(), 0, 1, true, pinBatch: 0));
        var pages = new IoptPages(new Frames(), 0, 4, writable: true);
        Should.Throw<InvalidOperationException>(() => pages.PfnOf(0)).Message.ShouldContain("nobody pinned");
        Should.Throw<InvalidOperationException>(() => pages.Release(0, 0)).Message.ShouldContain("nobody holds");
        pages.Hold(0, 1, write: false).ShouldBe(Errno.Ok);
        pages.PfnOf(1).ShouldBe(0x101UL);
        Should.Throw<InvalidOperationException>(pages.Put).Message.ShouldContain("released with 2 pages pinned");
        pages.Release(0, 1);
        pages.Pinned.ShouldBe(0);
        Should.Throw<InvalidOperationException>(pages.Put).Message.ShouldContain("put below zero");
    }

    [Fact]
    public void TheIoPageTable_RefusesWhatItWasNeverGiven()
    {
        var rig = new IommufdRig();
        var iopt = new IoPageTable(rig.Core);
        Should.Throw<InvalidOperationException>(() => iopt.RemoveDomain(rig.Core.Identity)).Message.ShouldContain("does not have");
        rig.Utils.IoasAlloc(out uint ioasId).ShouldBe(Errno.Ok);
        ulong iova = 0x10_0000;
        rig.Utils.IoasMap(ioasId, rig.Buffer(2 * Pg), 2 * Pg, ref iova).ShouldBe(Errno.Ok);
        rig.Ctx.GetIoas(ioasId, out var ioas).ShouldBe(Errno.Ok);
        Should.Throw<InvalidOperationException>(() => ioas!.Iopt.AccessUnpin(0x10_0000, Pg)).Message.ShouldContain("no access pinned");
        rig.CheckNoLeak();
    }

    [Fact]
    public void Closing_WithAnObjectLeftReserved_IsABug()
    {
        var rig = new IommufdRig();
        rig.Ctx.Objects.Reserve(new Leaf()).ShouldBe(Errno.Ok);
        Should.Throw<InvalidOperationException>(rig.Ctx.Close).Message.ShouldContain("left reserved");
        rig.Ctx.Closed.ShouldBeFalse();
    }

    [Fact]
    public void Closing_WithAnObjectThatSomethingOutsideUses_IsABug()
    {
        var rig = new IommufdRig();
        var held = new Leaf();
        rig.Ctx.Objects.Reserve(held).ShouldBe(Errno.Ok);
        rig.Ctx.Objects.Finalize(held);
        held.AddUser();
        Should.Throw<InvalidOperationException>(rig.Ctx.Close).Message.ShouldContain("used by another");
        rig.Ctx.Closed.ShouldBeFalse();
    }

    [Fact]
    public void AnAccess_IsCreatedHeld_AndDetachedOnlyOnce()
    {
        var rig = new IommufdRig();
        rig.Ctx.AccessCreate(new NoOps(), out var access).ShouldBe(Errno.Ok);
        rig.Ctx.Destroy(access!.Id).ShouldBe(Errno.EBUSY, "the creating driver holds it");
        rig.Ctx.AccessDetach(access).ShouldBe(Errno.EINVAL);
        rig.Utils.IoasAlloc(out uint ioasId).ShouldBe(Errno.Ok);
        rig.Ctx.AccessAttach(access, ioasId).ShouldBe(Errno.Ok);
        rig.Ctx.AccessAttach(access, ioasId).ShouldBe(Errno.EINVAL);
        rig.Ctx.AccessDetach(access).ShouldBe(Errno.Ok);
        rig.Ctx.AccessDetach(access).ShouldBe(Errno.EINVAL);
        rig.Ctx.AccessDestroy(access).ShouldBe(Errno.Ok);
        rig.Ctx.Objects.Count.ShouldBe(1, "the IOAS is left");
    }
}
