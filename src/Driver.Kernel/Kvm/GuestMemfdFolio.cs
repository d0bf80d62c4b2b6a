namespace Driver.Kernel.Kvm;

/// <summary>A folio of a guest_memfd: 2^Order pages from page FirstIndex, in frames from FirstPfn.</summary>
internal sealed record GuestMemfdFolio(ulong FirstIndex, int Order, ulong FirstPfn)
{
    public const int HugeOrder = 9;
    public const ulong HugePages = 1UL << HugeOrder;

    public ulong Pages => 1UL << Order;

    public ulong PfnOf(ulong index) => FirstPfn + (index - FirstIndex);
}
