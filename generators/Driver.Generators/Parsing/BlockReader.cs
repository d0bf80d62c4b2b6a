using System.Collections.Generic;
using Driver.Generators.Model;

namespace Driver.Generators.Parsing;

/// <summary>
/// Reads the register lines of one block. Offsets are checked against the register layouts'
/// widths later, once every file of the namespace is known.
/// </summary>
internal sealed class BlockReader : IDeclarationReader
{
    private readonly string _name;
    private readonly ulong _size;
    private readonly string? _doc;
    private readonly SourceSpan _nameSpan;
    private readonly bool _valid;
    private readonly List<RegisterDecl> _registers = new List<RegisterDecl>();
    private readonly HashSet<string> _taken;

    public BlockReader(string name, ulong size, string? doc, SourceSpan nameSpan, bool valid)
    {
        _name = name;
        _size = size;
        _doc = doc;
        _nameSpan = nameSpan;
        _valid = valid && size > 0;
        // Register members end in Offset, Count, Stride or OffsetOf, so besides each other they can
        // only meet the class's own name (block BOffset with register B), never Size or object's members.
        _taken = new HashSet<string> { name };
    }

    public void ParseLine(HwdefParser parser, List<Token> tokens, string? doc, string line)
    {
        Token offsetToken = tokens[0];
        if (tokens.Count != 3 && tokens.Count != 4)
        {
            parser.Error(DiagnosticIds.Syntax, "Expected 'OFFSET NAME LAYOUT' or 'OFFSET NAME LAYOUT[COUNT] STRIDE'", offsetToken.Column, line.Length - offsetToken.Column);
            return;
        }

        if (!HwdefNumber.TryParse(offsetToken.Text, out ulong offset))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + offsetToken.Text + "' is not a number", offsetToken.Column, offsetToken.Text.Length);
            return;
        }

        Token nameToken = tokens[1];
        if (!Lexical.IsIdentifier(nameToken.Text))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + nameToken.Text + "' is not a register name", nameToken.Column, nameToken.Text.Length);
            return;
        }

        Token layoutToken = tokens[2];
        string layoutName = layoutToken.Text;
        int count = 0;
        ulong stride = 0;
        int bracket = layoutName.IndexOf('[');
        if (bracket >= 0)
        {
            if (!layoutName.EndsWith("]", System.StringComparison.Ordinal)
                || !HwdefNumber.TryParse(layoutName.Substring(bracket + 1, layoutName.Length - bracket - 2), out ulong parsedCount))
            {
                parser.Error(DiagnosticIds.Syntax, "Expected 'LAYOUT[COUNT]', got '" + layoutName + "'", layoutToken.Column, layoutToken.Text.Length);
                return;
            }

            if (tokens.Count != 4 || !HwdefNumber.TryParse(tokens[3].Text, out stride))
            {
                Token at = tokens.Count == 4 ? tokens[3] : layoutToken;
                parser.Error(DiagnosticIds.Syntax, "A register array needs a STRIDE number after 'LAYOUT[COUNT]'", at.Column, at.Text.Length);
                return;
            }

            if (parsedCount == 0 || parsedCount > 4096)
            {
                parser.Error(DiagnosticIds.Block, "A register array needs a count of 1 to 4096, not " + parsedCount, layoutToken.Column, layoutToken.Text.Length);
                return;
            }

            count = (int)parsedCount;
            layoutName = layoutName.Substring(0, bracket);
        }
        else if (tokens.Count == 4)
        {
            parser.Error(DiagnosticIds.Syntax, "Only a register array 'LAYOUT[COUNT]' takes a stride", tokens[3].Column, tokens[3].Text.Length);
            return;
        }

        if (!Lexical.IsIdentifier(layoutName))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + layoutName + "' is not a layout name", layoutToken.Column, layoutToken.Text.Length);
            return;
        }

        var register = new RegisterDecl(
            nameToken.Text,
            offset,
            layoutName,
            count,
            stride,
            doc,
            parser.Span(offsetToken.Column, line.Length - offsetToken.Column),
            parser.Span(layoutToken.Column, layoutToken.Text.Length));
        foreach (string member in GeneratedMembers.ForRegister(register))
        {
            if (_taken.Contains(member))
            {
                parser.Error(DiagnosticIds.Duplicate, "Block '" + _name + "' already has a register or member named like '" + nameToken.Text + "'", nameToken.Column, nameToken.Text.Length);
                return;
            }
        }

        _taken.UnionWith(GeneratedMembers.ForRegister(register));
        _registers.Add(register);
    }

    public void SkipUnreadableLine()
    {
    }

    public void Finish(HwdefParser parser, int errorsBefore)
    {
        bool hasErrors = !_valid || parser.ErrorCount != errorsBefore;
        parser.AddBlock(new BlockDecl(_name, _size, _doc, _nameSpan, _registers.ToEquatableArray(), hasErrors));
    }
}
