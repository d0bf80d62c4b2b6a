namespace Driver.Kernel.Iommufd;

/// <summary>
/// What every iommufd object has (Linux struct iommufd_object): its id in the context, its type,
/// and <see cref="Users"/>, the references other objects hold on it. An object is invisible to
/// lookups until it is finalized; DESTROY refuses it while anything else uses it.
/// </summary>
public abstract class IommufdObject
{
    protected IommufdObject(IommufdObjectType type) => Type = type;

    public IommufdObjectType Type { get; }

    /// <summary>The id user space sees; 0 before the object is reserved in a table.</summary>
    public uint Id { get; internal set; }

    /// <summary>Whether lookups can see the object (iommufd_object_finalize ran).</summary>
    public bool Finalized { get; internal set; }

    /// <summary>References held by other objects (an IOAS by its HWPTs, a HWPT by its devices).</summary>
    public int Users { get; private set; }

    internal void AddUser() => Users++;

    internal void RemoveUser()
    {
        if (Users == 0)
            throw new InvalidOperationException($"BUG: object {Id} ({Type}) has no user to drop");
        Users--;
    }

    /// <summary>
    /// Tears the object down once it is out of the table and nobody uses it: drops what it
    /// references and frees what it owns (Linux's per-type destroy).
    /// </summary>
    internal abstract void Destroy();
}
