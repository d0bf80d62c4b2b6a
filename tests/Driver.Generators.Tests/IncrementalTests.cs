using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace Driver.Generators.Tests;

/// <summary>Editing one hwdef re-parses and re-emits only that file.</summary>
public sealed class IncrementalTests
{
    private const string First = "namespace T.Hw\nenum Mode : 2\n  1 One\nend\nlayout A : 8\n  1:0 M Mode\n  7:2 ign\nend\n";
    private const string Second = "namespace T.Hw\nlayout B : 8\n  1:0 M Mode\n  7:2 F u\nend\n";

    private static (GeneratorDriver Driver, AdditionalText First, AdditionalText Second) Start()
    {
        var first = new HwdefText("a.hwdef", First);
        var second = new HwdefText("b.hwdef", Second);
        GeneratorDriver driver = GeneratorHarness.Driver(trackSteps: true)
            .AddAdditionalTexts(ImmutableArray.Create<AdditionalText>(first, second));
        driver = driver.RunGenerators(GeneratorHarness.Compilation());
        return (driver, first, second);
    }

    private static IncrementalStepRunReason[] Reasons(GeneratorDriver driver, string step) =>
        driver.GetRunResult().Results.Single().TrackedSteps[step]
            .SelectMany(run => run.Outputs)
            .Select(output => output.Reason)
            .ToArray();

    [Fact]
    public void Editing_one_file_re_emits_only_that_file()
    {
        (GeneratorDriver driver, AdditionalText first, AdditionalText second) = Start();
        GeneratorDriver edited = driver
            .ReplaceAdditionalText(second, new HwdefText("b.hwdef", Second.Replace("7:2 F u", "7:2 G u")))
            .RunGenerators(GeneratorHarness.Compilation());

        Reasons(edited, Driver.Generators.HwdefGenerator.ParseStep).ShouldBe(new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Modified });
        Reasons(edited, Driver.Generators.HwdefGenerator.SymbolsStep).ShouldBe(new[] { IncrementalStepRunReason.Cached });
        Reasons(edited, Driver.Generators.HwdefGenerator.OutputStep).ShouldBe(new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Modified });
        edited.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName.StartsWith("b.", StringComparison.Ordinal))
            .SourceText.ToString().ShouldContain("WithG(");
        first.Path.ShouldBe("a.hwdef");
    }

    [Fact]
    public void Moving_text_inside_one_file_leaves_the_other_file_cached()
    {
        (GeneratorDriver driver, AdditionalText first, _) = Start();
        GeneratorDriver edited = driver
            .ReplaceAdditionalText(first, new HwdefText("a.hwdef", "# a new comment line\n" + First))
            .RunGenerators(GeneratorHarness.Compilation());

        Reasons(edited, Driver.Generators.HwdefGenerator.SymbolsStep).ShouldBe(new[] { IncrementalStepRunReason.Cached });
        // The moved file is re-checked, but its output is the same text, so nothing is re-added.
        Reasons(edited, Driver.Generators.HwdefGenerator.ParseStep).ShouldBe(new[] { IncrementalStepRunReason.Modified, IncrementalStepRunReason.Cached });
        Reasons(edited, Driver.Generators.HwdefGenerator.OutputStep).ShouldBe(new[] { IncrementalStepRunReason.Unchanged, IncrementalStepRunReason.Cached });
    }

    [Fact]
    public void Changing_a_shared_enum_re_checks_the_files_that_may_use_it()
    {
        (GeneratorDriver driver, AdditionalText first, _) = Start();
        GeneratorDriver edited = driver
            .ReplaceAdditionalText(first, new HwdefText("a.hwdef", First.Replace("enum Mode : 2", "enum Mode : 3").Replace("1:0 M Mode\n  7:2", "2:0 M Mode\n  7:3")))
            .RunGenerators(GeneratorHarness.Compilation());

        Reasons(edited, Driver.Generators.HwdefGenerator.SymbolsStep).ShouldBe(new[] { IncrementalStepRunReason.Modified });
        Reasons(edited, Driver.Generators.HwdefGenerator.OutputStep).ShouldBe(new[] { IncrementalStepRunReason.Modified, IncrementalStepRunReason.Modified });
        edited.GetRunResult().Diagnostics.Select(d => d.Id).ShouldBe(new[] { "HWDEF007" });
    }

    [Fact]
    public void Running_again_with_nothing_changed_caches_everything()
    {
        (GeneratorDriver driver, _, _) = Start();
        GeneratorDriver again = driver.RunGenerators(GeneratorHarness.Compilation());
        Reasons(again, Driver.Generators.HwdefGenerator.ParseStep).ShouldAllBe(reason => reason == IncrementalStepRunReason.Cached);
        Reasons(again, Driver.Generators.HwdefGenerator.OutputStep).ShouldAllBe(reason => reason == IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void Files_that_are_not_hwdefs_are_ignored()
    {
        GeneratorDriver driver = GeneratorHarness.Driver()
            .AddAdditionalTexts(ImmutableArray.Create<AdditionalText>(new HwdefText("notes.txt", "garbage"), new HwdefText("X.HWDEF", "namespace T\nlayout L : 8\n  7:0 ign\nend\n")))
            .RunGenerators(GeneratorHarness.Compilation());
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        result.Diagnostics.ShouldBeEmpty();
        result.GeneratedSources.Length.ShouldBe(3);
    }
}
