using Driver.Kernel.Tests.Support;
using Shouldly;
using Xunit;

namespace Driver.Kernel.Tests.Mm;

/// <summary>
/// A uniform 2M block of pages is one record, a page that differs is an exception beside it, and
/// the counts read per page are those of a model that keeps every 4K page on its own.
/// </summary>
public sealed class PageCountsBlockTests
{
    private const int Block = 512;

    [Fact]
    public void A_uniform_block_is_one_record_and_a_differing_page_an_exception_until_it_agrees_again()
    {
        var u = new UserMemory(frames: 2048);
        u.Pages.AllocFolio(Block, out ulong first).ShouldBe(Errno.Ok);
        u.Pages.Records.ShouldBe(1);

        u.Pages.Get(first + 7);
        u.Pages.Records.ShouldBe(2);
        u.Pages.RefCount(first + 7).ShouldBe(2);
        u.Pages.RefCount(first + 6).ShouldBe(1);
        u.Pages.RefCount(first + 8).ShouldBe(1);

        u.Pages.Pin(first + 300);
        u.Pages.Records.ShouldBe(3);
        u.Pages.PinCount(first + 300).ShouldBe(1);
        u.Pages.PinCount(first + 7).ShouldBe(0);

        u.Pages.Put(first + 7);
        u.Pages.Unpin(first + 300);
        u.Pages.Records.ShouldBe(1);
        u.Pages.LivePages.ShouldBe(Block);
    }

    [Fact]
    public void Every_page_changed_alike_is_one_record_again()
    {
        var u = new UserMemory(frames: 2048);
        u.Pages.AllocFolio(Block, out ulong first).ShouldBe(Errno.Ok);
        for (ulong i = 0; i < Block; i++)
        {
            u.Pages.Get(first + i);
            u.Pages.Records.ShouldBe(i == Block - 1 ? 1 : 2 + (int)i);
        }
        u.Pages.RefCount(first + 100).ShouldBe(2);
        for (ulong i = 0; i < Block; i++)
            u.Pages.Put(first + i);
        u.Pages.Records.ShouldBe(1);
        u.Pages.RefCount(first + 100).ShouldBe(1);
    }

    [Fact]
    public void A_block_whose_pages_all_die_is_removed_and_a_dead_page_reallocated_rejoins_it()
    {
        var u = new UserMemory(frames: 2048);
        u.Pages.AllocFolio(Block, out ulong first).ShouldBe(Errno.Ok);

        u.Pages.Put(first + 3);
        u.Pages.IsLive(first + 3).ShouldBeFalse();
        u.Pages.LivePages.ShouldBe(Block - 1);
        u.Frames.FramesInUse.ShouldBe(Block - 1);
        u.Pages.AllocPage(out ulong again).ShouldBe(Errno.Ok);
        again.ShouldBe(first + 3);
        u.Pages.Records.ShouldBe(1);
        u.Pages.RefCount(again).ShouldBe(1);

        for (ulong i = 0; i < Block; i++)
            u.Pages.Put(first + i);
        u.Pages.Records.ShouldBe(0);
        u.Pages.LivePages.ShouldBe(0);
        u.Frames.FramesInUse.ShouldBe(0);
        u.Pages.IsLive(first).ShouldBeFalse();
    }

    [Fact]
    public void Counts_equal_a_per_page_model_under_random_get_put_pin_unpin()
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var random = new Random(seed);
            var u = new UserMemory(frames: 4096);
            var model = new Dictionary<ulong, (int Refs, int Pins)>();
            var pfns = new List<ulong>();
            for (int b = 0; b < 3; b++)
            {
                u.Pages.AllocFolio(Block, out ulong first).ShouldBe(Errno.Ok);
                for (ulong i = 0; i < Block; i++)
                {
                    model[first + i] = (1, 0);
                    pfns.Add(first + i);
                }
            }
            u.Pages.AllocFolio(8, out ulong small).ShouldBe(Errno.Ok);
            for (ulong i = 0; i < 8; i++)
            {
                model[small + i] = (1, 0);
                pfns.Add(small + i);
            }

            for (int step = 0; step < 400; step++)
            {
                // Mostly a few pages of each block, so that pages come to agree with their block again.
                ulong pfn = random.Next(3) == 0 ? pfns[random.Next(pfns.Count)] : pfns[(random.Next(4) * Block) % pfns.Count + random.Next(3)];
                if (!model.TryGetValue(pfn, out var meta))
                {
                    u.Pages.AllocPage(out ulong got).ShouldBe(Errno.Ok);
                    model.ContainsKey(got).ShouldBeFalse();
                    model[got] = (1, 0);
                    if (!pfns.Contains(got))
                        pfns.Add(got);
                    continue;
                }
                switch (random.Next(4))
                {
                    case 0:
                        u.Pages.Get(pfn);
                        model[pfn] = (meta.Refs + 1, meta.Pins);
                        break;
                    case 1 when meta.Refs > meta.Pins:
                        u.Pages.Put(pfn);
                        Drop(model, pfn, (meta.Refs - 1, meta.Pins));
                        break;
                    case 1:
                        Should.Throw<InvalidOperationException>(() => u.Pages.Put(pfn));
                        break;
                    case 2:
                        u.Pages.Pin(pfn);
                        model[pfn] = (meta.Refs + 1, meta.Pins + 1);
                        break;
                    case 3 when meta.Pins > 0:
                        u.Pages.Unpin(pfn);
                        Drop(model, pfn, (meta.Refs - 1, meta.Pins - 1));
                        break;
                    case 3:
                        Should.Throw<InvalidOperationException>(() => u.Pages.Unpin(pfn));
                        break;
                }
                u.Pages.LivePages.ShouldBe(model.Count, $"seed {seed} step {step}");
                u.Frames.FramesInUse.ShouldBe(model.Count);
                u.Pages.TotalPins.ShouldBe(model.Values.Sum(m => (long)m.Pins));
                u.Pages.Records.ShouldBeLessThanOrEqualTo(pfns.Count);
                if (step % 40 == 0 || step == 399)
                {
                    foreach (ulong p in pfns)
                    {
                        var want = model.GetValueOrDefault(p);
                        u.Pages.RefCount(p).ShouldBe(want.Refs, $"seed {seed} step {step} pfn 0x{p:x}");
                        u.Pages.PinCount(p).ShouldBe(want.Pins);
                        u.Pages.IsLive(p).ShouldBe(want.Refs > 0);
                    }
                }
            }

            // Back to one reference each (a page held by pins alone takes one first, so that its last
            // unpin does not free it); then every page dies.
            foreach (var (p, m) in model)
            {
                u.Pages.Get(p);
                for (int i = 0; i < m.Pins; i++)
                    u.Pages.Unpin(p);
                for (int i = m.Pins; i < m.Refs; i++)
                    u.Pages.Put(p);
                u.Pages.RefCount(p).ShouldBe(1);
            }
            // Each block with a live page is one record, and at most one more per page of it that died.
            var blocks = pfns.Take(3 * Block).GroupBy(p => p / Block).Where(g => g.Any(model.ContainsKey)).ToList();
            int liveOutside = model.Keys.Count(p => !pfns.Take(3 * Block).Contains(p));
            int dead = blocks.Sum(g => g.Count(p => !model.ContainsKey(p)));
            u.Pages.Records.ShouldBeInRange(blocks.Count + liveOutside, blocks.Count + liveOutside + dead, $"seed {seed}");
            foreach (ulong p in model.Keys)
                u.Pages.Put(p);
            u.Pages.Records.ShouldBe(0);
            u.Pages.LivePages.ShouldBe(0);
            u.Frames.FramesInUse.ShouldBe(0);
            u.Pages.TotalPins.ShouldBe(0);
        }
    }

    private static void Drop(Dictionary<ulong, (int Refs, int Pins)> model, ulong pfn, (int Refs, int Pins) meta)
    {
        if (meta.Refs == 0)
            model.Remove(pfn);
        else
            model[pfn] = meta;
    }
}
