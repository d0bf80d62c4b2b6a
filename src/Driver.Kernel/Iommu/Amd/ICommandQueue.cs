namespace Driver.Kernel.Iommu.Amd;

/// <summary>
/// The command ring as the domain code sees it (Linux iommu_queue_command and
/// iommu_completion_wait): a seam so that a test can check the exact commands a
/// domain operation posts.
/// </summary>
public interface ICommandQueue
{
    /// <summary>
    /// Writes one command into the ring and hands it to the IOMMU. EIO when the ring stays
    /// full (the processor stopped or hangs); nothing is posted then.
    /// </summary>
    Errno Post(AmdCommand command);

    /// <summary>
    /// Posts COMPLETION_WAIT and polls its semaphore: when it returns Ok, every command
    /// posted before has completed. EIO when the wait timed out or the processor stopped.
    /// </summary>
    Errno CompletionWait();
}
