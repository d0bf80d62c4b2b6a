using System.Text;

namespace Driver.Generators.Emitting;

/// <summary>A StringBuilder that keeps the indentation of generated C#.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _text = new StringBuilder();
    private int _depth;

    public CodeWriter Line(string line = "")
    {
        if (line.Length > 0)
        {
            _text.Append(' ', _depth * 4);
        }

        _text.Append(line).Append('\n');
        return this;
    }

    public CodeWriter Open(string line)
    {
        Line(line);
        Line("{");
        _depth++;
        return this;
    }

    public CodeWriter Close(string suffix = "")
    {
        _depth--;
        Line("}" + suffix);
        return this;
    }

    public CodeWriter Summary(string? doc)
    {
        if (doc != null && doc.Length > 0)
        {
            Line("/// <summary>" + Escape.Xml(doc) + "</summary>");
        }

        return this;
    }

    public override string ToString() => _text.ToString();
}
