namespace Driver.Platform.Time;

/// <summary>A device that acts on its own in simulated time (a DMA engine, a command processor, firmware).</summary>
public interface IEventSource
{
    /// <summary>When the next event is due; <see cref="long.MaxValue"/> when the device is idle.</summary>
    long NextDueNs { get; }

    /// <summary>Runs the next event. The clock reads its due time (or later, when pulled in early).</summary>
    void RunNext();
}
