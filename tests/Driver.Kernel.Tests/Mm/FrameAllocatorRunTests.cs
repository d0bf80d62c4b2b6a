using Driver.Kernel.Mm;
using Driver.Platform.Memory;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>
/// The bitmap search for runs and aligned runs, its hint and the free stack's compaction,
/// against a reference bitmap of the zone.
/// </summary>
public sealed class FrameAllocatorRunTests
{
    // Three frames past a 2M boundary: alignment is of physical frames, not of the zone's indexes.
    private const ulong Base = 0x8000_0000 + (3 * Page.Size);

    private static ulong Frame(ulong index) => Base + (index << Page.Shift);

    private static ulong Index(ulong pa) => (pa - Base) >> Page.Shift;

    [Fact]
    public void An_aligned_run_is_aligned_in_physical_frames_and_takes_only_its_frames()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 64 * Page.Size);
        allocator.TryAllocAligned(8, out ulong pa).ShouldBeTrue();
        ((pa >> Page.Shift) % 8).ShouldBe(0UL);
        Index(pa).ShouldBe(5UL);
        allocator.FramesInUse.ShouldBe(8);
        for (ulong i = 0; i < 64; i++)
            allocator.IsAllocated(Frame(i)).ShouldBe(i >= 5 && i < 13, $"frame {i}");

        // The frames skipped below it are free and handed out.
        allocator.TryAllocAligned(1, out ulong low).ShouldBeTrue();
        Index(low).ShouldBe(0UL);
        allocator.TryAlloc(out ulong next).ShouldBeTrue();
        Index(next).ShouldBeLessThan(5UL);
    }

    [Fact]
    public void No_aligned_run_fails_and_leaves_the_zone_as_it_was()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 32 * Page.Size);
        allocator.TryAllocContiguous(32, out _).ShouldBeTrue();
        // 8 free frames, but no 8 of them aligned: 1..8 spans the boundary at 5.
        for (ulong i = 1; i <= 8; i++)
            allocator.Free(Frame(i));
        allocator.TryAllocAligned(8, out ulong none).ShouldBeFalse();
        none.ShouldBe(0UL);
        allocator.TryAllocAligned(16, out _).ShouldBeFalse();
        allocator.FramesInUse.ShouldBe(24);
        for (ulong i = 0; i < 32; i++)
            allocator.IsAllocated(Frame(i)).ShouldBe(i is < 1 or > 8, $"frame {i}");
        allocator.TryAllocAligned(4, out ulong four).ShouldBeTrue();
        Index(four).ShouldBe(1UL);
        allocator.TryAllocContiguous(4, out ulong rest).ShouldBeTrue();
        Index(rest).ShouldBe(5UL);
        allocator.TryAllocAligned(1, out _).ShouldBeFalse();
        allocator.FramesInUse.ShouldBe(32);
    }

    [Fact]
    public void The_search_hint_does_not_skip_a_frame_freed_below_it()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 256 * Page.Size);
        for (int i = 0; i < 100; i++)
            allocator.TryAllocAligned(1, out _).ShouldBeTrue();
        allocator.Free(Frame(3));
        allocator.TryAllocContiguous(1, out ulong pa).ShouldBeTrue();
        Index(pa).ShouldBe(3UL);

        allocator.Free(Frame(40));
        allocator.Free(Frame(41));
        allocator.TryAllocContiguous(2, out ulong two).ShouldBeTrue();
        Index(two).ShouldBe(40UL);

        // A frame freed below the hint after the hint moved past it by a run.
        allocator.TryAllocContiguous(50, out _).ShouldBeTrue();
        allocator.Free(Frame(17));
        allocator.TryAllocAligned(1, out ulong again).ShouldBeTrue();
        Index(again).ShouldBe(17UL);
    }

    [Fact]
    public void After_the_free_stack_is_compacted_every_free_frame_is_handed_out_once()
    {
        var allocator = new FrameAllocator(new PhysicalMemory(), Base, 1024 * Page.Size);
        var frames = new List<ulong>();
        for (int i = 0; i < 300; i++)
        {
            allocator.TryAlloc(out ulong pa).ShouldBeTrue();
            frames.Add(pa);
        }
        foreach (ulong pa in frames)
            allocator.Free(pa);
        // Runs over the freed frames leave them stale on the stack; a frame freed again is there twice.
        allocator.TryAllocContiguous(200, out ulong run).ShouldBeTrue();
        Index(run).ShouldBe(0UL);
        for (ulong i = 10; i < 20; i++)
            allocator.Free(Frame(i));
        allocator.TryAllocContiguous(60, out ulong second).ShouldBeTrue();
        Index(second).ShouldBe(200UL);
        allocator.FramesInUse.ShouldBe(250);

        var seen = new HashSet<ulong>();
        while (allocator.TryAlloc(out ulong pa))
            seen.Add(pa).ShouldBeTrue($"frame 0x{pa:x} handed out twice");
        seen.Count.ShouldBe(1024 - 250);
        allocator.FramesInUse.ShouldBe(1024);
    }

    [Fact]
    public void Runs_and_frames_agree_with_a_reference_bitmap_under_random_use()
    {
        const int Frames = 200;
        for (int seed = 0; seed < 10; seed++)
        {
            var random = new Random(seed);
            var allocator = new FrameAllocator(new PhysicalMemory(), Base, Frames * Page.Size);
            var used = new bool[Frames];
            for (int step = 0; step < 300; step++)
            {
                int op = random.Next(10);
                if (op < 4 && used.Any(u => u))
                {
                    // Free a few allocated frames, anywhere.
                    for (int k = random.Next(1, 6); k > 0; k--)
                    {
                        var allocated = Enumerable.Range(0, Frames).Where(i => used[i]).ToList();
                        if (allocated.Count == 0)
                            break;
                        int i = allocated[random.Next(allocated.Count)];
                        allocator.Free(Frame((ulong)i));
                        used[i] = false;
                    }
                }
                else if (op < 6)
                {
                    bool ok = allocator.TryAlloc(out ulong pa);
                    ok.ShouldBe(used.Any(u => !u));
                    if (ok)
                        Take(used, pa, 1);
                }
                else
                {
                    bool aligned = op < 9;
                    int n = aligned ? 1 << random.Next(6) : random.Next(1, 24);
                    long before = allocator.FramesInUse;
                    bool ok = aligned ? allocator.TryAllocAligned(n, out ulong pa) : allocator.TryAllocContiguous(n, out pa);
                    ok.ShouldBe(HasRun(used, n, aligned ? n : 1), $"seed {seed} step {step}: run of {n}");
                    if (ok)
                    {
                        if (aligned)
                            ((pa >> Page.Shift) % (ulong)n).ShouldBe(0UL);
                        Take(used, pa, n);
                    }
                    else
                    {
                        pa.ShouldBe(0UL);
                        allocator.FramesInUse.ShouldBe(before);
                    }
                }
                allocator.FramesInUse.ShouldBe(used.Count(u => u), $"seed {seed} step {step}");
                for (int i = 0; i < Frames; i++)
                    allocator.IsAllocated(Frame((ulong)i)).ShouldBe(used[i], $"seed {seed} step {step} frame {i}");
            }

            // Every free frame is handed out once more, and only those.
            int free = used.Count(u => !u);
            var seen = new HashSet<ulong>();
            while (allocator.TryAlloc(out ulong pa))
            {
                used[Index(pa)].ShouldBeFalse($"seed {seed}: frame 0x{pa:x} handed out while allocated");
                seen.Add(pa).ShouldBeTrue($"seed {seed}: frame 0x{pa:x} handed out twice");
            }
            seen.Count.ShouldBe(free, $"seed {seed}");
            allocator.FramesInUse.ShouldBe(Frames);
        }
    }

    // Marks a run handed out, which must have been free.
    private static void Take(bool[] used, ulong pa, int n)
    {
        ulong first = Index(pa);
        for (ulong i = first; i < first + (ulong)n; i++)
        {
            used[i].ShouldBeFalse($"frame {i} handed out while allocated");
            used[i] = true;
        }
    }

    private static bool HasRun(bool[] used, int n, int align)
    {
        for (int i = 0; i + n <= used.Length; i++)
        {
            if (((Base >> Page.Shift) + (ulong)i) % (ulong)align != 0)
                continue;
            if (Enumerable.Range(i, n).All(j => !used[j]))
                return true;
        }
        return false;
    }
}
