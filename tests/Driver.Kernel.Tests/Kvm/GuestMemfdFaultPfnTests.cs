using Driver.Hw.Kvm;
using Driver.Kernel.Kvm;
using Shouldly;
using Xunit;
using static Driver.Kernel.Tests.Kvm.GmemFixture;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>get_pfn as the stage-2 fault takes it: the file's bounds, then the binding's, then the order to map at.</summary>
public sealed class GuestMemfdFaultPfnTests
{
    private static GuestMemfdBinding Bind(GuestMemfd file, ulong offset, ulong length)
    {
        var slot = new KvmMemorySlot(0, 0x1000, length / K4);
        file.Bind(slot, null, offset, length, out GuestMemfdBinding? binding).ShouldBe(Errno.Ok);
        slot.Binding = binding;
        return binding!;
    }

    [Fact]
    public void PastTheEndOfTheFile_IsEfault_EvenInsideNoBinding()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        GuestMemfdBinding binding = Bind(file, 0, 4 * K4);
        file.GetPfnForFault(binding, 3, 0x1003, isPrivate: true, out _, out _).ShouldBe(Errno.Ok);
        file.GetPfnForFault(binding, 4, 0x1004, isPrivate: true, out ulong pfn, out int order).ShouldBe(Errno.EFAULT, "page 4 is the file's end");
        pfn.ShouldBe(0UL);
        order.ShouldBe(0);
        file.GetPfnForFault(binding, 5, 0x1005, isPrivate: true, out _, out _).ShouldBe(Errno.EFAULT);
    }

    [Fact]
    public void AReleasedFile_IsEfault()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(4 * K4);
        GuestMemfdBinding binding = Bind(file, 0, 4 * K4);
        file.Release();
        file.GetPfnForFault(binding, 1, 0x1001, isPrivate: true, out _, out _).ShouldBe(Errno.EFAULT);
    }

    [Fact]
    public void OutsideTheBinding_IsEio_OnBothSides()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(8 * K4);
        GuestMemfdBinding binding = Bind(file, 2 * K4, 4 * K4);
        file.GetPfnForFault(binding, 1, 0x1000, isPrivate: true, out _, out _).ShouldBe(Errno.EIO, "below the binding");
        file.GetPfnForFault(binding, 6, 0x1004, isPrivate: true, out _, out _).ShouldBe(Errno.EIO, "the binding's end");
        file.GetPfnForFault(binding, 7, 0x1005, isPrivate: true, out _, out _).ShouldBe(Errno.EIO, "above the binding");
        file.PresentPages.ShouldBe(0, "a refused fault allocates nothing");
        foreach (ulong index in new ulong[] { 2, 5 })
        {
            file.GetPfnForFault(binding, index, 0x1000 + index - 2, isPrivate: true, out ulong pfn, out int order).ShouldBe(Errno.Ok, $"page {index}");
            file.TryFindPage(index, out ulong filePfn).ShouldBeTrue();
            pfn.ShouldBe(filePfn);
            order.ShouldBe(0);
        }
        binding.Unbind();
        file.GetPfnForFault(binding, 3, 0x1001, isPrivate: true, out _, out _).ShouldBe(Errno.EIO, "unbound");
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(300UL)]
    [InlineData(511UL)]
    public void APrivate2MFolioOverAWhole2MFile_MapsAt2M_FromAnyPage(ulong index)
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(M2, huge: true);
        GuestMemfdBinding binding = Bind(file, 0, M2);
        file.GetPfnForFault(binding, index, 0x1000 + index, isPrivate: true, out ulong pfn, out int order).ShouldBe(Errno.Ok);
        file.FolioOrderAt(index).ShouldBe(9);
        order.ShouldBe(9, "the whole 2M is private and inside the file");
        file.TryFindPage(0, out ulong head).ShouldBeTrue();
        pfn.ShouldBe(head + index);
    }

    [Fact]
    public void A4KPageOfA2MBlockWithASharedPage_MapsAt4K()
    {
        var f = new GmemFixture();
        GuestMemfd file = f.Create(2 * M2, GuestMemfdFlags.Mmap, huge: true);
        GuestMemfdBinding binding = Bind(file, 0, 2 * M2);
        Convert(file, M2 + K4, K4, toPrivate: false).ShouldBe(Errno.Ok);
        file.GetPfnForFault(binding, 2, 0x1002, isPrivate: true, out _, out int low).ShouldBe(Errno.Ok);
        low.ShouldBe(9, "the first 2M is all private");
        file.GetPfnForFault(binding, 512, 0x1200, isPrivate: true, out _, out int high).ShouldBe(Errno.Ok);
        high.ShouldBe(0, "page 513 is shared");
        file.GetPfnForFault(binding, 513, 0x1201, isPrivate: false, out _, out int shared).ShouldBe(Errno.Ok);
        shared.ShouldBe(0);
        file.GetPfnForFault(binding, 513, 0x1201, isPrivate: true, out _, out _).ShouldBe(Errno.EAGAIN, "the page is shared now");
    }
}
