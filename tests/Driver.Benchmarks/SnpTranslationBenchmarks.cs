using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Driver.Hw.Interfaces;
using Driver.Platform.Iommu;

namespace Driver.Benchmarks;

/// <summary>
/// What the RMP check costs a translation: an IOTLB hit and a 4-level walk with SNP off,
/// with SNP on for an untrusted request (the page must be hypervisor-owned), and with SNP on
/// for a trusted (T=1) request of a TDI bound to ASID 5 (the page must be the guest's,
/// validated, at the request's GPA). Each translation must succeed, checked at setup.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SnpTranslationBenchmarks
{
    private const ushort Asid = 5;
    private const ushort Device = TranslatingMachine.Device;
    private const ulong HitIova = TranslatingMachine.HitIova;
    private const ulong WalkIovaA = TranslatingMachine.WalkIovaA;
    private const ulong WalkIovaB = TranslatingMachine.WalkIovaB;

    private static readonly IommuConfig TinyCaches = new() { IotlbSets = 1, IotlbWays = 1, PdeCacheSets = 1, PdeCacheWays = 1 };

    private AmdIommu _hitOff = null!, _hitUntrusted = null!, _hitTrusted = null!;
    private AmdIommu _walkOff = null!, _walkUntrusted = null!, _walkTrusted = null!;
    private bool _flip;

    [GlobalSetup]
    public void Setup()
    {
        _hitOff = Hit(snp: false, trusted: false);
        _hitUntrusted = Hit(snp: true, trusted: false);
        _hitTrusted = Hit(snp: true, trusted: true);
        _walkOff = Walk(snp: false, trusted: false);
        _walkUntrusted = Walk(snp: true, trusted: false);
        _walkTrusted = Walk(snp: true, trusted: true);
    }

    private static AmdIommu Hit(bool snp, bool trusted)
    {
        var iommu = Prepare(new IommuConfig(), [HitIova], snp, trusted);
        Expect(iommu.Translate(Device, HitIova, false, trusted));
        return iommu;
    }

    private static AmdIommu Walk(bool snp, bool trusted) => Prepare(TinyCaches, [WalkIovaA, WalkIovaB], snp, trusted);

    // For a trusted device, each leaf page becomes the guest's private page at GPA = IOVA.
    private static AmdIommu Prepare(IommuConfig config, ulong[] iovas, bool snp, bool trusted)
    {
        var machine = TranslatingMachine.BuildMachine(config, iovas);
        if (!snp)
            return machine.Iommu;
        machine.Iommu.EnableSnp();
        if (!trusted)
            return machine.Iommu;
        for (int n = 0; n < iovas.Length; n++)
        {
            ulong spa = TranslatingMachine.LeafSpa + ((ulong)n * 0x1000);
            if (machine.Cpu.Rmpupdate(spa, new RmpUpdateArgs(iovas[n], true, false, false, Asid)) != RmpUpdateResult.Success
                || machine.GuestCpu(Asid).Pvalidate(iovas[n], spa, false, true) != PvalidateResult.Success)
                throw new InvalidOperationException("could not make the leaf page the guest's");
        }
        machine.Iommu.BindTdi(Device, Asid);
        foreach (ulong iova in iovas)
            Expect(machine.Iommu.Translate(Device, iova, false, trusted));
        return machine.Iommu;
    }

    private static void Expect(TranslationResult result)
    {
        if (result.Status != TranslationStatus.Ok)
            throw new InvalidOperationException("setup translation failed: " + result.Status);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Hit")]
    public ulong Hit_SnpOff() => _hitOff.Translate(Device, HitIova | 0x18, false).Spa;

    [Benchmark, BenchmarkCategory("Hit")]
    public ulong Hit_Untrusted() => _hitUntrusted.Translate(Device, HitIova | 0x18, false).Spa;

    [Benchmark, BenchmarkCategory("Hit")]
    public ulong Hit_Trusted() => _hitTrusted.Translate(Device, HitIova | 0x18, false, trusted: true).Spa;

    [Benchmark(Baseline = true), BenchmarkCategory("Walk")]
    public ulong Walk_SnpOff() => WalkOnce(_walkOff, false);

    [Benchmark, BenchmarkCategory("Walk")]
    public ulong Walk_Untrusted() => WalkOnce(_walkUntrusted, false);

    [Benchmark, BenchmarkCategory("Walk")]
    public ulong Walk_Trusted() => WalkOnce(_walkTrusted, true);

    private ulong WalkOnce(AmdIommu iommu, bool trusted)
    {
        _flip = !_flip;
        return iommu.Translate(Device, _flip ? WalkIovaA : WalkIovaB, false, trusted).Spa;
    }
}
