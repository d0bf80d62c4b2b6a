namespace Driver.Kernel.IommuPt;

/// <summary>
/// What one operation does at each item of a walk. Implemented by structs, so
/// that <see cref="PtWalk{TFormat}.Range"/> is compiled once per format and per
/// operation, with no indirect call per item.
/// </summary>
internal interface IPtLevelOp<TFormat>
    where TFormat : struct, IPtFormat
{
    /// <summary>
    /// Acts on the loaded item; descends with <see cref="PtWalk{TFormat}.Descend"/>
    /// if it wants the level below. False stops the whole walk.
    /// </summary>
    bool Visit(ref PtState<TFormat> state);
}
