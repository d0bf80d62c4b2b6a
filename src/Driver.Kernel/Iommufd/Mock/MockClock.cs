using Driver.Hw.Interfaces;

namespace Driver.Kernel.Iommufd.Mock;

/// <summary>Time for an IOMMU core without a machine: it moves only when something waits.</summary>
public sealed class MockClock : IClock
{
    public long NowNs { get; private set; }

    public void Delay(long ns) => NowNs += Math.Max(0, ns);
}
