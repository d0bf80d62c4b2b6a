using System.Collections.Generic;

namespace Driver.Generators.Parsing;

/// <summary>Reads the member lines of one open declaration (layout, enum or block) until its 'end'.</summary>
internal interface IDeclarationReader
{
    void ParseLine(HwdefParser parser, List<Token> tokens, string? doc, string line);

    /// <summary>A member line that could not even be split into words (already reported).</summary>
    void SkipUnreadableLine();

    /// <summary>Checks the whole declaration and hands it to the parser; errorsBefore tells whether its lines had errors.</summary>
    void Finish(HwdefParser parser, int errorsBefore);
}
