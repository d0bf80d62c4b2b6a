using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Driver.Generators.Model;
using Microsoft.CodeAnalysis.Text;

namespace Driver.Generators.Parsing;

/// <summary>
/// Reads one hwdef file line by line into a <see cref="ParsedFile"/>. Everything that can be
/// checked without looking at other files is checked here; a bad line is reported and skipped
/// so that the rest of the file is still checked.
/// </summary>
internal sealed class HwdefParser
{
    private readonly string _path;
    private readonly string _projectPath;
    private readonly SourceText _text;
    private readonly List<DiagnosticInfo> _diagnostics = new List<DiagnosticInfo>();
    private readonly List<EnumDecl> _enums = new List<EnumDecl>();
    private readonly List<LayoutDecl> _layouts = new List<LayoutDecl>();
    private readonly List<BlockDecl> _blocks = new List<BlockDecl>();
    private string? _namespace;
    private bool _namespaceStated;
    private bool _declarationSeen;
    private OpenDeclaration? _open;
    private int _errorCount;
    private int _lineIndex;
    private int _lineStart;

    private HwdefParser(string path, string projectPath, SourceText text)
    {
        _path = path;
        _projectPath = projectPath;
        _text = text;
    }

    /// <summary>Diagnostics are located at <paramref name="path"/>; names and order come from <paramref name="projectPath"/>.</summary>
    public static ParsedFile Parse(string path, string projectPath, SourceText text, CancellationToken cancellationToken = default)
    {
        var parser = new HwdefParser(path, projectPath, text);
        return parser.Run(cancellationToken);
    }

    private ParsedFile Run(CancellationToken cancellationToken)
    {
        foreach (TextLine line in _text.Lines)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _lineIndex = line.LineNumber;
            _lineStart = line.Start;
            ParseLine(_text.ToString(line.Span));
        }

        if (_open != null)
        {
            ReportMissingEnd();
            Close();
        }

        if (!_namespaceStated)
        {
            int length = _text.Lines.Count > 0 ? _text.Lines[0].Span.Length : 0;
            _diagnostics.Add(new DiagnosticInfo(
                DiagnosticIds.Structure,
                "The file has no 'namespace' statement; it must come first",
                _path,
                new SourceSpan(0, 0, 0, length)));
        }

        return new ParsedFile(
            _path,
            _projectPath,
            HintNames.For(_projectPath),
            _namespace,
            _enums.ToEquatableArray(),
            _layouts.ToEquatableArray(),
            _blocks.ToEquatableArray(),
            _diagnostics.ToEquatableArray());
    }

    private void ParseLine(string line)
    {
        List<Token> tokens = LineLexer.Tokenize(line, out int unterminated);
        if (unterminated >= 0)
        {
            Error(DiagnosticIds.Syntax, "Unterminated string", unterminated, line.Length - unterminated);
            _open?.SkipUnreadableLine();
            return;
        }

        if (tokens.Count == 0)
        {
            return;
        }

        string? doc = null;
        if (tokens[tokens.Count - 1].IsString)
        {
            doc = tokens[tokens.Count - 1].Text;
            tokens.RemoveAt(tokens.Count - 1);
        }

        // A misplaced string is reported and dropped; the statement itself is still read.
        foreach (Token token in tokens.Where(t => t.IsString).ToList())
        {
            Error(DiagnosticIds.Syntax, "A documentation string must be the last thing on its line", token.Column, token.Text.Length + 2);
            tokens.Remove(token);
        }

        if (tokens.Count == 0)
        {
            Error(DiagnosticIds.Syntax, "A documentation string without a statement", 0, line.Length);
            return;
        }

        if (_open != null)
        {
            if (IsTopLevelKeyword(tokens[0].Text))
            {
                ReportMissingEnd();
                Close();
            }
            else if (tokens[0].Text == "end")
            {
                if (tokens.Count > 1 || doc != null)
                {
                    Error(DiagnosticIds.Syntax, "'end' takes nothing after it", tokens[0].Column, line.Length - tokens[0].Column);
                }

                Close();
                return;
            }
            else
            {
                _open.ParseMember(this, tokens, doc, line);
                return;
            }
        }

        ParseTopLevel(tokens, doc, line);
    }

    private static bool IsTopLevelKeyword(string word) =>
        word == "namespace" || word == "enum" || word == "layout" || word == "block";

    private void ParseTopLevel(List<Token> tokens, string? doc, string line)
    {
        Token first = tokens[0];
        switch (first.Text)
        {
            case "namespace":
                ParseNamespace(tokens);
                return;
            case "enum":
            case "layout":
            case "block":
                ParseHeader(tokens, doc, line);
                return;
            case "end":
                Error(DiagnosticIds.Syntax, "'end' without an open enum, layout or block", first.Column, 3);
                return;
            default:
                Error(DiagnosticIds.Syntax, "'" + first.Text + "' does not start a statement (namespace, enum, layout or block)", first.Column, first.Text.Length);
                return;
        }
    }

    private void ParseNamespace(List<Token> tokens)
    {
        Token keyword = tokens[0];
        if (tokens.Count != 2 || !Lexical.IsDottedName(tokens[1].Text))
        {
            // Counted as stated, so that the file is not also reported as having no namespace.
            _namespaceStated = true;
            Error(DiagnosticIds.Syntax, "Expected 'namespace Dotted.Name'", keyword.Column, TokenEnd(tokens) - keyword.Column);
            return;
        }

        if (_namespaceStated)
        {
            Error(DiagnosticIds.Structure, "The namespace is stated more than once", keyword.Column, TokenEnd(tokens) - keyword.Column);
            return;
        }

        _namespaceStated = true;
        _namespace = tokens[1].Text;
        if (_declarationSeen)
        {
            Error(DiagnosticIds.Structure, "The namespace must come before anything else", keyword.Column, TokenEnd(tokens) - keyword.Column);
        }
    }

    private void ParseHeader(List<Token> tokens, string? doc, string line)
    {
        Token keyword = tokens[0];
        _declarationSeen = true;
        int errorsBefore = _errorCount;

        // "NAME : BITS" with or without blanks around the colon.
        string joined = string.Empty;
        for (int i = 1; i < tokens.Count; i++)
        {
            joined += tokens[i].Text;
        }

        string[] parts = joined.Split(':');
        int nameColumn = tokens.Count > 1 ? tokens[1].Column : keyword.Column;
        SourceSpan nameSpan = Span(nameColumn, parts[0].Length);
        if (parts.Length != 2 || !Lexical.IsIdentifier(parts[0]))
        {
            Error(DiagnosticIds.Syntax, "Expected '" + keyword.Text + " NAME : " + (keyword.Text == "block" ? "SIZE" : "BITS") + "'", keyword.Column, line.Length - keyword.Column);

            // The name is kept when it can be read, so that the lines using it do not also fail.
            string name = tokens.Count > 1 ? tokens[1].Text.Split(':')[0] : string.Empty;
            bool named = Lexical.IsIdentifier(name);
            SourceSpan span = named ? Span(nameColumn, name.Length) : Span(keyword.Column, keyword.Text.Length);
            _open = new OpenDeclaration(keyword.Text, named ? name : string.Empty, 0, doc, span, errorsBefore, false);
            return;
        }

        Token last = tokens[tokens.Count - 1];
        if (!HwdefNumber.TryParse(parts[1], out ulong size))
        {
            Error(DiagnosticIds.Syntax, "'" + parts[1] + "' is not a number", last.Column, last.Text.Length);
            _open = new OpenDeclaration(keyword.Text, parts[0], 0, doc, nameSpan, errorsBefore, false);
            return;
        }

        bool sizeValid = true;
        if (keyword.Text == "layout" && !IsSupportedLayoutWidth(size))
        {
            Error(DiagnosticIds.BitOutside, "Layout width " + size + " is not supported: use 8, 16, 32, 64 or a multiple of 32 from 96 up to 1024", last.Column, last.Text.Length);
            sizeValid = false;
        }
        else if (keyword.Text == "enum" && (size < 1 || size > 64))
        {
            Error(DiagnosticIds.BitOutside, "Enum width " + size + " is not supported: use 1 to 64 bits", last.Column, last.Text.Length);
            sizeValid = false;
        }
        else if (keyword.Text == "block" && size == 0)
        {
            Error(DiagnosticIds.Block, "A block must have a size of at least one byte", last.Column, last.Text.Length);
            sizeValid = false;
        }

        _open = new OpenDeclaration(keyword.Text, parts[0], size, doc, nameSpan, errorsBefore, sizeValid);
    }

    private static bool IsSupportedLayoutWidth(ulong bits) =>
        bits == 8 || bits == 16 || bits == 32 || bits == 64 || (bits >= 96 && bits <= 1024 && bits % 32 == 0);

    private void ReportMissingEnd()
    {
        OpenDeclaration open = _open!;
        _diagnostics.Add(new DiagnosticInfo(
            DiagnosticIds.Structure,
            "'" + open.Keyword + " " + open.Name + "' has no 'end'",
            _path,
            open.NameSpan));
        _errorCount++;
    }

    private void Close()
    {
        OpenDeclaration open = _open!;
        _open = null;
        open.Finish(this);
    }

    private static int TokenEnd(List<Token> tokens)
    {
        Token last = tokens[tokens.Count - 1];
        return last.Column + last.Text.Length;
    }

    internal SourceSpan Span(int column, int length) =>
        new SourceSpan(_lineIndex, column, _lineStart + column, length < 0 ? 0 : length);

    internal void Error(string id, string message, int column, int length)
    {
        _diagnostics.Add(new DiagnosticInfo(id, message, _path, Span(column, length)));
        _errorCount++;
    }

    internal void ErrorAt(string id, string message, SourceSpan span)
    {
        _diagnostics.Add(new DiagnosticInfo(id, message, _path, span));
        _errorCount++;
    }

    internal void WarningAt(string id, string message, SourceSpan span) =>
        _diagnostics.Add(new DiagnosticInfo(id, message, _path, span));

    internal int ErrorCount => _errorCount;

    internal void AddEnum(EnumDecl declaration) => _enums.Add(declaration);

    internal void AddLayout(LayoutDecl declaration) => _layouts.Add(declaration);

    internal void AddBlock(BlockDecl declaration) => _blocks.Add(declaration);

    /// <summary>The declaration whose lines are being read, until its 'end'.</summary>
    private sealed class OpenDeclaration
    {
        private readonly IDeclarationReader _reader;
        private readonly int _errorsBefore;

        public OpenDeclaration(string keyword, string name, ulong size, string? doc, SourceSpan nameSpan, int errorsBefore, bool sizeValid)
        {
            Keyword = keyword;
            Name = name;
            NameSpan = nameSpan;
            _errorsBefore = errorsBefore;
            bool valid = name.Length > 0;
            ulong width = sizeValid ? size : 0;
            _reader = keyword switch
            {
                "layout" => new LayoutReader(name, (int)width, doc, nameSpan, valid),
                "enum" => new EnumReader(name, (int)width, doc, nameSpan, valid),
                _ => new BlockReader(name, width, doc, nameSpan, valid),
            };
        }

        public string Keyword { get; }

        public string Name { get; }

        public SourceSpan NameSpan { get; }

        public void ParseMember(HwdefParser parser, List<Token> tokens, string? doc, string line) =>
            _reader.ParseLine(parser, tokens, doc, line);

        public void SkipUnreadableLine() => _reader.SkipUnreadableLine();

        public void Finish(HwdefParser parser) => _reader.Finish(parser, _errorsBefore);
    }
}
