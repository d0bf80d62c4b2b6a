using System.CommandLine;
using Hwdef.Runtime;

namespace Driver.Cli.Commands;

/// <summary>`driver hwdefs`: every generated layout with its width and fields.</summary>
internal static class HwdefsCommand
{
    public static Command Create(TextWriter output)
    {
        var command = new Command("hwdefs", "List every layout from hwdefs/ with its width and fields.");
        command.SetAction(_ =>
        {
            Write(output);
            return 0;
        });
        return command;
    }

    public static void Write(TextWriter output)
    {
        foreach (HwdefLayoutInfo layout in LayoutCatalog.All)
        {
            output.WriteLine(layout.FullName + " : " + layout.Bits + (layout.Doc == null ? string.Empty : "  \"" + layout.Doc + "\""));
            int rangeWidth = layout.Fields.Count == 0 ? 0 : layout.Fields.Max(f => f.Range.Length);
            int nameWidth = layout.Fields.Count == 0 ? 0 : layout.Fields.Max(f => f.Name.Length);
            foreach (HwdefFieldInfo field in layout.Fields)
            {
                string access = field.Access == "rw" ? string.Empty : " " + field.Access;
                output.WriteLine("  " + field.Range.PadRight(rangeWidth) + "  " + field.Name.PadRight(nameWidth) + "  " + field.Type + access);
            }
        }
    }
}
