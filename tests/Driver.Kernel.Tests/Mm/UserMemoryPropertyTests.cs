using CsCheck;
using Driver.Kernel.Mm;
using Driver.Kernel.Tests.Support;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>
/// Random map / unmap / pin / unpin / write sequences against a per-page reference model: the
/// same errnos, the same page under every address, every page's reference and pin count what
/// its holders imply, and no frame leaked when everything is taken down.
/// </summary>
public sealed class UserMemoryPropertyTests
{
    private const int Slots = 3;
    private const int SlotPages = 8;
    private const ulong K4 = Page.Size;
    private static ulong SlotVa(int slot) => UserAddressSpace.MmapMin + ((ulong)slot << 24);

    private enum Kind { MapFixed, Munmap, Pin, Unpin, Write }

    private sealed record Op(Kind Kind, int Slot, int First, int Pages, bool Flag, int Pick)
    {
        public override string ToString() => $"{Kind}(slot {Slot}, page {First}, {Pages}, {Flag}, {Pick})";
    }

    // The model: per page, mapped or not, writable, and the page behind it once faulted in.
    private sealed class ModelPage
    {
        public bool Mapped;
        public bool Writable;
        public ulong? Pfn;
        public byte Data;
    }

    private static readonly Gen<Op> GenOp =
        Gen.Select(Gen.Enum<Kind>(), Gen.Int[0, Slots - 1], Gen.Int[0, SlotPages - 1], Gen.Int[1, 4], Gen.Bool, Gen.Int[0, 255])
            .Select(t => new Op(t.Item1, t.Item2, t.Item3, Math.Min(t.Item4, SlotPages - t.Item3), t.Item5, t.Item6));

    [Fact]
    public void RandomSequences_MatchThePerPageModel_AndLeakNothing()
    {
        GenOp.List[1, 60].Sample(Run, iter: 400);
    }

    private static void Run(List<Op> ops)
    {
        var u = new UserMemory(frames: 512);
        var model = new ModelPage[Slots, SlotPages];
        for (int s = 0; s < Slots; s++)
            for (int p = 0; p < SlotPages; p++)
                model[s, p] = new ModelPage();
        var pins = new List<ulong[]>();
        var pinData = new Dictionary<ulong, byte>();

        foreach (Op op in ops)
        {
            ulong va = SlotVa(op.Slot) + ((ulong)op.First * K4);
            ulong len = (ulong)op.Pages * K4;
            var range = Enumerable.Range(op.First, op.Pages).Select(p => model[op.Slot, p]).ToList();
            switch (op.Kind)
            {
                case Kind.MapFixed:
                    Check(u.Mm.MmapFixed(va, len, op.Flag), Errno.Ok, op);
                    foreach (ModelPage page in range)
                    {
                        Forget(page);
                        page.Mapped = true;
                        page.Writable = op.Flag;
                    }
                    break;
                case Kind.Munmap:
                    Check(u.Mm.Munmap(va, len), Errno.Ok, op);
                    foreach (ModelPage page in range)
                    {
                        Forget(page);
                        page.Mapped = false;
                    }
                    break;
                case Kind.Pin:
                {
                    var pfns = new ulong[op.Pages];
                    bool ok = range.All(p => p.Mapped && (p.Writable || !op.Flag));
                    Check(u.Mm.PinUserPages(va, op.Pages, op.Flag, pfns), ok ? Errno.Ok : Errno.EFAULT, op);
                    if (!ok)
                        break;
                    for (int i = 0; i < op.Pages; i++)
                    {
                        ModelPage page = range[i];
                        if (page.Pfn is { } known && known != pfns[i])
                            throw new CsCheckException($"{op}: page {i} is 0x{pfns[i]:x}, was 0x{known:x}");
                        page.Pfn = pfns[i];
                        pinData[pfns[i]] = page.Data;
                    }
                    pins.Add(pfns);
                    break;
                }
                case Kind.Unpin:
                    if (pins.Count == 0)
                        break;
                    int which = op.Pick % pins.Count;
                    u.Mm.UnpinUserPages(pins[which]);
                    pins.RemoveAt(which);
                    break;
                case Kind.Write:
                {
                    ModelPage page = range[0];
                    bool ok = page.Mapped && page.Writable;
                    Check(u.Mm.CopyToUser(va + 100, [(byte)op.Pick]), ok ? Errno.Ok : Errno.EFAULT, op);
                    if (ok)
                    {
                        page.Data = (byte)op.Pick;
                        u.Mm.TryTranslate(va, out ulong pfn);
                        if (page.Pfn is { } known && known != pfn)
                            throw new CsCheckException($"{op}: a write moved the page");
                        page.Pfn = pfn;
                        if (pinData.ContainsKey(pfn))
                            pinData[pfn] = page.Data;
                    }
                    break;
                }
            }
            Verify(u, model, pins, pinData, op);
        }

        foreach (ulong[] pfns in pins)
            u.Mm.UnpinUserPages(pfns);
        u.Mm.Dispose();
        if (u.Frames.FramesInUse != 0 || u.Pages.LivePages != 0 || u.Pages.TotalPins != 0)
            throw new CsCheckException($"leak: {u.Frames.FramesInUse} frames, {u.Pages.LivePages} pages, {u.Pages.TotalPins} pins");
    }

    // Unmapping a page forgets it in the model; a pinned page lives on with its data in pinData.
    private static void Forget(ModelPage page)
    {
        page.Pfn = null;
        page.Data = 0;
    }

    private static void Check(Errno actual, Errno expected, Op op)
    {
        if (actual != expected)
            throw new CsCheckException($"{op}: {actual}, expected {expected}");
    }

    private static void Verify(UserMemory u, ModelPage[,] model, List<ulong[]> pins, Dictionary<ulong, byte> pinData, Op op)
    {
        var refs = new Dictionary<ulong, int>();
        var pinCounts = new Dictionary<ulong, int>();
        for (int s = 0; s < Slots; s++)
        {
            for (int p = 0; p < SlotPages; p++)
            {
                ModelPage page = model[s, p];
                ulong va = SlotVa(s) + ((ulong)p * K4);
                bool present = u.Mm.TryTranslate(va, out ulong pfn);
                if (present != (page.Mapped && page.Pfn is not null) || (present && pfn != page.Pfn))
                    throw new CsCheckException($"after {op}: slot {s} page {p} translates to {(present ? $"0x{pfn:x}" : "nothing")}, model {page.Pfn}");
                if (present)
                    refs[pfn] = refs.GetValueOrDefault(pfn) + 1;
                var buffer = new byte[1];
                Errno read = u.Mm.CopyFromUser(va + 100, buffer);
                if (read != (page.Mapped ? Errno.Ok : Errno.EFAULT) || (page.Mapped && buffer[0] != page.Data))
                    throw new CsCheckException($"after {op}: slot {s} page {p} reads {read} {buffer[0]}, model {page.Data}");
            }
        }
        foreach (ulong pfn in pins.SelectMany(p => p))
        {
            refs[pfn] = refs.GetValueOrDefault(pfn) + 1;
            pinCounts[pfn] = pinCounts.GetValueOrDefault(pfn) + 1;
            var buffer = new byte[1];
            u.Memory.Read((pfn << Page.Shift) + 100, buffer);
            if (buffer[0] != pinData[pfn])
                throw new CsCheckException($"after {op}: pinned page 0x{pfn:x} holds {buffer[0]}, model {pinData[pfn]}");
        }
        foreach (var (pfn, count) in refs)
        {
            if (u.Pages.RefCount(pfn) != count || u.Pages.PinCount(pfn) != pinCounts.GetValueOrDefault(pfn))
                throw new CsCheckException($"after {op}: page 0x{pfn:x} has {u.Pages.RefCount(pfn)} refs / {u.Pages.PinCount(pfn)} pins, model {count} / {pinCounts.GetValueOrDefault(pfn)}");
        }
        if (u.Pages.LivePages != refs.Count || u.Frames.FramesInUse != refs.Count || u.Pages.TotalPins != pinCounts.Values.Sum())
            throw new CsCheckException($"after {op}: {u.Pages.LivePages} live pages, {u.Frames.FramesInUse} frames, {u.Pages.TotalPins} pins; model {refs.Count}, {pinCounts.Values.Sum()}");
    }
}
