using System.Numerics;
using CsCheck;
using Driver.Kernel.Iommufd;
using Driver.Kernel.Iommufd.Mock;
using Shouldly;
using Xunit;
using Uapi = Driver.Hw.Iommufd;

namespace Driver.Kernel.Tests.Iommufd;

/// <summary>
/// Random ioctl sequences on one IOAS, with and without a mock domain, against a reference
/// model of its areas: every errno, every area and the pin count must match the model; random
/// byte structs sent to random commands must come back with an errno, never an exception.
/// </summary>
public class IoctlSequenceFuzz
{
    private const ulong Pg = 4096;
    private const int BufferPages = 64;

    private abstract record Op;

    private sealed record MapOp(bool Fixed, ulong IovaPage, ulong Pages, long UvaPage, int FlagKind, byte Reserved) : Op;

    private sealed record UnmapOp(bool All, ulong IovaPage, ulong Pages) : Op;

    private sealed record RandomOp(byte Nr, byte[] Bytes, uint Size) : Op;

    private static readonly Gen<Op> GenMap = Gen.Select(Gen.Bool, Gen.ULong[4088, 4200], Gen.ULong[0, 9], Gen.Long[-2, BufferPages + 2], Gen.Int[0, 6], Gen.Byte[0, 3])
        .Select((f, i, p, u, k, r) => (Op)new MapOp(f, i, p, u, k, r == 3 ? (byte)1 : (byte)0));

    private static readonly Gen<Op> GenUnmap = Gen.Select(Gen.Int[0, 9], Gen.ULong[4088, 4200], Gen.ULong[0, 24])
        .Select((a, i, p) => (Op)new UnmapOp(a == 0, i, p));

    private static readonly Gen<Op> GenRandom = Gen.Select(Gen.Byte[0x7E, 0x95], Gen.Byte.Array[0, 64], Gen.UInt[0, 72])
        .Select((n, b, s) => (Op)new RandomOp(n, b, s));

    private static readonly Gen<Op> GenOp = Gen.Frequency((5, GenMap), (3, GenUnmap), (2, GenRandom));

    private sealed class Model(bool domain)
    {
        public List<(ulong Iova, ulong Length, ulong FirstUvaPage)> Areas { get; } = [];

        private ulong ApStart => domain ? MockDomainOptions.DefaultApertureStart : 0;

        private ulong ApEnd => domain ? MockDomainOptions.DefaultApertureEnd : ulong.MaxValue;

        private bool Free(ulong iova, ulong last) =>
            iova >= ApStart && last <= ApEnd && !Areas.Any(a => a.Iova <= last && a.Iova + a.Length - 1 >= iova);

        public Errno Map(MapOp op, ulong buffer, out ulong iova)
        {
            iova = 0;
            uint flags = op.FlagKind switch { 0 or 1 or 2 => 6, 3 => 4, 4 => 2, 5 => 0, _ => 0x16 };
            if ((flags & ~7u) != 0 || op.Reserved != 0)
                return Errno.EOPNOTSUPP;
            if ((flags & 6) == 0)
                return Errno.EINVAL;
            ulong length = op.Pages * Pg;
            if (length == 0)
                return Errno.EINVAL;
            ulong uva = (ulong)((long)buffer + (op.UvaPage * (long)Pg));
            if (op.Fixed)
            {
                iova = op.IovaPage * Pg;
                ulong last = iova + length - 1;
                if (iova < ApStart || last > ApEnd)
                    return Errno.EINVAL;
                if (!Free(iova, last))
                    return Errno.EEXIST;
            }
            else
            {
                ulong align = BitOperations.RoundUpToPowerOf2(length);
                align = Math.Min(align, 1UL << BitOperations.TrailingZeroCount(uva));
                align = Math.Min(align, 2UL << 20);
                ulong candidate = Math.Max(Pg, ApStart);
                candidate = (candidate + align - 1) & ~(align - 1);
                bool found = false;
                while (candidate + length - 1 <= Math.Min(ApEnd, 1UL << 40))
                {
                    var blocking = Areas.Where(a => a.Iova <= candidate + length - 1 && a.Iova + a.Length - 1 >= candidate).ToList();
                    if (blocking.Count == 0)
                    {
                        found = true;
                        break;
                    }
                    ulong past = blocking.Max(a => a.Iova + a.Length);
                    candidate = (past + align - 1) & ~(align - 1);
                }
                if (!found)
                    return Errno.ENOSPC;
                iova = candidate;
            }
            bool inBuffer = op.UvaPage >= 0 && op.UvaPage + (long)op.Pages <= BufferPages;
            if (domain && !inBuffer)
                return Errno.EFAULT;
            Areas.Add((iova, length, (ulong)op.UvaPage));
            Areas.Sort((x, y) => x.Iova.CompareTo(y.Iova));
            return Errno.Ok;
        }

        public Errno Unmap(UnmapOp op)
        {
            ulong start = op.All ? 0 : op.IovaPage * Pg;
            ulong length = op.All ? ulong.MaxValue : op.Pages * Pg;
            if (!op.All && length == 0)
                return Errno.EINVAL;
            ulong last = op.All ? ulong.MaxValue : start + length - 1;
            ulong unmapped = 0;
            foreach (var area in Areas.Where(a => a.Iova <= last && a.Iova + a.Length - 1 >= start).ToList())
            {
                if (area.Iova < start || area.Iova + area.Length - 1 > last)
                    return Errno.ENOENT;
                Areas.Remove(area);
                unmapped += area.Length;
            }
            return op.All || unmapped != 0 ? Errno.Ok : Errno.ENOENT;
        }

        // Each IOAS_MAP makes its own iopt_pages, so two maps of one page pin it twice (a copy would share).
        public long Pins => domain ? Areas.Sum(a => (long)(a.Length / Pg)) : 0;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Random_sequences_match_the_model(bool domain)
    {
        long steps = 0;
        GenOp.List[1, 40].Sample(ops =>
        {
            var rig = new IommufdRig(userFrames: 512);
            rig.Utils.IoasAlloc(out uint ioas).ShouldBe(Errno.Ok);
            if (domain)
                rig.MockDomain(ioas);
            ulong buffer = rig.Buffer(BufferPages * Pg);
            var model = new Model(domain);
            rig.Ctx.GetIoas(ioas, out var obj);
            foreach (var op in ops)
            {
                steps++;
                switch (op)
                {
                    case MapOp map:
                        var expected = model.Map(map, buffer, out ulong wantIova);
                        uint flags = map.FlagKind switch { 0 or 1 or 2 => 6, 3 => 4, 4 => 2, 5 => 0, _ => 0x16 };
                        var cmd = default(Uapi.IommuIoasMap).WithSize(Uapi.IommuIoasMap.Bytes).WithFlags(flags | (map.Fixed ? 1u : 0u)).WithIoasId(ioas)
                            .WithUserVa((ulong)((long)buffer + (map.UvaPage * (long)Pg))).WithLength(map.Pages * Pg).WithIova(map.Fixed ? map.IovaPage * Pg : 0);
                        var bytes = new byte[Uapi.IommuIoasMap.Bytes];
                        cmd.CopyTo(bytes);
                        bytes[12] = map.Reserved;
                        rig.File.Ioctl(IommufdFile.Command(Uapi.IommufdCmd.IoasMap), bytes).ShouldBe(expected, op.ToString());
                        if (expected == Errno.Ok)
                            Uapi.IommuIoasMap.FromBytes(bytes).Iova.ShouldBe(wantIova, op.ToString());
                        break;
                    case UnmapOp unmap:
                        ulong start = unmap.All ? 0 : unmap.IovaPage * Pg;
                        ulong length = unmap.All ? ulong.MaxValue : unmap.Pages * Pg;
                        rig.Utils.IoasUnmap(ioas, start, length).ShouldBe(model.Unmap(unmap), op.ToString());
                        break;
                    case RandomOp random:
                        var blob = new byte[Math.Max(random.Bytes.Length, 4)];
                        random.Bytes.CopyTo(blob, 0);
                        BitConverter.TryWriteBytes(blob, random.Size);
                        Enum.IsDefined(rig.File.Ioctl(IommufdFile.Command((Uapi.IommufdCmd)random.Nr), blob)).ShouldBeTrue();
                        break;
                }
                obj!.Iopt.Areas.Nodes.Select(n => (n.Start, n.Last)).ShouldBe(model.Areas.Select(a => (a.Iova, a.Iova + a.Length - 1)), op.ToString());
                rig.Pages.TotalPins.ShouldBe(model.Pins, op.ToString());
            }
            rig.CheckNoLeak();
        }, iter: 700);
        steps.ShouldBeGreaterThan(5000);
    }
}
