using Driver.Kernel.Kvm;
using Driver.Kernel.Psp;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The machine's RMP helpers with two seams: PSMASH may be answered by the test, and a hook runs before each rmp_make_shared.</summary>
internal sealed class RmpHooks(ISnpRmpHelpers inner) : ISnpRmpHelpers
{
    /// <summary>When set, PSMASH returns this errno and changes nothing.</summary>
    public Errno? PsmashFails { get; set; }

    /// <summary>Runs before each rmp_make_shared, inside the conversion that asked for it.</summary>
    public Action<ulong>? BeforeMakeShared { get; set; }

    public Errno RmpMakePrivate(ulong spa, ulong gpa, RmpPageLevel level, ushort asid) => inner.RmpMakePrivate(spa, gpa, level, asid);

    public Errno RmpMakeShared(ulong spa, RmpPageLevel level)
    {
        BeforeMakeShared?.Invoke(spa);
        return inner.RmpMakeShared(spa, level);
    }

    public Errno TryRmpMakePrivate2M(ulong spa, ulong gpa, ushort asid) => inner.TryRmpMakePrivate2M(spa, gpa, asid);

    public Errno Psmash(ulong spa) => PsmashFails ?? inner.Psmash(spa);

    public Errno Unsmash(ulong spa) => inner.Unsmash(spa);

    public void LeakPages(ulong spa, int npages) => inner.LeakPages(spa, npages);
}
