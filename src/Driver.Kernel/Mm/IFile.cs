namespace Driver.Kernel.Mm;

/// <summary>An open file an fd can refer to (struct file): a memfd, a guest_memfd, an iommufd context.</summary>
public interface IFile
{
    /// <summary>The last fd referring to the file was closed (fput of the last reference).</summary>
    void Release();
}
