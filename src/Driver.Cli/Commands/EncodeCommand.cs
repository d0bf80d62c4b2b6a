using System.CommandLine;
using System.Reflection;
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
        object value = layout.FromWords(new ulong[layout.WordCount]);
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
            MethodInfo with = layout.Type.GetMethod("With" + field.Name)!;
            Type type = with.GetParameters()[0].ParameterType;
            try
            {
                value = with.Invoke(value, [Convert(text, type, layout.Name + "." + field.Name)])!;
            }
            catch (TargetInvocationException invocation) when (invocation.InnerException is ArgumentOutOfRangeException)
            {
                throw new UsageException("'" + text + "' does not fit " + layout.Name + "." + field.Name + " (" + field.Range + ", " + field.Type + ")");
            }
        }

        // Each word padded to its width, so that the output reads like a register dump.
        string format = "x" + (Math.Min(layout.Bits, 64) / 4);
        return string.Join(" ", layout.ToWords(value).Select(w => "0x" + w.ToString(format, System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static object Convert(string text, Type type, string field)
    {
        if (type == typeof(bool))
        {
            return text switch
            {
                "true" or "1" => true,
                "false" or "0" => false,
                _ => throw new UsageException("'" + text + "' is not a bool for " + field + "; use true or false"),
            };
        }

        if (type.IsEnum)
        {
            if (Enum.GetNames(type).Contains(text))
            {
                return Enum.Parse(type, text);
            }

            if (!NumberParser.TryParse(text, out ulong raw))
            {
                throw new UsageException("'" + text + "' is neither a member of " + type.Name + " (" + string.Join(", ", Enum.GetNames(type)) + ") nor a number");
            }

            return Enum.ToObject(type, raw);
        }

        ulong number = NumberParser.Parse(text, field);
        ulong max = type == typeof(byte) ? byte.MaxValue : type == typeof(ushort) ? ushort.MaxValue : type == typeof(uint) ? uint.MaxValue : ulong.MaxValue;
        if (number > max)
        {
            throw new UsageException("'" + text + "' does not fit " + field);
        }

        return System.Convert.ChangeType(number, type, System.Globalization.CultureInfo.InvariantCulture);
    }
}
