using System.Collections;
using System.Reflection;

namespace Driver.Generators.Tests;

/// <summary>
/// The generated Hwdef.Runtime.HwdefCatalog: every layout with typed access to each field in raw
/// words, found through a generated index. (The test reads the catalog by reflection because
/// it is internal to the compiled assembly; the catalog itself uses none.)
/// </summary>
public sealed class CatalogTests
{
    private const string First = """
        namespace T.Hw
        enum Mode : 3
          4 Four
          1 One
          6 Six
        end
        layout Pte : 64 "entry"
          0 Present bool
          3:1 M Mode
          11:4 Byte u w1c
          51:12 Address addr
          63:52 Top u ro
        end
        """;

    private const string Second = """
        namespace T.Hw
        layout Wide : 128
          60:58,95:80,127:107 Root addr@12
          57:0 Low u
          79:61 ign
          106:96 Mid u
        end
        layout Small : 16
          3:0 N u
          4 B bool
          15:5 res0
        end
        """;

    private static readonly Lazy<(Assembly Assembly, IReadOnlyList<object> Layouts)> Compiled = new(() =>
    {
        GeneratorRun run = GeneratorHarness.Run(new[] { ("b.hwdef", Second), ("a.hwdef", First) });
        run.HwdefDiagnostics.ShouldBeEmpty();
        Assembly assembly = run.Load();
        Type catalog = assembly.GetType("Hwdef.Runtime.HwdefCatalog")!;
        var layouts = ((IEnumerable)catalog.GetProperty("Layouts")!.GetValue(null)!).Cast<object>().ToList();
        return (assembly, layouts);
    });

    private static T Get<T>(object target, string property) => (T)target.GetType().GetProperty(property)!.GetValue(target)!;

    private static object Layout(string name) => Compiled.Value.Layouts.Single(l => Get<string>(l, "Name") == name);

    private static object Field(string layout, string name) =>
        Get<IEnumerable>(Layout(layout), "Fields").Cast<object>().Single(f => Get<string>(f, "Name") == name);

    [Fact]
    public void The_index_finds_the_layouts_of_every_file_sorted_by_full_name()
    {
        Compiled.Value.Layouts.Select(l => Get<string>(l, "FullName")).ShouldBe(new[] { "T.Hw.Pte", "T.Hw.Small", "T.Hw.Wide" });
        Get<int>(Layout("Wide"), "WordCount").ShouldBe(2);
        Get<int>(Layout("Small"), "WordCount").ShouldBe(1);
        Get<string>(Layout("Pte"), "Doc").ShouldBe("entry");
    }

    [Fact]
    public void Fields_are_listed_by_lowest_bit_as_their_lines_state_them()
    {
        Get<IEnumerable>(Layout("Wide"), "Fields").Cast<object>().Select(f => Get<string>(f, "Name") + " " + Get<string>(f, "Range") + " " + Get<string>(f, "Type") + " " + Get<int>(f, "TypeBits"))
            .ShouldBe(new[] { "Low 57:0 u 64", "Root 60:58,95:80,127:107 addr@12 64", "Mid 106:96 u 16" });
        Get<string>(Field("Pte", "Byte"), "Access").ShouldBe("w1c");
        Get<string>(Field("Pte", "Top"), "Access").ShouldBe("ro");
        Get<object>(Field("Pte", "M"), "Kind").ToString().ShouldBe("Enum");
        Get<int>(Field("Pte", "Present"), "TypeBits").ShouldBe(1);
    }

    [Fact]
    public void Enum_fields_carry_their_members_by_value()
    {
        Get<IEnumerable>(Field("Pte", "M"), "Members").Cast<object>().Select(m => Get<string>(m, "Name") + "=" + Get<ulong>(m, "Value"))
            .ShouldBe(new[] { "One=1", "Four=4", "Six=6" });
        Get<IEnumerable>(Field("Pte", "Byte"), "Members").Cast<object>().ShouldBeEmpty();
    }

    private const string Probe = """
        using System;
        using Hwdef.Runtime;
        public static class Probe
        {
            private static HwdefLayoutInfo L(string name) { foreach (var l in HwdefCatalog.Layouts) { if (l.Name == name) return l; } throw new InvalidOperationException(name); }
            private static HwdefFieldInfo F(string layout, string name) { foreach (var f in L(layout).Fields) { if (f.Name == name) return f; } throw new InvalidOperationException(name); }
            public static string Run()
            {
                var text = new System.Text.StringBuilder();
                ulong[] pte = new ulong[1];
                text.Append(F("Pte", "Present").Set(pte, 1)).Append(F("Pte", "M").Set(pte, 4)).Append(F("Pte", "Address").Set(pte, 0xABCDE000)).Append(F("Pte", "Top").Set(pte, 0xFFF));
                text.Append(' ').Append(pte[0].ToString("x")).Append(' ').Append(L("Pte").Decode(pte));
                text.Append(' ').Append(F("Pte", "M").Get(pte)).Append(' ').Append(F("Pte", "Address").Get(pte).ToString("x")).Append(' ').Append(F("Pte", "Present").Get(pte));
                // Values that do not fit: refused, and the words left as they were.
                ulong before = pte[0];
                text.Append(' ').Append(F("Pte", "Present").Set(pte, 2)).Append(F("Pte", "M").Set(pte, 8)).Append(F("Pte", "Byte").Set(pte, 0x100)).Append(F("Pte", "Address").Set(pte, 0xABCDE001)).Append(F("Pte", "Top").Set(pte, 0x1000)).Append(pte[0] == before);
                text.Append(' ').Append(F("Pte", "Present").Set(pte, 0)).Append(' ').Append(F("Pte", "Present").Get(pte));
                ulong[] wide = new ulong[2];
                text.Append(' ').Append(F("Wide", "Root").Set(wide, 0xFFFFFFFFFF000)).Append(F("Wide", "Low").Set(wide, 0x3FFFFFFFFFFFFFF)).Append(F("Wide", "Low").Set(wide, 0x400000000000000)).Append(F("Wide", "Root").Set(wide, 0x1000000000000000));
                text.Append(' ').Append(wide[0].ToString("x")).Append(',').Append(wide[1].ToString("x")).Append(' ').Append(F("Wide", "Root").Get(wide).ToString("x")).Append(' ').Append(L("Wide").Decode(wide));
                ulong[] small = new ulong[1];
                text.Append(' ').Append(F("Small", "N").Set(small, 0xF)).Append(F("Small", "B").Set(small, 1)).Append(F("Small", "N").Set(small, 0x10)).Append(' ').Append(small[0].ToString("x")).Append(' ').Append(L("Small").Decode(small));
                return text.ToString();
            }
        }
        """;

    [Fact]
    public void Getters_and_setters_read_and_write_the_field_in_raw_words_and_refuse_what_does_not_fit()
    {
        GeneratorRun run = GeneratorHarness.Run(new[] { ("b.hwdef", Second), ("a.hwdef", First) }, Probe);
        run.CompileErrors.ShouldBeEmpty();
        string result = (string)run.Load().GetType("Probe")!.GetMethod("Run")!.Invoke(null, null)!;
        result.ShouldBe(string.Join(" ", new[]
        {
            "TrueTrueTrueTrue",
            "fff00000abcde009",
            "Pte { Present = true, M = Four, Byte = 0x0, Address = 0xabcde000, Top = 0xfff }",
            "4 abcde000 1",
            "FalseFalseFalseFalseFalseTrue",
            "True 0",
            "TrueTrueFalseFalse",
            "1fffffffffffffff,fffff800ffff0000",
            "ffffffffff000",
            "Wide { Low = 0x3ffffffffffffff, Root = 0xffffffffff000, Mid = 0x0 }",
            "TrueTrueFalse 1f Small { N = 0xf, B = true }",
        }));
    }
}
