using System.CommandLine;
using Hwdef.Runtime;

namespace Driver.Cli.Commands;

/// <summary>`driver decode LAYOUT WORD...`: the canonical decoding of raw words, word 0 first.</summary>
internal static class DecodeCommand
{
    public static Command Create(TextWriter output)
    {
        var layout = new Argument<string>("layout") { Description = "Layout name, e.g. AmdV1Pte" };
        var words = new Argument<string[]>("words") { Description = "The raw 64-bit words, word 0 (bits 63:0) first", Arity = ArgumentArity.OneOrMore };
        var command = new Command("decode", "Decode raw words with a layout, e.g. `driver decode AmdV1Pte 0x6000000012345001`.") { layout, words };
        command.SetAction(parse =>
        {
            output.WriteLine(Decode(parse.GetRequiredValue(layout), parse.GetRequiredValue(words)));
            return 0;
        });
        return command;
    }

    public static string Decode(string layoutName, IReadOnlyList<string> wordTexts)
    {
        HwdefLayoutInfo layout = LayoutCatalog.Find(layoutName);
        if (wordTexts.Count != layout.WordCount)
        {
            throw new UsageException(layout.Name + " is " + layout.Bits + " bits: it takes " + layout.WordCount + " word" + (layout.WordCount == 1 ? string.Empty : "s") + ", not " + wordTexts.Count);
        }

        var words = new ulong[wordTexts.Count];
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = NumberParser.Parse(wordTexts[i], "word " + i);
            // The bits word i holds: 64, except in the last word of a layout whose width is not a
            // multiple of 64 (8, 16, 32 bits, or 96, 160, ... since uAPI structs are laid out in u32s).
            int bitsInWord = Math.Min(64, layout.Bits - (i * 64));
            if (bitsInWord < 64 && (words[i] >> bitsInWord) != 0)
            {
                throw new UsageException("'" + wordTexts[i] + "' does not fit the " + layout.Bits + "-bit layout " + layout.Name);
            }
        }

        return layout.Decode(words);
    }
}
