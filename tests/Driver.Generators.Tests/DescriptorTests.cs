using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators.Tests;

/// <summary>What a build prints besides the message: ids, titles, severities, and the generator's inputs.</summary>
public sealed class DescriptorTests
{
    [Theory]
    [InlineData("HWDEF001", "Not a hwdef statement", DiagnosticSeverity.Error)]
    [InlineData("HWDEF002", "Bits covered twice", DiagnosticSeverity.Error)]
    [InlineData("HWDEF003", "Bit outside the layout or unsupported width", DiagnosticSeverity.Error)]
    [InlineData("HWDEF004", "Unknown type", DiagnosticSeverity.Error)]
    [InlineData("HWDEF005", "Duplicate name", DiagnosticSeverity.Error)]
    [InlineData("HWDEF006", "Value does not fit", DiagnosticSeverity.Error)]
    [InlineData("HWDEF007", "Type does not fit its field", DiagnosticSeverity.Error)]
    [InlineData("HWDEF008", "Register block error", DiagnosticSeverity.Error)]
    [InlineData("HWDEF009", "Bits covered by no line", DiagnosticSeverity.Warning)]
    [InlineData("HWDEF010", "File structure error", DiagnosticSeverity.Error)]
    public void Every_id_has_a_descriptor(string id, string title, DiagnosticSeverity severity)
    {
        DiagnosticDescriptor descriptor = HwdefDiagnostics.Descriptor(id);
        descriptor.Id.ShouldBe(id);
        descriptor.Title.ToString().ShouldBe(title);
        descriptor.DefaultSeverity.ShouldBe(severity);
        descriptor.IsEnabledByDefault.ShouldBeTrue();
        descriptor.Category.ShouldBe("Hwdef");
        descriptor.MessageFormat.ToString().ShouldBe("{0}");
    }

    private sealed class Unreadable(string path) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText? GetText(CancellationToken cancellationToken = default) => null;
    }

    [Fact]
    public void An_unreadable_file_is_an_empty_file()
    {
        GeneratorDriver driver = GeneratorHarness.Driver()
            .AddAdditionalTexts(ImmutableArray.Create<AdditionalText>(new Unreadable("gone.hwdef")))
            .RunGenerators(GeneratorHarness.Compilation());
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        result.Exception.ShouldBeNull();
        result.Diagnostics.Select(d => d.Id + " " + d.GetMessage()).ShouldBe(new[] { "HWDEF010 The file has no 'namespace' statement; it must come first" });
    }
}
