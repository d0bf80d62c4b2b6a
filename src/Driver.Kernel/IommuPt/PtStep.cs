namespace Driver.Kernel.IommuPt;

/// <summary>What an operation wants after visiting one item (Linux's pt_walk_fn results, made explicit).</summary>
internal enum PtStep : byte
{
    /// <summary>Stop the whole walk.</summary>
    Stop,

    /// <summary>Go on to the next item (or past what the operation consumed).</summary>
    Next,

    /// <summary>Walk the child table of this (table) item, then go on.</summary>
    Descend,

    /// <summary>Walk the child table, then call <see cref="IPtLevelOp{TFormat}.Ascend"/> on this item.</summary>
    DescendThenAscend,
}
