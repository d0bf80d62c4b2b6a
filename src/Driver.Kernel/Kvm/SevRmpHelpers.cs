using Driver.Hw.Interfaces;
using Driver.Kernel.Psp;

namespace Driver.Kernel.Kvm;

/// <summary>
/// The RMP operations of <see cref="ISnpRmpHelpers"/> on the machine: RMPUPDATE and PSMASH through the
/// PSP driver's <see cref="SnpRmp"/>, the one-shot 2M RMPUPDATE on the CPU directly (SnpRmp retries
/// OVERLAP, which here is an answer, not contention), UNSMASH as a firmware command.
/// </summary>
public sealed class SevRmpHelpers : ISnpRmpHelpers
{
    private readonly SevDevice _sev;
    private readonly ISnpCpu _cpu;

    public SevRmpHelpers(SevDevice sev, ISnpCpu cpu)
    {
        ArgumentNullException.ThrowIfNull(sev);
        ArgumentNullException.ThrowIfNull(cpu);
        _sev = sev;
        _cpu = cpu;
    }

    public Errno RmpMakePrivate(ulong spa, ulong gpa, RmpPageLevel level, ushort asid) =>
        _sev.Rmp.RmpMakePrivate(spa, gpa, level, asid, immutable: false, out _);

    public Errno RmpMakeShared(ulong spa, RmpPageLevel level) => _sev.Rmp.RmpMakeShared(spa, level, out _);

    public Errno TryRmpMakePrivate2M(ulong spa, ulong gpa, ushort asid) =>
        _cpu.Rmpupdate(spa, new RmpUpdateArgs(gpa, Assigned: true, PageSize2M: true, Immutable: false, asid)) switch
        {
            RmpUpdateResult.Success => Errno.Ok,
            RmpUpdateResult.Overlap => Errno.EBUSY,
            _ => Errno.EFAULT,
        };

    public Errno Psmash(ulong spa) => _sev.Rmp.Psmash(spa, out _);

    public Errno Unsmash(ulong spa) => _sev.SnpPageUnsmash(spa, out _);

    public void LeakPages(ulong spa, int npages) => _sev.Rmp.SnpLeakPages(spa, npages);
}
