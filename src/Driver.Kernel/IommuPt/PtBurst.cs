using System.Runtime.CompilerServices;

namespace Driver.Kernel.IommuPt;

/// <summary>
/// Items of one table read in one access: half a table, a multiple of every
/// entry a leaf run can hold. A local of this type rather than a stackalloc:
/// the JIT compiles a method with a loop and a stackalloc once, fully
/// optimised but without the profile that lets tiering inline the
/// physical-memory calls of that loop.
/// </summary>
[InlineArray(Length)]
internal struct PtBurst
{
    public const int Length = PtGeometry.ItemsPerTable / 2;

    private ulong _item;
}
