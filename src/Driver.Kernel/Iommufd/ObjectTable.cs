namespace Driver.Kernel.Iommufd;

/// <summary>
/// The objects of one iommufd context (Linux ictx->objects, an allocating xarray): ids from 1,
/// reserve then finalize, abort, lookup by id and type, and removal that refuses an object in use.
/// </summary>
public sealed class ObjectTable
{
    private readonly SortedDictionary<uint, IommufdObject> _objects = [];
    private uint _next = 1;

    /// <summary>Objects in the table, finalized or not.</summary>
    public int Count => _objects.Count;

    public IEnumerable<IommufdObject> Objects => _objects.Values;

    /// <summary>
    /// Gives <paramref name="obj"/> the lowest free id from 1 on; invisible until
    /// <see cref="Finalize"/>. EBUSY (xa_alloc's errno) when every id up to int.MaxValue is taken (xa_limit_31b).
    /// </summary>
    public Errno Reserve(IommufdObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        if (obj.Id != 0)
            throw new InvalidOperationException("BUG: the object is already in a table");
        // xa_alloc takes the lowest free index; searching from the last hand-out keeps that cheap.
        uint id = _next;
        while (true)
        {
            // Past the limit whether the last id is taken or was the last one handed out.
            if (id > int.MaxValue)
                return Errno.EBUSY;
            if (!_objects.ContainsKey(id))
                break;
            id++;
        }
        obj.Id = id;
        _objects.Add(id, obj);
        _next = id + 1;
        return Errno.Ok;
    }

    /// <summary>Makes a reserved object visible to lookups.</summary>
    public void Finalize(IommufdObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        if (!_objects.TryGetValue(obj.Id, out var held) || held != obj)
            throw new InvalidOperationException("BUG: finalizing an object that is not reserved");
        obj.Finalized = true;
    }

    /// <summary>Takes back a reserved, never finalized object (iommufd_object_abort); its id is free again.</summary>
    public void Abort(IommufdObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        // Only the reserved object itself: an id alone may name another object (of another table).
        if (obj.Finalized || !_objects.TryGetValue(obj.Id, out var held) || held != obj)
            throw new InvalidOperationException("BUG: aborting an object that is not reserved");
        _objects.Remove(obj.Id);
        Release(obj.Id);
        obj.Id = 0;
    }

    /// <summary>A finalized object of <paramref name="type"/> (any type when null); ENOENT otherwise.</summary>
    public Errno Get(uint id, IommufdObjectType? type, out IommufdObject? obj)
    {
        obj = null;
        if (!_objects.TryGetValue(id, out var found) || !found.Finalized || (type is { } t && found.Type != t))
            return Errno.ENOENT;
        obj = found;
        return Errno.Ok;
    }

    public Errno Get<T>(uint id, IommufdObjectType type, out T? obj)
        where T : IommufdObject
    {
        var err = Get(id, type, out var found);
        obj = found as T;
        return err;
    }

    /// <summary>
    /// Takes an object out of the table (iommufd_object_remove): ENOENT for an unknown or
    /// unfinalized id, EBUSY while another object uses it. The caller destroys it.
    /// </summary>
    public Errno Remove(uint id, out IommufdObject? obj)
    {
        var err = Get(id, null, out obj);
        if (err != Errno.Ok)
            return err;
        if (obj!.Users != 0)
        {
            obj = null;
            return Errno.EBUSY;
        }
        _objects.Remove(id);
        Release(id);
        return Errno.Ok;
    }

    private void Release(uint id)
    {
        if (id < _next)
            _next = id;
    }
}
