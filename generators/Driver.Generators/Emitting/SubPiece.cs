using System.Collections.Generic;
using Driver.Generators.Model;

namespace Driver.Generators.Emitting;

/// <summary>
/// The part of a field that lies in one 64-bit word: Width bits starting at bit Low of word
/// Word, holding bits ValueOffset and up of the field's value.
/// </summary>
internal readonly record struct SubPiece(int Word, int Low, int Width, int ValueOffset)
{
    public ulong MaskInWord => WidthMask(Width) << Low;

    public static ulong WidthMask(int width) => width >= 64 ? ulong.MaxValue : (1UL << width) - 1;

    /// <summary>Splits a field's pieces at word boundaries, least significant piece of the value first.</summary>
    public static List<SubPiece> Of(FieldDecl field)
    {
        var result = new List<SubPiece>();
        int valueOffset = 0;
        foreach (BitRange piece in field.Pieces)
        {
            int bit = piece.Low;
            while (bit <= piece.High)
            {
                int word = bit / 64;
                int last = System.Math.Min(piece.High, (word * 64) + 63);
                int width = last - bit + 1;
                result.Add(new SubPiece(word, bit % 64, width, valueOffset));
                valueOffset += width;
                bit = last + 1;
            }
        }

        return result;
    }
}
