using System.Collections.Generic;
using System.Linq;
using Driver.Generators.Model;

namespace Driver.Generators.Emitting;

/// <summary>
/// Emits the readonly struct of one layout (docs/hwdef-format.md, "What the generator emits").
/// Layouts of 64 bits or less keep one word in <c>Raw</c>; wider ones keep 64-bit words, the
/// last one only partly used when the width is an odd multiple of 32. Every layout reads and
/// writes its little-endian bytes, the form a uAPI struct or a firmware buffer has in memory.
/// Every accessor is straight-line mask-and-shift code on constants.
/// </summary>
internal sealed class LayoutEmitter
{
    private readonly LayoutDecl _layout;
    private readonly string _namespace;
    private readonly string _type;
    private readonly bool _wide;
    private readonly int _words;

    public LayoutEmitter(LayoutDecl layout, string ns)
    {
        _layout = layout;
        _namespace = ns;
        _type = Escape.Identifier(layout.Name);
        _wide = layout.Bits > 64;
        _words = _wide ? (layout.Bits + 63) / 64 : 1;
    }

    /// <summary>The C# type of Raw for a layout of 64 bits or less.</summary>
    public static string StorageType(int bits) =>
        bits == 8 ? "byte" : bits == 16 ? "ushort" : bits == 32 ? "uint" : "ulong";

    public static string FieldType(FieldDecl field, string ns)
    {
        switch (field.Kind)
        {
            case FieldKind.Bool:
                return "bool";
            case FieldKind.Address:
                return "ulong";
            case FieldKind.Enum:
                return "global::" + Escape.Namespace(ns) + "." + Escape.Identifier(field.EnumName!);
            default:
                return EnumEmitter.UnderlyingType(field.Width);
        }
    }

    /// <summary>The width of a C# unsigned type by name.</summary>
    public static int TypeBits(string type) =>
        type == "byte" ? 8 : type == "ushort" ? 16 : type == "uint" ? 32 : 64;

    /// <summary>A literal of the storage type: an int literal converts implicitly to byte and ushort constants.</summary>
    private string StorageLiteral(ulong value)
    {
        string storage = StorageType(_layout.Bits);
        string hex = "0x" + value.ToString("X");
        return storage == "ulong" ? hex + "UL" : storage == "uint" ? hex + "U" : hex;
    }

    private ulong LayoutMask => _layout.Bits >= 64 ? ulong.MaxValue : (1UL << _layout.Bits) - 1;

    /// <summary>The bits of word <paramref name="word"/> that lie inside the layout.</summary>
    private ulong WordMask(int word)
    {
        int bits = _layout.Bits - (word * 64);
        return bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;
    }

    private string Word(int index) => _wide ? "__w" + index : StorageType(_layout.Bits) == "ulong" ? "Raw" : "((ulong)Raw)";

    private string Word(string owner, int index) =>
        _wide ? owner + ".__w" + index : StorageType(_layout.Bits) == "ulong" ? owner + ".Raw" : "((ulong)" + owner + ".Raw)";

    public void Emit(CodeWriter w)
    {
        w.Summary(_layout.Doc);
        w.Open("public readonly partial struct " + _type + " : global::System.IEquatable<" + _type + ">");
        w.Line("/// <summary>The width of the layout in bits.</summary>");
        w.Line("public const int Bits = " + _layout.Bits + ";");
        if (_wide)
        {
            EmitWideStorage(w);
        }
        else
        {
            EmitNarrowStorage(w);
        }

        foreach (FieldDecl field in _layout.Fields)
        {
            EmitField(w, field);
        }

        EmitBytes(w);
        EmitApplyWrite(w);
        EmitEquality(w);
        EmitToString(w);
        w.Close();
    }

    private ulong ReservedMask(ReservedKind kind, int word)
    {
        ulong mask = 0;
        foreach (ReservedDecl reserved in _layout.Reserved.Where(r => r.Kind == kind))
        {
            foreach (BitRange piece in reserved.Pieces)
            {
                mask |= MaskInWord(piece, word);
            }
        }

        return mask;
    }

    private static ulong MaskInWord(BitRange piece, int word)
    {
        ulong mask = 0;
        for (int bit = piece.Low; bit <= piece.High; bit++)
        {
            if (bit / 64 == word)
            {
                mask |= 1UL << (bit % 64);
            }
        }

        return mask;
    }

    private static ulong FieldMaskInWord(FieldDecl field, int word)
    {
        ulong mask = 0;
        foreach (SubPiece sub in SubPiece.Of(field).Where(s => s.Word == word))
        {
            mask |= sub.MaskInWord;
        }

        return mask;
    }

    private void EmitNarrowStorage(CodeWriter w)
    {
        string storage = StorageType(_layout.Bits);
        w.Line();
        w.Line("/// <summary>The raw value.</summary>");
        w.Line("public " + storage + " Raw { get; }");
        w.Line();
        w.Line("/// <summary>Wraps a raw value.</summary>");
        w.Open("public " + _type + "(" + storage + " raw)");
        w.Line("Raw = raw;");
        w.Close();
        w.Line();
        w.Line("/// <summary>The value after reset.</summary>");
        w.Line("public static " + _type + " Reset => new " + _type + "(" + StorageLiteral(_layout.Reset ?? 0) + ");");
        w.Line();
        w.Line("/// <summary>Bits that must be zero.</summary>");
        w.Line("public const " + storage + " Res0Mask = " + StorageLiteral(ReservedMask(ReservedKind.Res0, 0)) + ";");
        w.Line();
        w.Line("/// <summary>Bits that must be one.</summary>");
        w.Line("public const " + storage + " Res1Mask = " + StorageLiteral(ReservedMask(ReservedKind.Res1, 0)) + ";");
        w.Line();
        w.Line("/// <summary>True when every res0 bit is clear and every res1 bit is set.</summary>");
        w.Line("public bool IsValid => (Raw & Res0Mask) == 0 && (Raw & Res1Mask) == Res1Mask;");
    }

    private void EmitWideStorage(CodeWriter w)
    {
        string parameters = string.Join(", ", Enumerable.Range(0, _words).Select(i => "ulong w" + i));
        w.Line();
        w.Line("/// <summary>The number of 64-bit words.</summary>");
        w.Line("public const int Words = " + _words + ";");
        for (int i = 0; i < _words; i++)
        {
            w.Line("private readonly ulong __w" + i + ";");
        }

        w.Line();
        w.Line("/// <summary>Wraps " + _words + " words, word 0 holding bits 63:0" + (_layout.Bits % 64 == 0 ? string.Empty : "; bits past " + (_layout.Bits - 1) + " are dropped") + ".</summary>");
        EmitWordCopy(w, "public " + _type + "(global::System.ReadOnlySpan<ulong> words)", "words.Length != Words", " takes exactly \" + Words + \" words, not \" + words.Length, nameof(words)",
            i => "__w" + i + " = words[" + i + "]" + (WordMask(i) == ulong.MaxValue ? string.Empty : " & " + Escape.Hex(WordMask(i))) + ";");
        w.Line();
        w.Open("private " + _type + "(" + parameters + ")");
        for (int i = 0; i < _words; i++)
        {
            w.Line("__w" + i + " = w" + i + ";");
        }

        w.Close();
        w.Line();
        w.Line("/// <summary>Word <paramref name=\"index\"/> of the value (bits 64*index+63 down to 64*index).</summary>");
        w.Open("public ulong GetWord(int index) => index switch");
        for (int i = 0; i < _words; i++)
        {
            w.Line(i + " => __w" + i + ",");
        }

        w.Line("_ => throw new global::System.ArgumentOutOfRangeException(nameof(index), index, \"" + _layout.Name + " has \" + Words + \" words\"),");
        w.Close(";");
        w.Line();
        w.Line("/// <summary>Copies the words into <paramref name=\"destination\"/>, word 0 first.</summary>");
        EmitWordCopy(w, "public void CopyTo(global::System.Span<ulong> destination)", "destination.Length < Words", " needs room for \" + Words + \" words\", nameof(destination)", i => "destination[" + i + "] = __w" + i + ";");
        w.Line();
        var checks = new List<string>();
        for (int i = 0; i < _words; i++)
        {
            ulong res0 = ReservedMask(ReservedKind.Res0, i);
            ulong res1 = ReservedMask(ReservedKind.Res1, i);
            if (res0 != 0)
            {
                checks.Add("(__w" + i + " & " + Escape.Hex(res0) + ") == 0UL");
            }

            if (res1 != 0)
            {
                checks.Add("(__w" + i + " & " + Escape.Hex(res1) + ") == " + Escape.Hex(res1));
            }
        }

        w.Line("/// <summary>True when every res0 bit is clear and every res1 bit is set.</summary>");
        w.Line("public bool IsValid => " + (checks.Count == 0 ? "true" : string.Join(" && ", checks)) + ";");
    }

    /// <summary>A method that refuses a span of the wrong length with an ArgumentException, then copies word by word.</summary>
    private void EmitWordCopy(CodeWriter w, string signature, string badLength, string messageTail, System.Func<int, string> copy)
    {
        w.Open(signature);
        w.Open("if (" + badLength + ")");
        w.Line("throw new global::System.ArgumentException(\"" + _layout.Name + messageTail + ");");
        w.Close();
        w.Line();
        for (int i = 0; i < _words; i++)
        {
            w.Line(copy(i));
        }

        w.Close();
    }

    private void EmitField(CodeWriter w, FieldDecl field)
    {
        string name = Escape.Identifier(field.Name);
        string type = FieldType(field, _namespace);
        List<SubPiece> subs = SubPiece.Of(field);
        int targetBase = field.Kind == FieldKind.Address ? field.AddressShift : 0;
        w.Line();
        if (field.Pieces.Count == 1 && !_wide)
        {
            BitRange range = field.Pieces[0];
            w.Line("/// <summary>The low bit of " + field.Name + ".</summary>");
            w.Line("public const int " + field.Name + "Shift = " + range.Low + ";");
            w.Line();
            w.Line("/// <summary>The bits of " + field.Name + " in place.</summary>");
            w.Line("public const " + StorageType(_layout.Bits) + " " + field.Name + "Mask = " + StorageLiteral(subs[0].MaskInWord) + ";");
            w.Line();
        }

        w.Summary(field.Doc);
        string value = string.Join(" | ", subs.Select(s => Positioned(Word(s.Word) + " & " + Escape.Hex(s.MaskInWord), (targetBase + s.ValueOffset) - s.Low)));
        switch (field.Kind)
        {
            case FieldKind.Bool:
                w.Line("public bool " + name + " => (" + value + ") != 0UL;");
                break;
            case FieldKind.Address:
                w.Line("public ulong " + name + " => " + value + ";");
                break;
            default:
                w.Line("public " + type + " " + name + " => " + (type == "ulong" ? value : "(" + type + ")(" + value + ")") + ";");
                break;
        }

        EmitWith(w, field, name, type, subs, targetBase);
    }

    /// <summary>Shifts a masked expression left by delta (right when negative).</summary>
    private static string Positioned(string masked, int delta)
    {
        string operand = masked.IndexOf(' ') < 0 ? masked : "(" + masked + ")";
        return delta == 0 ? operand : delta > 0 ? "(" + operand + " << " + delta + ")" : "(" + operand + " >> " + (-delta) + ")";
    }

    private void EmitWith(CodeWriter w, FieldDecl field, string name, string type, List<SubPiece> subs, int targetBase)
    {
        w.Line();
        w.Line("/// <summary>A copy with " + field.Name + " replaced; throws when the value does not fit the field.</summary>");

        // Chained With-calls must fold into plain mask-and-or code; the check's cold throw would otherwise stop inlining.
        w.Line("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]");
        w.Open("public " + _type + " With" + field.Name + "(" + type + " value)");
        if (field.Kind == FieldKind.Bool)
        {
            // Set or clear the bit: a constant argument then folds into a single OR or AND.
            w.Line("return value ? " + Construct(BitUpdate(field, set: true)) + " : " + Construct(BitUpdate(field, set: false)) + ";");
            w.Close();
            return;
        }

        string convert = field.Kind == FieldKind.Enum ? "(ulong)value" : "value";
        w.Line("ulong v = " + convert + ";");
        string? check = RangeCheck(field, type);
        if (check != null)
        {
            w.Open("if (" + check + ")");
            w.Line("throw global::Hwdef.Runtime.HwdefThrow.FieldOutOfRange(\"" + _layout.Name + "." + field.Name + "\", value);");
            w.Close();
            w.Line();
        }

        // One word-piece needs no mask: the check above (or the type) already bounds v.
        bool single = subs.Count == 1;
        var words = new List<string>();
        for (int word = 0; word < _words; word++)
        {
            ulong mask = FieldMaskInWord(field, word);
            if (mask == 0)
            {
                words.Add(Word(word));
                continue;
            }

            IEnumerable<string> terms = subs.Where(s => s.Word == word).Select(s =>
            {
                int target = targetBase + s.ValueOffset;
                string source = single ? "v" : "v & " + Escape.Hex(SubPiece.WidthMask(s.Width) << target);
                return Positioned(source, s.Low - target);
            });
            words.Add("(" + Word(word) + " & ~" + Escape.Hex(mask) + ") | " + string.Join(" | ", terms));
        }

        w.Line("return " + Construct(words) + ";");
        w.Close();
    }

    /// <summary>Every word as is, except the one holding a single-bit field, with that bit set or cleared.</summary>
    private List<string> BitUpdate(FieldDecl field, bool set)
    {
        var words = new List<string>();
        for (int word = 0; word < _words; word++)
        {
            ulong mask = FieldMaskInWord(field, word);
            words.Add(mask == 0 ? Word(word) : set ? Word(word) + " | " + Escape.Hex(mask) : Word(word) + " & ~" + Escape.Hex(mask));
        }

        return words;
    }

    private string Construct(List<string> words)
    {
        if (_wide)
        {
            return "new " + _type + "(" + string.Join(", ", words) + ")";
        }

        string storage = StorageType(_layout.Bits);
        return storage == "ulong" ? "new " + _type + "(" + words[0] + ")" : "new " + _type + "((" + storage + ")(" + words[0] + "))";
    }

    /// <summary>The check a With-method needs on v: none where the parameter's type already bounds it.</summary>
    private static string? RangeCheck(FieldDecl field, string type) =>
        field.Kind == FieldKind.Unsigned && field.Width >= TypeBits(type) ? null : OutOfRange(field);

    /// <summary>The condition under which a ulong v does not fit the field; null when every ulong fits.</summary>
    public static string? OutOfRange(FieldDecl field)
    {
        int width = field.Width;
        if (field.Kind == FieldKind.Address)
        {
            ulong allowed = SubPiece.WidthMask(width) << field.AddressShift;
            return allowed == ulong.MaxValue ? null : "(v & ~" + Escape.Hex(allowed) + ") != 0UL";
        }

        return width >= 64 ? null : "v > " + Escape.Hex(SubPiece.WidthMask(width));
    }

    private void EmitBytes(CodeWriter w)
    {
        int bytes = _layout.Bits / 8;
        const string Binary = "global::System.Buffers.Binary.BinaryPrimitives.";
        w.Line();
        w.Line("/// <summary>The size of the layout in bytes.</summary>");
        w.Line("public const int Bytes = " + bytes + ";");
        w.Line();
        w.Line("/// <summary>Reads the layout from exactly <see cref=\"Bytes\"/> little-endian bytes, byte 0 holding bits 7:0.</summary>");
        w.Open("public static " + _type + " FromBytes(global::System.ReadOnlySpan<byte> bytes)");
        w.Open("if (bytes.Length != Bytes)");
        w.Line("throw new global::System.ArgumentException(\"" + _layout.Name + " takes exactly \" + Bytes + \" bytes, not \" + bytes.Length, nameof(bytes));");
        w.Close();
        w.Line();
        if (_wide)
        {
            var words = new List<string>();
            for (int i = 0; i < _words; i++)
            {
                bool half = bytes - (i * 8) == 4;
                words.Add(Binary + (half ? "ReadUInt32LittleEndian(bytes.Slice(" + (i * 8) + ", 4))" : "ReadUInt64LittleEndian(bytes.Slice(" + (i * 8) + ", 8))"));
            }

            w.Line("return " + Construct(words) + ";");
        }
        else
        {
            w.Line("return new " + _type + "(" + ReadNarrow(bytes, Binary) + ");");
        }

        w.Close();
        w.Line();
        w.Line("/// <summary>Writes the layout's <see cref=\"Bytes\"/> little-endian bytes to the start of <paramref name=\"destination\"/>.</summary>");
        w.Open("public void CopyTo(global::System.Span<byte> destination)");
        w.Open("if (destination.Length < Bytes)");
        w.Line("throw new global::System.ArgumentException(\"" + _layout.Name + " needs room for \" + Bytes + \" bytes\", nameof(destination));");
        w.Close();
        w.Line();
        if (_wide)
        {
            for (int i = 0; i < _words; i++)
            {
                bool half = bytes - (i * 8) == 4;
                w.Line(half
                    ? Binary + "WriteUInt32LittleEndian(destination.Slice(" + (i * 8) + ", 4), (uint)__w" + i + ");"
                    : Binary + "WriteUInt64LittleEndian(destination.Slice(" + (i * 8) + ", 8), __w" + i + ");");
            }
        }
        else if (bytes == 1)
        {
            w.Line("destination[0] = Raw;");
        }
        else
        {
            w.Line(Binary + "Write" + (bytes == 2 ? "UInt16" : bytes == 4 ? "UInt32" : "UInt64") + "LittleEndian(destination, Raw);");
        }

        w.Close();
    }

    private static string ReadNarrow(int bytes, string binary) =>
        bytes == 1 ? "bytes[0]" : binary + "Read" + (bytes == 2 ? "UInt16" : bytes == 4 ? "UInt32" : "UInt64") + "LittleEndian(bytes)";

    private void EmitApplyWrite(CodeWriter w)
    {
        w.Line();
        w.Line("/// <summary>What a register holds after software writes <paramref name=\"written\"/>: rw and wo bits");
        w.Line("/// from the write, ro bits kept, w1c bits cleared where 1 is written, reserved and ignored bits kept.</summary>");
        w.Open("public static " + _type + " ApplyWrite(" + _type + " current, " + _type + " written)");
        var words = new List<string>();
        for (int word = 0; word < _words; word++)
        {
            ulong writable = 0;
            ulong clearable = 0;
            foreach (FieldDecl field in _layout.Fields)
            {
                ulong mask = FieldMaskInWord(field, word);
                if (field.Access == FieldAccess.ReadWrite || field.Access == FieldAccess.WriteOnly)
                {
                    writable |= mask;
                }
                else if (field.Access == FieldAccess.WriteOneToClear)
                {
                    clearable |= mask;
                }
            }

            ulong kept = ~(writable | clearable) & (_wide ? WordMask(word) : LayoutMask);
            string current = Word("current", word);
            string written = Word("written", word);
            words.Add("(" + written + " & " + Escape.Hex(writable) + ") | (" + current + " & " + Escape.Hex(kept) + ") | (" + current + " & ~" + written + " & " + Escape.Hex(clearable) + ")");
        }

        w.Line("return " + Construct(words) + ";");
        w.Close();
    }

    private void EmitEquality(CodeWriter w)
    {
        string equal = _wide
            ? string.Join(" && ", Enumerable.Range(0, _words).Select(i => "__w" + i + " == other.__w" + i))
            : "Raw == other.Raw";
        string hash = _wide ? Combine(Enumerable.Range(0, _words).Select(i => "__w" + i).ToList()) : "Raw.GetHashCode()";
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public bool Equals(" + _type + " other) => " + equal + ";");
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public override bool Equals(object? obj) => obj is " + _type + " other && Equals(other);");
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public override int GetHashCode() => " + hash + ";");
        w.Line();
        w.Line("/// <summary>Compares two values bit for bit.</summary>");
        w.Line("public static bool operator ==(" + _type + " left, " + _type + " right) => left.Equals(right);");
        w.Line();
        w.Line("/// <summary>Compares two values bit for bit.</summary>");
        w.Line("public static bool operator !=(" + _type + " left, " + _type + " right) => !left.Equals(right);");
    }

    /// <summary>HashCode.Combine takes at most eight values: wider layouts combine groups of eight.</summary>
    private static string Combine(List<string> values)
    {
        if (values.Count <= 8)
        {
            return "global::System.HashCode.Combine(" + string.Join(", ", values) + ")";
        }

        var groups = new List<string>();
        for (int i = 0; i < values.Count; i += 8)
        {
            groups.Add(Combine(values.Skip(i).Take(8).ToList()));
        }

        return Combine(groups);
    }

    private void EmitToString(CodeWriter w)
    {
        w.Line();
        w.Line("/// <summary>The canonical decoding: fields by lowest bit, reserved and ignored bits left out.</summary>");
        w.Open("public override string ToString()");
        w.Line("var text = new global::System.Text.StringBuilder(" + Escape.String(_layout.Name + " {") + ");");
        bool first = true;
        foreach (FieldDecl field in _layout.Fields.OrderBy(f => f.LowestBit))
        {
            string name = Escape.Identifier(field.Name);
            string label = (first ? " " : ", ") + field.Name + " = ";
            first = false;
            switch (field.Kind)
            {
                case FieldKind.Bool:
                    w.Line("text.Append(" + Escape.String(label) + ").Append(" + name + " ? \"true\" : \"false\");");
                    break;
                case FieldKind.Enum:
                    w.Line("text.Append(" + Escape.String(label) + ").Append(global::Hwdef.Runtime.HwdefFormat.Format(" + name + "));");
                    break;
                default:
                    w.Line("text.Append(" + Escape.String(label + "0x") + ").Append(" + name + ".ToString(\"x\", global::System.Globalization.CultureInfo.InvariantCulture));");
                    break;
            }
        }

        w.Line("text.Append(\" }\");");
        w.Line("return text.ToString();");
        w.Close();
    }
}
