using System.CommandLine;
using Driver.Generators.Parsing;
using Hwdef.Runtime;

namespace Driver.Cli.Commands;

/// <summary>`driver encode LAYOUT Field=value...`: the raw words of a value built from zero, field by field.</summary>
internal static class EncodeCommand
{
    public static Command Create(TextWriter output)
    {
        var layout = new Argument<string>("layout") { Description = "Layout name, e.g. AmdV1Pte" };
        var fields = new Argument<string[]>("fields") { Description = "Field=value pairs: numbers, true/false, or enum member names", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("encode", "Encode field values into raw words, e.g. `driver encode AmdV1Pte Present=true Address=0x12345000`.") { layout, fields };
        command.SetAction(parse =>
        {
            output.WriteLine(Encode(parse.GetRequiredValue(layout), parse.GetValue(fields) ?? []));
            return 0;
        });
        return command;
    }

    public static string Encode(string layoutName, IReadOnlyList<string> assignments)
    {
        HwdefLayoutInfo layout = LayoutCatalog.Find(layoutName);
        var words = new ulong[layout.WordCount];
        foreach (string assignment in assignments)
        {
            int equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException("'" + assignment + "' is not Field=value");
            }

            string name = assignment[..equals];
            string text = assignment[(equals + 1)..];
            HwdefFieldInfo field = layout.Fields.FirstOrDefault(f => f.Name == name)
                ?? throw new UsageException(layout.Name + " has no field '" + name + "'; fields: " + string.Join(", ", layout.Fields.Select(f => f.Name)));
            if (!field.Set(words, Value(text, field, layout.Name + "." + field.Name)))
            {
                throw new UsageException("'" + text + "' does not fit " + layout.Name + "." + field.Name + " (" + field.Range + ", " + field.Type + ")");
            }
        }

        // Each word padded to its width, so that the output reads like a register dump.
        string format = "x" + (Math.Min(layout.Bits, 64) / 4);
        return string.Join(" ", words.Select(w => "0x" + w.ToString(format, System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>The field's value as a number: true/false for bool, a member name or a number for an enum.</summary>
    private static ulong Value(string text, HwdefFieldInfo field, string qualified)
    {
        switch (field.Kind)
        {
            case HwdefFieldKind.Bool:
                return text switch
                {
                    "true" or "1" => 1,
                    "false" or "0" => 0,
                    _ => throw new UsageException("'" + text + "' is not a bool for " + qualified + "; use true or false"),
                };
            case HwdefFieldKind.Enum:
                HwdefEnumMember? member = field.Members.FirstOrDefault(m => m.Name == text);
                if (member != null)
                {
                    return member.Value;
                }

                return HwdefNumber.TryParse(text, out ulong raw)
                    ? raw
                    : throw new UsageException("'" + text + "' is neither a member of " + field.Type + " (" + string.Join(", ", field.Members.Select(m => m.Name)) + ") nor a number");
            default:
                ulong number = NumberParser.Parse(text, qualified);

                // A number the property's type cannot even hold, told apart from one the field's bits cannot.
                if (field.TypeBits < 64 && (number >> field.TypeBits) != 0)
                {
                    throw new UsageException("'" + text + "' does not fit " + qualified);
                }

                return number;
        }
    }
}
