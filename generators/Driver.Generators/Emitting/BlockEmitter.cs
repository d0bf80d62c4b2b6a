using Driver.Generators.Model;

namespace Driver.Generators.Emitting;

/// <summary>Emits the offset constants of one MMIO block.</summary>
internal static class BlockEmitter
{
    public static void Emit(CodeWriter w, BlockDecl block)
    {
        w.Summary(block.Doc);
        w.Open("public static partial class " + Escape.Identifier(block.Name));
        w.Line("/// <summary>The size of the register window in bytes.</summary>");
        w.Line("public const ulong Size = " + Escape.Hex(block.Size) + ";");
        foreach (RegisterDecl register in block.Registers)
        {
            w.Line();
            w.Summary(register.Doc ?? register.Name + " (" + register.LayoutName + ")");
            w.Line("public const ulong " + register.Name + "Offset = " + Escape.Hex(register.Offset) + ";");
            if (register.Count == 0)
            {
                continue;
            }

            w.Line();
            w.Line("/// <summary>The number of " + register.Name + " registers.</summary>");
            w.Line("public const int " + register.Name + "Count = " + register.Count + ";");
            w.Line();
            w.Line("/// <summary>The distance in bytes between two " + register.Name + " registers.</summary>");
            w.Line("public const ulong " + register.Name + "Stride = " + Escape.Hex(register.Stride) + ";");
            w.Line();
            w.Line("/// <summary>The offset of " + register.Name + "[<paramref name=\"index\"/>].</summary>");
            w.Open("public static ulong " + register.Name + "OffsetOf(int index)");
            w.Open("if ((uint)index >= " + register.Count + "U)");
            w.Line("throw new global::System.ArgumentOutOfRangeException(nameof(index), index, \"" + block.Name + "." + register.Name + " has " + register.Count + " registers\");");
            w.Close();
            w.Line();
            w.Line("return " + register.Name + "Offset + ((ulong)index * " + register.Name + "Stride);");
            w.Close();
        }

        w.Close();
    }
}
