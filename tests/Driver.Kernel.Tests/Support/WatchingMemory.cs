using Driver.Hw.Interfaces;

namespace Driver.Kernel.Tests.Support;

/// <summary>Physical memory that runs a check after every store: a device looking at each intermediate state.</summary>
internal sealed class WatchingMemory(IPhysicalMemory inner) : IPhysicalMemory
{
    private bool _inCheck;

    public Action? AfterStore { get; set; }

    public int Stores { get; private set; }

    public ulong ReadU64(ulong pa) => inner.ReadU64(pa);

    public void WriteU64(ulong pa, ulong value)
    {
        inner.WriteU64(pa, value);
        Stored();
    }

    public ulong CompareExchangeU64(ulong pa, ulong value, ulong comparand)
    {
        ulong old = inner.CompareExchangeU64(pa, value, comparand);
        Stored();
        return old;
    }

    public void Read(ulong pa, Span<byte> destination) => inner.Read(pa, destination);

    public void Write(ulong pa, ReadOnlySpan<byte> source)
    {
        inner.Write(pa, source);
        Stored();
    }

    public void Fill(ulong pa, ulong length, byte value)
    {
        inner.Fill(pa, length, value);
        Stored();
    }

    private void Stored()
    {
        Stores++;
        if (_inCheck || AfterStore is null)
            return;
        _inCheck = true;
        try
        {
            AfterStore();
        }
        finally
        {
            _inCheck = false;
        }
    }
}
