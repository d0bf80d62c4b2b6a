using Driver.Kernel;
using Driver.Scenarios.Engine;
using Driver.Scenarios.Strategies;

namespace Driver.Scenarios.Actors;

/// <summary>
/// The VMM: answers the guest's page-state-change exits. A share runs the strategy's host steps, then
/// KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd (whose notifiers and architecture hook do the rest),
/// then maps the page for the untrusted device; a return to private unmaps it there first, converts,
/// and runs the strategy's steps after. Where the strategy binds the guest_memfd through iommufd, the
/// binding maps and unmaps the untrusted device's shared pages itself. Every step tells the monitors
/// what the kernel is doing.
/// </summary>
internal sealed class Vmm(Testbed bed, IConversionStrategy strategy, ConversionState state, ITraceSink? trace)
{
    private const string Actor = "vmm";

    public Errno ToShared(ulong page)
    {
        ulong gpa = bed.Layout.Gpa(page);
        long start = bed.Machine.Clock.NowNs;
        bed.Machine.Notify.SetOperation($"{strategy.Name}: share 0x{gpa:x}");
        var err = strategy.BeforeShare(gpa);
        if (err == Errno.Ok)
            err = bed.SetAttributes(gpa, toPrivate: false);
        if (err == Errno.Ok && !strategy.BindsGuestMemfd && bed.UntrustedDomain is { } untrusted)
            err = bed.Core.Map(untrusted, gpa, bed.Layout.Spa(page), GuestLayout.Page4K, Driver.Kernel.IommuPt.IommuProt.Read | Driver.Kernel.IommuPt.IommuProt.Write);
        if (err == Errno.Ok)
            state.AddShared(page);
        bed.Machine.Notify.SetOperation(null);
        Trace("to-shared", start, gpa, err);
        return err;
    }

    public Errno ToPrivate(ulong page)
    {
        ulong gpa = bed.Layout.Gpa(page);
        long start = bed.Machine.Clock.NowNs;
        bed.Machine.Notify.SetOperation($"{strategy.Name}: unshare 0x{gpa:x}");
        state.RemoveShared(page);
        if (!strategy.BindsGuestMemfd && bed.UntrustedDomain is { } untrusted)
            bed.Core.Unmap(untrusted, gpa, GuestLayout.Page4K);
        var err = bed.SetAttributes(gpa, toPrivate: true);
        if (err == Errno.Ok)
            err = strategy.AfterPrivate(gpa);
        bed.Machine.Notify.SetOperation(null);
        Trace("to-private", start, gpa, err);
        return err;
    }

    private void Trace(string name, long start, ulong gpa, Errno err) =>
        trace?.Span(Actor, name, (ulong)start, (ulong)(bed.Machine.Clock.NowNs - start), err == Errno.Ok ? $"0x{gpa:x}" : $"0x{gpa:x} {err}");
}
