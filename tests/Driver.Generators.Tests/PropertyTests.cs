using FsCheck;
using FsCheck.Fluent;
using Microsoft.CodeAnalysis;

namespace Driver.Generators.Tests;

/// <summary>
/// Whatever text it is given, the generator answers only with hwdef diagnostics: it never throws,
/// and the code it emits for the declarations without errors compiles. Text known to be invalid
/// by construction (not by asking the generator) always gets at least one located error.
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

    private static readonly string[] BadNumbers = { "0x", "0b", "1__0", "0b2", "12a", "_1", "1_", "0xG", "-1", "18446744073709551616" };

    /// <summary>
    /// The valid text with one to three mutations, each of which makes it invalid whatever the
    /// others do: an 'end' deleted, a line overlapping a covered bit, an unknown type, a bad number.
    /// </summary>
    private static Gen<string> CertainlyInvalidText()
    {
        Gen<Action<List<string>, int>> mutation = Gen.OneOf(
            Gen.Choose(0, 100).Select(k => (Action<List<string>, int>)((l, _) => DeleteEnd(l, k))),
            Gen.Choose(0, 100).SelectMany(k => Gen.Choose(0, 511).Select(bit => (Action<List<string>, int>)((l, n) => InsertOverlap(l, k, bit, n)))),
            Gen.Choose(0, 100).Select(k => (Action<List<string>, int>)((l, n) => UnknownType(l, k, n))),
            Gen.Choose(0, 100).SelectMany(k => Gen.Elements(BadNumbers).Select(bad => (Action<List<string>, int>)((l, _) => BadNumber(l, k, bad)))));
        return Gen.Choose(1, 3).SelectMany(count => Gen.ListOf(mutation, count)).Select(mutations =>
        {
            List<string> lines = Valid.Split('\n').ToList();
            int n = 0;
            foreach (Action<List<string>, int> apply in mutations)
            {
                apply(lines, n++);
            }

            return string.Join("\n", lines);
        });
    }

    private static string[] WordsOf(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static List<int> Indexes(List<string> lines, Func<string[], bool> match) =>
        Enumerable.Range(0, lines.Count).Where(i => WordsOf(lines[i]) is { Length: > 0 } words && match(words)).ToList();

    // A line of a declaration that starts with a number or a bit range: a member, field, reserved or register line.
    private static bool IsMemberLine(string[] words) => char.IsAsciiDigit(words[0][0]) && words[0] != "0x" && !words[0].Contains('@', StringComparison.Ordinal);

    private static bool IsFieldLine(string[] words) => IsMemberLine(words) && words.Length >= 3 && words[1] != "res0" && words[1] != "res1" && words[1] != "ign"
        && !words[0].StartsWith("0x", StringComparison.Ordinal) && words[2] != "Pte" && !words[2].StartsWith("Pte[", StringComparison.Ordinal);

    /// <summary>The declaration it opens is then closed by the next one or by the end of the file: HWDEF010.</summary>
    private static void DeleteEnd(List<string> lines, int k)
    {
        List<int> ends = Indexes(lines, w => w[0] == "end");
        if (ends.Count > 0)
        {
            lines.RemoveAt(ends[k % ends.Count]);
        }
    }

    /// <summary>Every bit of the valid layouts is covered, so a new one-bit field right after the header overlaps: HWDEF002.</summary>
    private static void InsertOverlap(List<string> lines, int k, int bit, int n)
    {
        List<int> headers = Indexes(lines, w => w[0] == "layout");
        int header = headers[k % headers.Count];
        int bits = int.Parse(WordsOf(lines[header])[3], System.Globalization.CultureInfo.InvariantCulture);
        lines.Insert(header + 1, "  " + (bit % bits) + " Extra" + n + " bool");
    }

    /// <summary>No type of the namespace is called Unknown*: HWDEF004.</summary>
    private static void UnknownType(List<string> lines, int k, int n)
    {
        List<int> fields = Indexes(lines, IsFieldLine);
        int line = fields[k % fields.Count];
        string[] words = WordsOf(lines[line]);
        words[2] = "Unknown" + n;
        lines[line] = "  " + string.Join(" ", words);
    }

    /// <summary>A number the grammar refuses where a number or range must be: HWDEF001.</summary>
    private static void BadNumber(List<string> lines, int k, string bad)
    {
        List<int> candidates = Indexes(lines, w => IsMemberLine(w) || w[0] == "reset");
        int line = candidates[k % candidates.Count];
        string[] words = WordsOf(lines[line]);
        words[words[0] == "reset" ? 1 : 0] = bad;
        lines[line] = "  " + string.Join(" ", words);
    }

    /// <summary>Independent of the generator: no 'namespace' word at all, or a line with an odd number of quotes and no comment.</summary>
    private static bool CertainlyInvalid(string text) =>
        !text.Contains("namespace", StringComparison.Ordinal)
        || text.Split('\n').Any(line => !line.Contains('#', StringComparison.Ordinal) && line.Count(c => c == '"') % 2 == 1);

    /// <summary>At least one error, located in the hwdef at a real line and span.</summary>
    private static bool HasLocatedError(string text)
    {
        GeneratorRun run = GeneratorHarness.Run(text);
        int lineCount = text.Split('\n').Length;
        List<Diagnostic> errors = run.HwdefDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count == 0)
        {
            throw new InvalidOperationException("Invalid text accepted without an error:\n" + text);
        }

        foreach (Diagnostic error in errors)
        {
            FileLinePositionSpan span = error.Location.GetLineSpan();
            bool real = error.Location.Kind == LocationKind.ExternalFile && span.Path == "test.hwdef"
                && span.StartLinePosition.Line < lineCount && error.Location.SourceSpan.End <= text.Length;
            if (!real)
            {
                throw new InvalidOperationException("An error without a real location (" + error + ") for:\n" + text);
            }
        }

        return true;
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
    public void Random_text_only_ever_gets_diagnostics_and_an_error_when_certainly_invalid()
    {
        int invalid = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases(3000)).WithReplay(Seed(), Gamma), Prop.ForAll(RandomText().ToArbitrary(), text =>
        {
            OnlyDiagnostics(text, compile: false);
            if (CertainlyInvalid(text))
            {
                invalid++;
                HasLocatedError(text);
            }

            return true;
        }));

        // The oracle must have had something to judge.
        invalid.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void Certainly_invalid_mutations_of_valid_text_always_get_a_located_error()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases(1500)).WithReplay(Seed(), Gamma), Prop.ForAll(CertainlyInvalidText().ToArbitrary(), text =>
            OnlyDiagnostics(text, compile: true) && HasLocatedError(text)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("layout L : 8\n  7:0 ign\nend")]
    [InlineData("namespace T\nlayout L : 8 \"open\n  7:0 ign\nend")]
    public void The_oracle_judges_without_the_generator(string text) => CertainlyInvalid(text).ShouldBeTrue();

    [Fact]
    public void Each_certain_mutation_alone_makes_the_valid_text_invalid()
    {
        var mutations = new List<Action<List<string>>>();
        for (int k = 0; k < 30; k++)
        {
            int at = k;
            mutations.Add(l => DeleteEnd(l, at));
            mutations.Add(l => InsertOverlap(l, at, at * 17, 0));
            mutations.Add(l => UnknownType(l, at, 0));
            mutations.Add(l => BadNumber(l, at, BadNumbers[at % BadNumbers.Length]));
        }

        CertainlyInvalid(Valid).ShouldBeFalse();
        foreach (Action<List<string>> mutate in mutations)
        {
            List<string> lines = Valid.Split('\n').ToList();
            mutate(lines);
            string text = string.Join("\n", lines);
            text.ShouldNotBe(Valid);
            HasLocatedError(text).ShouldBeTrue();
        }
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
