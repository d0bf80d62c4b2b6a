using Driver.Kernel.Iommufd;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Iommufd;

public class ObjectTableTests
{
    private sealed class Leaf() : IommufdObject(IommufdObjectType.Access)
    {
        public int Destroyed { get; private set; }

        internal override void Destroy() => Destroyed++;
    }

    [Fact]
    public void Ids_start_at_one_and_the_lowest_free_one_is_reused()
    {
        var table = new ObjectTable();
        var a = new Leaf();
        var b = new Leaf();
        var c = new Leaf();
        table.Reserve(a).ShouldBe(Errno.Ok);
        table.Reserve(b).ShouldBe(Errno.Ok);
        a.Id.ShouldBe(1u);
        b.Id.ShouldBe(2u);
        table.Finalize(a);
        table.Remove(1, out _).ShouldBe(Errno.Ok);
        table.Reserve(c).ShouldBe(Errno.Ok);
        c.Id.ShouldBe(1u);
    }

    [Fact]
    public void A_reserved_object_is_invisible_until_finalized_and_abort_frees_its_id()
    {
        var table = new ObjectTable();
        var a = new Leaf();
        table.Reserve(a).ShouldBe(Errno.Ok);
        table.Get(a.Id, null, out _).ShouldBe(Errno.ENOENT);
        table.Remove(a.Id, out _).ShouldBe(Errno.ENOENT);
        table.Abort(a);
        table.Count.ShouldBe(0);
        var b = new Leaf();
        table.Reserve(b).ShouldBe(Errno.Ok);
        b.Id.ShouldBe(1u);
        table.Finalize(b);
        table.Get(1, IommufdObjectType.Access, out var found).ShouldBe(Errno.Ok);
        found.ShouldBeSameAs(b);
        table.Get(1, IommufdObjectType.Ioas, out _).ShouldBe(Errno.ENOENT);
    }

    [Fact]
    public void Remove_refuses_an_object_in_use_and_an_unknown_id()
    {
        var table = new ObjectTable();
        var a = new Leaf();
        table.Reserve(a);
        table.Finalize(a);
        a.AddUser();
        table.Remove(a.Id, out _).ShouldBe(Errno.EBUSY);
        table.Count.ShouldBe(1);
        a.RemoveUser();
        table.Remove(a.Id, out var removed).ShouldBe(Errno.Ok);
        removed.ShouldBeSameAs(a);
        table.Remove(a.Id, out _).ShouldBe(Errno.ENOENT);
        table.Remove(0, out _).ShouldBe(Errno.ENOENT);
    }
}
