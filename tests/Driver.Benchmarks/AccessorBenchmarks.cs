using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Driver.Hw.AmdIommu;

namespace Driver.Benchmarks;

/// <summary>
/// Generated accessors against hand-written shift-and-mask code on the same 4096 entries:
/// the generated code should cost nothing (ratio close to 1.0).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class AccessorBenchmarks
{
    private const int Count = 4096;
    private const ulong AddressMask = 0x000F_FFFF_FFFF_F000UL;
    private const ulong NextLevelMask = 0xE00UL;
    private const int NextLevelShift = 9;
    private const ulong IoReadBit = 1UL << 61;
    private const ulong IoWriteBit = 1UL << 62;
    private readonly ulong[] _ptes = new ulong[Count];
    private readonly ulong[] _addresses = new ulong[Count];
    // The same 4096 entries twice: flat words for hand-written code, structs (same memory layout) for generated.
    private readonly ulong[] _dteWords = new ulong[Count * 4];
    private readonly AmdDte[] _typedDtes = new AmdDte[Count];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        for (int i = 0; i < Count; i++)
        {
            _ptes[i] = (ulong)random.NextInt64() & ~AmdV1Pte.Res0Mask;
            _addresses[i] = (ulong)random.NextInt64() & AddressMask;
            for (int w = 0; w < 4; w++)
            {
                _dteWords[(i * 4) + w] = (ulong)random.NextInt64();
            }

            _typedDtes[i] = new AmdDte(_dteWords.AsSpan(i * 4, 4));
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Get")]
    public ulong GetHandWritten()
    {
        ulong sum = 0;
        foreach (ulong raw in _ptes)
        {
            sum += (raw & 1UL) + ((raw & NextLevelMask) >> NextLevelShift) + (raw & AddressMask) + ((raw & IoWriteBit) != 0 ? 1UL : 0UL);
        }

        return sum;
    }

    [Benchmark, BenchmarkCategory("Get")]
    public ulong GetGenerated()
    {
        ulong sum = 0;
        foreach (ulong raw in _ptes)
        {
            var pte = new AmdV1Pte(raw);
            sum += (pte.Present ? 1UL : 0UL) + pte.NextLevel + pte.Address + (pte.IoWrite ? 1UL : 0UL);
        }

        return sum;
    }

    // Plain stores with no range check: what C's FIELD_PREP on trusted values costs.
    [Benchmark, BenchmarkCategory("With")]
    public ulong WithHandWritten()
    {
        ulong sum = 0;
        ulong[] addresses = _addresses;
        for (int i = 0; i < _ptes.Length && i < addresses.Length; i++)
        {
            ulong raw = _ptes[i];
            raw = (raw & ~AddressMask) | addresses[i];
            raw = (raw & ~NextLevelMask) | ((ulong)(i & 7) << NextLevelShift);
            raw |= 1UL | IoReadBit | IoWriteBit;
            sum += raw;
        }

        return sum;
    }

    // The same stores with the range checks the contract requires of every With-method (a value that does
    // not fit throws): the generated code is measured against this, so the ratio is what the abstraction costs.
    [Benchmark(Baseline = true), BenchmarkCategory("With")]
    public ulong WithHandWrittenChecked()
    {
        ulong sum = 0;
        ulong[] addresses = _addresses;
        for (int i = 0; i < _ptes.Length && i < addresses.Length; i++)
        {
            ulong raw = _ptes[i];
            ulong address = addresses[i];
            ulong level = (ulong)(i & 7);
            if ((address & ~AddressMask) != 0 || level > 7)
            {
                throw new ArgumentOutOfRangeException(nameof(addresses));
            }

            raw = (raw & ~AddressMask) | address;
            raw = (raw & ~NextLevelMask) | (level << NextLevelShift);
            raw |= 1UL | IoReadBit | IoWriteBit;
            sum += raw;
        }

        return sum;
    }

    [Benchmark, BenchmarkCategory("With")]
    public ulong WithGenerated()
    {
        ulong sum = 0;
        ulong[] addresses = _addresses;
        for (int i = 0; i < _ptes.Length && i < addresses.Length; i++)
        {
            AmdV1Pte pte = new AmdV1Pte(_ptes[i]).WithAddress(addresses[i]).WithNextLevel((byte)(i & 7)).WithPresent(true).WithIoRead(true).WithIoWrite(true);
            sum += pte.Raw;
        }

        return sum;
    }

    // The DTE's GCR3 root is split over three pieces in two words: the worst case for an accessor.
    [Benchmark(Baseline = true), BenchmarkCategory("GetPieced")]
    public ulong Gcr3HandWritten()
    {
        ulong sum = 0;
        ulong[] words = _dteWords;
        for (int i = 0; i + 1 < words.Length; i += 4)
        {
            ulong q0 = words[i];
            ulong q1 = words[i + 1];
            sum += (((q0 >> 58) & 0x7UL) << 12) | (((q1 >> 16) & 0xFFFFUL) << 15) | (((q1 >> 43) & 0x1F_FFFFUL) << 31);
        }

        return sum;
    }

    [Benchmark, BenchmarkCategory("GetPieced")]
    public ulong Gcr3Generated()
    {
        ulong sum = 0;
        foreach (AmdDte dte in _typedDtes)
        {
            sum += dte.Gcr3Root;
        }

        return sum;
    }
}
