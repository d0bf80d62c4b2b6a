using Driver.Kernel.Kvm;
using Driver.Kernel.Psp;

namespace Driver.Kernel.Tests.Kvm;

/// <summary>The machine's RMP helpers with fault injection: the n-th RMPUPDATE (of any kind) fails with EFAULT and changes nothing.</summary>
internal sealed class FailingRmp(ISnpRmpHelpers inner) : ISnpRmpHelpers
{
    private int _countdown;

    /// <summary>RMPUPDATEs issued so far.</summary>
    public int Updates { get; private set; }

    public bool Fired { get; private set; }

    public void Arm(int n)
    {
        _countdown = n;
        Fired = false;
    }

    public void Disarm() => _countdown = 0;

    public Errno RmpMakePrivate(ulong spa, ulong gpa, RmpPageLevel level, ushort asid) =>
        Fail() ? Errno.EFAULT : inner.RmpMakePrivate(spa, gpa, level, asid);

    public Errno RmpMakeShared(ulong spa, RmpPageLevel level) => Fail() ? Errno.EFAULT : inner.RmpMakeShared(spa, level);

    public Errno TryRmpMakePrivate2M(ulong spa, ulong gpa, ushort asid) => Fail() ? Errno.EFAULT : inner.TryRmpMakePrivate2M(spa, gpa, asid);

    public Errno Psmash(ulong spa) => inner.Psmash(spa);

    public Errno Unsmash(ulong spa) => inner.Unsmash(spa);

    public void LeakPages(ulong spa, int npages) => inner.LeakPages(spa, npages);

    private bool Fail()
    {
        Updates++;
        if (_countdown == 0 || --_countdown != 0)
            return false;
        Fired = true;
        return true;
    }
}
