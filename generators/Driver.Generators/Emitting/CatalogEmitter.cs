using System.Linq;
using Driver.Generators.Model;

namespace Driver.Generators.Emitting;

/// <summary>Emits one file's part of HwdefCatalog: what the `driver` command lists, decodes and encodes.</summary>
internal static class CatalogEmitter
{
    public static string PartName(string hintName)
    {
        var name = new System.Text.StringBuilder("Layouts_");
        foreach (char c in hintName)
        {
            name.Append(char.IsLetterOrDigit(c) && c < 128 ? c : '_');
        }

        return name.ToString();
    }

    public static void Emit(CodeWriter w, string partName, string ns, System.Collections.Generic.IReadOnlyList<LayoutDecl> layouts)
    {
        w.Open("private static HwdefLayoutInfo[] " + partName + "() => new HwdefLayoutInfo[]");
        foreach (LayoutDecl layout in layouts)
        {
            string type = "global::" + Escape.Namespace(ns) + "." + Escape.Identifier(layout.Name);
            w.Line("new HwdefLayoutInfo(");
            w.Line("    typeof(" + type + "),");
            w.Line("    " + layout.Bits + ",");
            w.Line("    " + (layout.Doc == null ? "null" : Escape.String(layout.Doc)) + ",");
            w.Line("    new HwdefFieldInfo[]");
            w.Line("    {");
            foreach (FieldDecl field in layout.Fields.OrderBy(f => f.LowestBit))
            {
                string range = string.Join(",", field.Pieces.Select(p => p.ToString()));
                w.Line("        new HwdefFieldInfo(" + Escape.String(field.Name) + ", " + Escape.String(range) + ", " + Escape.String(field.TypeText) + ", "
                    + Escape.String(AccessText(field.Access)) + ", " + (field.Doc == null ? "null" : Escape.String(field.Doc)) + "),");
            }

            w.Line("    },");
            if (layout.Bits > 64)
            {
                w.Line("    words => new " + type + "(words),");
                w.Line("    value => { var words = new ulong[" + (layout.Bits / 64) + "]; ((" + type + ")value).CopyTo(words); return words; }),");
            }
            else
            {
                string storage = LayoutEmitter.StorageType(layout.Bits);
                w.Line("    words => new " + type + "((" + storage + ")words[0]),");
                w.Line("    value => new ulong[] { ((" + type + ")value).Raw }),");
            }
        }

        w.Close(";");
    }

    private static string AccessText(FieldAccess access) =>
        access == FieldAccess.ReadOnly ? "ro" : access == FieldAccess.WriteOnly ? "wo" : access == FieldAccess.WriteOneToClear ? "w1c" : "rw";
}
