namespace Driver.Kernel.Mm;

/// <summary>What a user access that failed would have raised in the process.</summary>
public enum UserFault
{
    /// <summary>The access succeeded.</summary>
    None,

    /// <summary>No mapping, or one without the permission (SIGSEGV).</summary>
    Segv,

    /// <summary>The mapping's file refused the page: past its end, a guest_memfd page that is private, a poisoned page (SIGBUS).</summary>
    Bus,
}
