using System.Collections.Generic;
using Driver.Generators.Model;

namespace Driver.Generators.Parsing;

/// <summary>Reads the 'VALUE MEMBER' lines of one enum.</summary>
internal sealed class EnumReader : IDeclarationReader
{
    private readonly string _name;
    private readonly int _bits;
    private readonly string? _doc;
    private readonly SourceSpan _nameSpan;
    private readonly bool _valid;
    private readonly List<EnumMemberDecl> _members = new List<EnumMemberDecl>();
    private readonly HashSet<string> _names = new HashSet<string>();

    public EnumReader(string name, int bits, string? doc, SourceSpan nameSpan, bool valid)
    {
        _name = name;
        _bits = bits;
        _doc = doc;
        _nameSpan = nameSpan;
        _valid = valid && bits > 0;
    }

    public void ParseLine(HwdefParser parser, List<Token> tokens, string? doc, string line)
    {
        Token valueToken = tokens[0];
        if (tokens.Count != 2)
        {
            parser.Error(DiagnosticIds.Syntax, "Expected 'VALUE MEMBER' inside enum '" + _name + "'", valueToken.Column, line.Length - valueToken.Column);
            return;
        }

        Token nameToken = tokens[1];
        if (!HwdefNumber.TryParse(valueToken.Text, out ulong value))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + valueToken.Text + "' is not a number", valueToken.Column, valueToken.Text.Length);
            return;
        }

        if (!Lexical.IsIdentifier(nameToken.Text))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + nameToken.Text + "' is not a member name", nameToken.Column, nameToken.Text.Length);
            return;
        }

        // A member whose value does not fit still takes its name, so that a duplicate is still found.
        bool fits = !(_bits > 0 && _bits < 64 && (value >> _bits) != 0);
        if (!fits)
        {
            parser.Error(DiagnosticIds.ValueTooWide, "Value " + valueToken.Text + " of '" + nameToken.Text + "' does not fit the " + _bits + "-bit enum '" + _name + "'", valueToken.Column, valueToken.Text.Length);
        }

        // C# forbids a member named like its enum, and value__ is the enum's own storage.
        if (!_names.Add(nameToken.Text) || nameToken.Text == _name || nameToken.Text == "value__")
        {
            parser.Error(DiagnosticIds.Duplicate, "Enum '" + _name + "' already has a member named '" + nameToken.Text + "'", nameToken.Column, nameToken.Text.Length);
            return;
        }

        if (fits)
        {
            _members.Add(new EnumMemberDecl(nameToken.Text, value, doc));
        }
    }

    public void SkipUnreadableLine()
    {
    }

    public void Finish(HwdefParser parser, int errorsBefore)
    {
        bool hasErrors = !_valid || parser.ErrorCount != errorsBefore;
        parser.AddEnum(new EnumDecl(_name, _bits, _doc, _nameSpan, _members.ToEquatableArray(), hasErrors));
    }
}
