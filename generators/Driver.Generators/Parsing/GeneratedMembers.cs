using System.Collections.Generic;
using Driver.Generators.Model;

namespace Driver.Generators.Parsing;

/// <summary>The C# member names a layout struct gets, so that a field cannot collide with one.</summary>
internal static class GeneratedMembers
{
    public static readonly string[] LayoutMembers =
    {
        "Bits", "Raw", "Reset", "Res0Mask", "Res1Mask", "IsValid", "ApplyWrite",
        "Words", "GetWord", "CopyTo", "Bytes", "FromBytes",
        "Equals", "GetHashCode", "ToString", "GetType", "MemberwiseClone", "Finalize",
        "__w0", "__w1", "__w2", "__w3", "__w4", "__w5", "__w6", "__w7",
        "__w8", "__w9", "__w10", "__w11", "__w12", "__w13", "__w14", "__w15",
    };

    public static IEnumerable<string> ForField(string name, bool onePiece)
    {
        yield return name;
        yield return "With" + name;
        if (onePiece)
        {
            yield return name + "Shift";
            yield return name + "Mask";
        }
    }

    public static IEnumerable<string> ForRegister(RegisterDecl register)
    {
        yield return register.Name + "Offset";
        if (register.Count > 0)
        {
            yield return register.Name + "Count";
            yield return register.Name + "Stride";
            yield return register.Name + "OffsetOf";
        }
    }
}
