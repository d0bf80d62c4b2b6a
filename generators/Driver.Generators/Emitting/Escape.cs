using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace Driver.Generators.Emitting;

/// <summary>Turns hwdef names and text into valid C# identifiers, literals and XML doc text.</summary>
internal static class Escape
{
    /// <summary>A hwdef identifier as a C# identifier: keywords get '@'.</summary>
    public static string Identifier(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    public static string Namespace(string dotted)
    {
        string[] parts = dotted.Split('.');
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = Identifier(parts[i]);
        }

        return string.Join(".", parts);
    }

    public static string Xml(string text) =>
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    public static string String(string text)
    {
        var result = new StringBuilder("\"");
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\':
                    result.Append("\\\\");
                    break;
                case '"':
                    result.Append("\\\"");
                    break;
                default:
                    if (c < ' ')
                    {
                        result.Append("\\u").Append(((int)c).ToString("x4"));
                    }
                    else
                    {
                        result.Append(c);
                    }

                    break;
            }
        }

        return result.Append('"').ToString();
    }

    public static string Hex(ulong value) => "0x" + value.ToString("X") + "UL";
}
