using System.Collections.Generic;
using System.Linq;
using System.Text;
using Driver.Generators.Model;

namespace Driver.Generators.Parsing;

/// <summary>Reads the lines of one 'layout' block: fields, reserved lines and reset.</summary>
internal sealed class LayoutReader : IDeclarationReader
{
    private readonly string _name;
    private readonly int _bits;
    private readonly string? _doc;
    private readonly SourceSpan _nameSpan;
    private readonly bool _valid;
    private readonly List<FieldDecl> _fields = new List<FieldDecl>();
    private readonly List<ReservedDecl> _reserved = new List<ReservedDecl>();

    // Which line covers each bit, to name the earlier owner in an overlap (0 = uncovered).
    private readonly int[] _owner;
    private readonly List<string> _ownerNames = new List<string> { string.Empty };
    private ulong? _reset;

    // Every field line with a readable name, in order, for the generated-name checks.
    private readonly List<(string Name, bool OnePiece, SourceSpan Span)> _named = new List<(string Name, bool OnePiece, SourceSpan Span)>();

    // Set when a line's bits could not be marked, so that uncovered bits would be a guess.
    private bool _coverageUnknown;

    public LayoutReader(string name, int bits, string? doc, SourceSpan nameSpan, bool valid)
    {
        _name = name;
        _bits = bits;
        _doc = doc;
        _nameSpan = nameSpan;
        _valid = valid && bits > 0;
        _owner = new int[bits];
    }

    public void ParseLine(HwdefParser parser, List<Token> tokens, string? doc, string line)
    {
        if (tokens[0].Text == "reset")
        {
            ParseReset(parser, tokens);
            return;
        }

        // Coverage can only be judged when every line's bits are known.
        if (!ParseRangeLine(parser, tokens, doc, line))
        {
            _coverageUnknown = true;
        }
    }

    public void SkipUnreadableLine() => _coverageUnknown = true;

    /// <summary>Reads a field or reserved line; true when its bits were marked as covered.</summary>
    private bool ParseRangeLine(HwdefParser parser, List<Token> tokens, string? doc, string line)
    {
        Token first = tokens[0];
        var pieces = new List<BitRange>();
        if (!Lexical.TryParseRange(first.Text, pieces, out string rangeError))
        {
            parser.Error(DiagnosticIds.Syntax, rangeError, first.Column, first.Text.Length);
            return false;
        }

        if (tokens.Count == 2 && IsReservedWord(tokens[1].Text))
        {
            if (!CheckAndCover(parser, pieces, first, tokens[1].Text))
            {
                return false;
            }

            _reserved.Add(new ReservedDecl(ReservedKindOf(tokens[1].Text), pieces.ToEquatableArray(), doc));
            return true;
        }

        if (tokens.Count < 3 || tokens.Count > 4)
        {
            parser.Error(DiagnosticIds.Syntax, "Expected 'RANGE NAME TYPE [ACCESS]' or 'RANGE res0|res1|ign'", first.Column, line.Length - first.Column);
            return false;
        }

        Token nameToken = tokens[1];
        Token typeToken = tokens[2];
        if (!Lexical.IsIdentifier(nameToken.Text) || IsReservedWord(nameToken.Text))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + nameToken.Text + "' is not a field name", nameToken.Column, nameToken.Text.Length);
            return false;
        }

        // From here on the line is a field: each of its problems is reported, none hides another,
        // and it keeps its name and type so that the checks of other lines and files see it.
        FieldAccess access = FieldAccess.ReadWrite;
        if (tokens.Count == 4 && !TryParseAccess(tokens[3].Text, out access))
        {
            parser.Error(DiagnosticIds.Syntax, "'" + tokens[3].Text + "' is not an access mode (rw, ro, wo, w1c)", tokens[3].Column, tokens[3].Text.Length);
        }

        SourceSpan nameSpan = parser.Span(nameToken.Column, nameToken.Text.Length);
        _named.Add((nameToken.Text, pieces.Count == 1, nameSpan));
        bool covered = CheckAndCover(parser, pieces, first, nameToken.Text);
        bool widthKnown = pieces.All(p => p.High >= p.Low);
        FieldDecl? field = ParseType(parser, nameToken, typeToken, pieces, access, doc, nameSpan, widthKnown);
        if (field != null)
        {
            _fields.Add(field);
        }

        return covered;
    }

    private void ParseReset(HwdefParser parser, List<Token> tokens)
    {
        Token keyword = tokens[0];
        if (tokens.Count != 2 || !HwdefNumber.TryParse(tokens[1].Text, out ulong value))
        {
            int column = tokens.Count > 1 ? tokens[1].Column : keyword.Column;
            parser.Error(DiagnosticIds.Syntax, "Expected 'reset NUMBER'", column, tokens[tokens.Count - 1].Column + tokens[tokens.Count - 1].Text.Length - column);
            return;
        }

        Token valueToken = tokens[1];
        if (_reset.HasValue)
        {
            parser.Error(DiagnosticIds.Duplicate, "'" + _name + "' already has a reset value", keyword.Column, valueToken.Column + valueToken.Text.Length - keyword.Column);
            return;
        }

        if (_bits > 64)
        {
            parser.Error(DiagnosticIds.ValueTooWide, "A reset value is only for layouts of 64 bits or less; '" + _name + "' has " + _bits, valueToken.Column, valueToken.Text.Length);
            return;
        }

        if (_bits > 0 && _bits < 64 && (value >> _bits) != 0)
        {
            parser.Error(DiagnosticIds.ValueTooWide, "Reset value " + valueToken.Text + " does not fit in " + _bits + " bits", valueToken.Column, valueToken.Text.Length);
            return;
        }

        _reset = value;
    }

    private static bool IsReservedWord(string word) => word == "res0" || word == "res1" || word == "ign";

    private static ReservedKind ReservedKindOf(string word) =>
        word == "res0" ? ReservedKind.Res0 : word == "res1" ? ReservedKind.Res1 : ReservedKind.Ignored;

    private static bool TryParseAccess(string word, out FieldAccess access)
    {
        switch (word)
        {
            case "rw":
                access = FieldAccess.ReadWrite;
                return true;
            case "ro":
                access = FieldAccess.ReadOnly;
                return true;
            case "wo":
                access = FieldAccess.WriteOnly;
                return true;
            case "w1c":
                access = FieldAccess.WriteOneToClear;
                return true;
            default:
                access = FieldAccess.ReadWrite;
                return false;
        }
    }

    /// <summary>Checks the pieces against the layout and marks their bits; false when a piece is unusable.</summary>
    private bool CheckAndCover(HwdefParser parser, List<BitRange> pieces, Token rangeToken, string owner)
    {
        foreach (BitRange piece in pieces)
        {
            if (piece.High < piece.Low)
            {
                parser.Error(DiagnosticIds.BitOutside, "Range " + piece + " has its high bit below its low bit", rangeToken.Column, rangeToken.Text.Length);
                return false;
            }

            if (_bits > 0 && piece.High >= _bits)
            {
                parser.Error(DiagnosticIds.BitOutside, "Bit " + piece.High + " is outside the " + _bits + "-bit layout '" + _name + "'", rangeToken.Column, rangeToken.Text.Length);
                return false;
            }
        }

        if (_bits == 0)
        {
            // The layout's width is already reported as wrong; coverage cannot be checked.
            return true;
        }

        // A field whose pieces overlap each other is an overlap too.
        var mine = new HashSet<int>();
        foreach (BitRange piece in pieces)
        {
            for (int bit = piece.Low; bit <= piece.High; bit++)
            {
                int earlier = _owner[bit];
                if (earlier != 0 || !mine.Add(bit))
                {
                    string earlierName = earlier != 0 ? _ownerNames[earlier] : owner;
                    parser.Error(DiagnosticIds.Overlap, "Bit " + bit + " of '" + owner + "' is already covered by '" + earlierName + "'", rangeToken.Column, rangeToken.Text.Length);
                    return false;
                }
            }
        }

        _ownerNames.Add(owner);
        int ownerIndex = _ownerNames.Count - 1;
        foreach (int bit in mine)
        {
            _owner[bit] = ownerIndex;
        }

        return true;
    }

    /// <summary>The field as its type reads; null when the type is unusable. Width checks need a known width (no H &lt; L piece).</summary>
    private static FieldDecl? ParseType(HwdefParser parser, Token nameToken, Token typeToken, List<BitRange> pieces, FieldAccess access, string? doc, SourceSpan nameSpan, bool widthKnown)
    {
        string type = typeToken.Text;
        SourceSpan typeSpan = parser.Span(typeToken.Column, typeToken.Text.Length);
        int width = 0;
        foreach (BitRange piece in pieces)
        {
            width += piece.Width;
        }

        if (type == "bool")
        {
            if (widthKnown && width != 1)
            {
                parser.ErrorAt(DiagnosticIds.TypeMismatch, "'" + nameToken.Text + "' is " + width + " bits wide; bool needs exactly one bit", typeSpan);
                return null;
            }

            return new FieldDecl(nameToken.Text, pieces.ToEquatableArray(), FieldKind.Bool, null, 0, type, access, doc, nameSpan, typeSpan, widthKnown);
        }

        if (type == "u")
        {
            if (widthKnown && width > 64)
            {
                parser.ErrorAt(DiagnosticIds.TypeMismatch, "'" + nameToken.Text + "' is " + width + " bits wide; u holds at most 64", typeSpan);
                return null;
            }

            return new FieldDecl(nameToken.Text, pieces.ToEquatableArray(), FieldKind.Unsigned, null, 0, type, access, doc, nameSpan, typeSpan, widthKnown);
        }

        if (type == "addr" || type.StartsWith("addr@", System.StringComparison.Ordinal))
        {
            int shift;
            if (type == "addr")
            {
                if (pieces.Count != 1)
                {
                    parser.ErrorAt(DiagnosticIds.TypeMismatch, "'" + nameToken.Text + "' has several pieces; use addr@N to say which address bit the first piece holds", typeSpan);
                    return null;
                }

                shift = pieces[0].Low;
            }
            else
            {
                string shiftText = type.Substring(5);
                if (!HwdefNumber.TryParse(shiftText, out ulong parsedShift))
                {
                    parser.ErrorAt(DiagnosticIds.Syntax, "'" + shiftText + "' in '" + type + "' is not a number", typeSpan);
                    return null;
                }

                shift = parsedShift > 64 ? 65 : (int)parsedShift;
            }

            if (widthKnown && shift + width > 64)
            {
                parser.ErrorAt(DiagnosticIds.TypeMismatch, "'" + nameToken.Text + "' would hold address bits " + (shift + width - 1) + ":" + shift + "; an address has 64 bits", typeSpan);
                return null;
            }

            return new FieldDecl(nameToken.Text, pieces.ToEquatableArray(), FieldKind.Address, null, shift, type, access, doc, nameSpan, typeSpan, widthKnown);
        }

        if (!Lexical.IsIdentifier(type))
        {
            parser.ErrorAt(DiagnosticIds.UnknownType, "'" + type + "' is not a type (bool, u, addr, addr@N or an enum name)", typeSpan);
            return null;
        }

        // An enum: resolved against every hwdef file of the namespace later.
        return new FieldDecl(nameToken.Text, pieces.ToEquatableArray(), FieldKind.Enum, type, 0, type, access, doc, nameSpan, typeSpan, widthKnown);
    }

    public void Finish(HwdefParser parser, int errorsBefore)
    {
        CheckGeneratedNames(parser);
        if (_bits > 0 && !_coverageUnknown)
        {
            string uncovered = DescribeUncovered();
            if (uncovered.Length > 0)
            {
                parser.WarningAt(DiagnosticIds.Uncovered, "Bits " + uncovered + " of '" + _name + "' are covered by no line", _nameSpan);
            }
        }

        bool hasErrors = !_valid || parser.ErrorCount != errorsBefore;
        parser.AddLayout(new LayoutDecl(_name, _bits, _doc, _nameSpan, _fields.ToEquatableArray(), _reserved.ToEquatableArray(), _reset, hasErrors));
    }

    /// <summary>Every C# member a field generates must be unique in the struct, whatever else is wrong with the field.</summary>
    private void CheckGeneratedNames(HwdefParser parser)
    {
        // Each taken name with what took it, for the message.
        var taken = new Dictionary<string, string> { [_name] = "the layout's own name" };
        foreach (string member in GeneratedMembers.LayoutMembers)
        {
            taken[member] = "a member every layout has";
        }

        foreach ((string name, bool onePiece, SourceSpan span) in _named)
        {
            string? clash = GeneratedMembers.ForField(name, onePiece).FirstOrDefault(taken.ContainsKey);
            if (clash == null)
            {
                foreach (string member in GeneratedMembers.ForField(name, onePiece))
                {
                    taken[member] = "field '" + name + "'";
                }

                continue;
            }

            string message = clash == name
                ? "Field name '" + name + "' is already used by " + taken[clash] + " in '" + _name + "'"
                : "Field '" + name + "' would generate '" + clash + "', already used by " + taken[clash] + " in '" + _name + "'";
            parser.ErrorAt(DiagnosticIds.Duplicate, message, span);
        }
    }

    private string DescribeUncovered()
    {
        var text = new StringBuilder();
        int bit = 0;
        while (bit < _bits)
        {
            if (_owner[bit] != 0)
            {
                bit++;
                continue;
            }

            int low = bit;
            while (bit < _bits && _owner[bit] == 0)
            {
                bit++;
            }

            if (text.Length > 0)
            {
                text.Append(", ");
            }

            text.Append(new BitRange(bit - 1, low).ToString());
        }

        return text.ToString();
    }
}
