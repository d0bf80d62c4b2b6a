namespace Driver.Kernel.Iommu.Amd;

/// <summary>The pattern of every synchronous flush: one command, then a COMPLETION_WAIT for it.</summary>
public static class CommandQueueExtensions
{
    /// <summary>Posts <paramref name="command"/> and waits until the IOMMU has run it; the first errno on the way.</summary>
    public static Errno PostAndWait(this ICommandQueue queue, AmdCommand command)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var err = queue.Post(command);
        return err != Errno.Ok ? err : queue.CompletionWait();
    }
}
