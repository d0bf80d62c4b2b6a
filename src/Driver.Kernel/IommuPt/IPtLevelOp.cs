namespace Driver.Kernel.IommuPt;

/// <summary>
/// What one operation does at each item of a walk. Implemented by structs, so
/// that <see cref="PtWalk{TFormat}"/> is compiled once per format and per
/// operation, with no indirect call per item.
/// </summary>
internal interface IPtLevelOp<TFormat>
    where TFormat : struct, IPtFormat
{
    /// <summary>Acts on the loaded item and says where the walk goes next.</summary>
    PtStep Visit(ref PtState<TFormat> state);

    /// <summary>
    /// After the child walk of an item that asked for <see cref="PtStep.DescendThenAscend"/>
    /// completed; <paramref name="state"/> still holds the item as loaded before. False stops the walk.
    /// </summary>
    bool Ascend(ref PtState<TFormat> state);
}
