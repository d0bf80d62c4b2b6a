using System.Collections.Generic;
using Driver.Generators.Model;

namespace Driver.Generators.Emitting;

/// <summary>Emits one hwdef enum and the formatter that ToString() uses for its fields.</summary>
internal static class EnumEmitter
{
    public static string UnderlyingType(int bits) =>
        bits <= 8 ? "byte" : bits <= 16 ? "ushort" : bits <= 32 ? "uint" : "ulong";

    public static void Emit(CodeWriter w, EnumDecl declaration)
    {
        w.Summary(declaration.Doc);
        w.Open("public enum " + Escape.Identifier(declaration.Name) + " : " + UnderlyingType(declaration.Bits));
        foreach (EnumMemberDecl member in declaration.Members)
        {
            w.Summary(member.Doc);
            w.Line(Escape.Identifier(member.Name) + " = " + Literal(member.Value, declaration.Bits) + ",");
        }

        w.Close();
    }

    // An int literal converts implicitly to byte and ushort; wider types need their suffix.
    private static string Literal(ulong value, int bits)
    {
        string hex = "0x" + value.ToString("X");
        return bits <= 16 ? hex : bits <= 32 ? hex + "U" : hex + "UL";
    }

    /// <summary>By member name, or as hex when the value names no member (the first member of a value wins).</summary>
    public static void EmitFormatter(CodeWriter w, EnumDecl declaration, string ns)
    {
        string type = "global::" + Escape.Namespace(ns) + "." + Escape.Identifier(declaration.Name);
        w.Open("public static string Format(" + type + " value) => value switch");
        var seen = new HashSet<ulong>();
        foreach (EnumMemberDecl member in declaration.Members)
        {
            if (seen.Add(member.Value))
            {
                w.Line(type + "." + Escape.Identifier(member.Name) + " => " + Escape.String(member.Name) + ",");
            }
        }

        w.Line("_ => \"0x\" + ((ulong)value).ToString(\"x\", global::System.Globalization.CultureInfo.InvariantCulture),");
        w.Close(";");
    }
}
