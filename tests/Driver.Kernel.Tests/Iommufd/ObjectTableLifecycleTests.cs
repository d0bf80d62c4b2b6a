using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>The object table's lifecycle rules against Linux's main.c (xa_alloc from 1, abort, destroy).</summary>
public class ObjectTableLifecycleTests
{
    private sealed class Leaf() : IommufdObject(IommufdObjectType.Access)
    {
        internal override void Destroy()
        {
        }
    }

    [Fact]
    public void Abort_takes_back_exactly_the_reserved_object_and_not_another_with_its_id()
    {
        var mine = new ObjectTable();
        var other = new ObjectTable();
        var a = new Leaf();
        var b = new Leaf();
        mine.Reserve(a).ShouldBe(Errno.Ok);
        other.Reserve(b).ShouldBe(Errno.Ok);
        b.Id.ShouldBe(a.Id, "each table hands out ids from 1");
        Should.Throw<InvalidOperationException>(() => mine.Abort(b)).Message.ShouldContain("not reserved");
        mine.Count.ShouldBe(1, "the table's own object with that id stays");
        b.Id.ShouldBe(1u);
        mine.Abort(a);
        a.Id.ShouldBe(0u);
        mine.Count.ShouldBe(0);
        Should.Throw<InvalidOperationException>(() => mine.Abort(a), "an aborted object is gone");
    }

    [Fact]
    public void A_finalized_object_cannot_be_aborted_and_removal_frees_the_lowest_id()
    {
        var table = new ObjectTable();
        var objects = Enumerable.Range(0, 4).Select(_ => new Leaf()).ToArray();
        foreach (var o in objects)
        {
            table.Reserve(o).ShouldBe(Errno.Ok);
            table.Finalize(o);
        }
        objects.Select(o => o.Id).ShouldBe([1u, 2u, 3u, 4u]);
        Should.Throw<InvalidOperationException>(() => table.Abort(objects[0]));
        table.Remove(3, out var removed).ShouldBe(Errno.Ok);
        removed.ShouldBeSameAs(objects[2]);
        table.Remove(2, out _).ShouldBe(Errno.Ok);
        table.Remove(3, out var again).ShouldBe(Errno.ENOENT, "a removed id is unknown");
        again.ShouldBeNull();
        var next = new Leaf();
        table.Reserve(next).ShouldBe(Errno.Ok);
        next.Id.ShouldBe(2u, "xa_alloc takes the lowest free index");
        var last = new Leaf();
        table.Reserve(last).ShouldBe(Errno.Ok);
        last.Id.ShouldBe(3u);
        var after = new Leaf();
        table.Reserve(after).ShouldBe(Errno.Ok);
        after.Id.ShouldBe(5u, "4 is still taken");
        table.Remove(0, out _).ShouldBe(Errno.ENOENT, "0 is never an id");
    }
}
