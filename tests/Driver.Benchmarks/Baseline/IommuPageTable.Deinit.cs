namespace Driver.Benchmarks.Baseline.IommuPt;

public sealed partial class IommuPageTable<TFormat>
{
    /// <summary>
    /// Frees every table, the top included. The driver must already have
    /// detached hardware from the table and flushed; using it afterwards is a bug.
    /// </summary>
    public void Deinit()
    {
        ulong top = ReadTop();
        var frames = new List<ulong>();
        CollectTables(LevelOf(top), TableOf(top), frames, checkMapped: false);
        _dead = true;
        FreeFrames(frames);
    }
}
