using FsCheck;
using FsCheck.Fluent;
using Microsoft.CodeAnalysis;

namespace Driver.Generators.Tests;

/// <summary>
/// Whatever text it is given, the generator answers only with hwdef diagnostics: it never throws,
/// and the code it emits for the declarations without errors compiles.
/// </summary>
public sealed class PropertyTests
{
    private const string Valid = """
        namespace T.Hw
        enum Mode : 3 "mode"
          0 Off
          4 Four
        end
        layout Pte : 64 "entry"
          0 Present bool
          4:1 ign
          11:9 Level u
          8:5 Kind u ro
          51:12 Address addr
          58:52 res0
          59 res1
          62:60 M Mode w1c
          63 ign
          reset 0x800000000000000
        end
        layout Wide : 128
          60:58,95:80,127:107 Root addr@12
          57:0 ign
          79:61 ign
          106:96 ign
        end
        block Regs : 0x40
          0x0 P Pte
          0x10 A Pte[3] 8
        end
        """;

    private static readonly string[] Words =
    {
        "namespace", "enum", "layout", "block", "end", "reset", "res0", "res1", "ign", "bool", "u", "addr", "addr@12", "addr@70",
        "rw", "ro", "wo", "w1c", ":", "0", "1", "7", "8", "63", "64", "128", "0x10", "0b11", "1_000", "63:0", "7:4", "3:0,7:4", "0x", "9:12",
        "\"doc\"", "\"open", "#", "Mode", "Pte", "L", "F", "Raw", "A[2]", "X[0]", "Pte[4]", "Mode[1]", "@", "T.Hw", ",", "[", "]", "-1",
        "18446744073709551616", "99999999999", "512", "0xFFFF_FFFF_FFFF_FFFF", "\t", "é",
    };

    private static Gen<string> RandomLine() =>
        Gen.Choose(0, 6).SelectMany(count => Gen.ListOf(Gen.Elements(Words), count))
            .Select(words => string.Join(" ", words));

    private static Gen<string> RandomText() =>
        Gen.Choose(0, 25).SelectMany(count => Gen.ListOf(RandomLine(), count))
            .Select(lines => string.Join("\n", lines));

    /// <summary>The valid text with some lines deleted, duplicated, swapped or with one word replaced.</summary>
    private static Gen<string> MutatedText()
    {
        string[] lines = Valid.Split('\n');
        Gen<Func<List<string>, List<string>>> mutation = Gen.OneOf(
            Gen.Choose(0, lines.Length - 1).Select(i => (Func<List<string>, List<string>>)(l => { if (i < l.Count) { l.RemoveAt(i); } return l; })),
            Gen.Choose(0, lines.Length - 1).Select(i => (Func<List<string>, List<string>>)(l => { if (i < l.Count) { l.Insert(i, l[i]); } return l; })),
            Gen.Choose(0, lines.Length - 1).SelectMany(i => Gen.Choose(0, lines.Length - 1).Select(j => (Func<List<string>, List<string>>)(l =>
            {
                if (i < l.Count && j < l.Count)
                {
                    (l[i], l[j]) = (l[j], l[i]);
                }

                return l;
            }))),
            Gen.Choose(0, lines.Length - 1).SelectMany(i => Gen.Elements(Words).SelectMany(word => Gen.Choose(0, 5).Select(k => (Func<List<string>, List<string>>)(l =>
            {
                if (i < l.Count)
                {
                    string[] parts = l[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length > 0)
                    {
                        parts[k % parts.Length] = word;
                        l[i] = "  " + string.Join(" ", parts);
                    }
                }

                return l;
            })))),
            Gen.Choose(0, Valid.Length).Select(cut => (Func<List<string>, List<string>>)(l => string.Join("\n", l).Substring(0, Math.Min(cut, string.Join("\n", l).Length)).Split('\n').ToList())));
        return Gen.Choose(1, 4).SelectMany(count => Gen.ListOf(mutation, count)).Select(mutations =>
        {
            List<string> current = lines.ToList();
            foreach (Func<List<string>, List<string>> apply in mutations)
            {
                current = apply(current);
            }

            return string.Join("\n", current);
        });
    }

    /// <summary>Runs the generator; fails on anything but HWDEF diagnostics, and on uncompilable output when there is no error.</summary>
    private static bool OnlyDiagnostics(string text, bool compile)
    {
        GeneratorRun run = GeneratorHarness.Run(text);
        if (run.Diagnostics.Any(d => !d.Id.StartsWith("HWDEF", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException("Unexpected diagnostic for:\n" + text + "\n" + string.Join("\n", run.Diagnostics));
        }

        if (run.Diagnostics.Any(d => d.Location.GetLineSpan().Path != "test.hwdef"))
        {
            throw new InvalidOperationException("A diagnostic without the hwdef location for:\n" + text);
        }

        // Declarations with errors are left out, so what is emitted always compiles.
        if (compile && run.CompileErrors.Any())
        {
            throw new InvalidOperationException("The output does not compile:\n" + text + "\n" + string.Join("\n", run.CompileErrors));
        }

        return true;
    }

    [Fact]
    public void The_unmutated_text_is_clean()
    {
        GeneratorRun run = GeneratorHarness.Run(Valid);
        run.Diagnostics.ShouldBeEmpty();
        run.CompileErrors.ShouldBeEmpty();
    }

    [Fact]
    public void Random_text_only_ever_gets_diagnostics()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases(3000)).WithReplay(Seed(), Gamma), Prop.ForAll(RandomText().ToArbitrary(), text => OnlyDiagnostics(text, compile: false)));
    }

    [Fact]
    public void Mutated_valid_text_only_ever_gets_diagnostics_and_its_output_compiles()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases(1500)).WithReplay(Seed(), Gamma), Prop.ForAll(MutatedText().ToArbitrary(), text => OnlyDiagnostics(text, compile: true)));
    }

    private const ulong Gamma = 1442695040888963407UL;

    // Mutation testing runs these once per mutant: HWDEF_PROPERTY_CASES keeps that affordable.
    private static int Cases(int full)
    {
        string? cases = Environment.GetEnvironmentVariable("HWDEF_PROPERTY_CASES");
        return cases == null ? full : int.Parse(cases, System.Globalization.CultureInfo.InvariantCulture);
    }

    // A fixed seed keeps CI reproducible; set HWDEF_FSCHECK_SEED to explore others.
    private static ulong Seed()
    {
        string? seed = Environment.GetEnvironmentVariable("HWDEF_FSCHECK_SEED");
        return seed == null ? 20261121UL : ulong.Parse(seed, System.Globalization.CultureInfo.InvariantCulture);
    }
}
