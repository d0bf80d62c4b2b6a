namespace Driver.Hw.Interfaces;

/// <summary>PVALIDATE return codes (rAX), and the outcomes the instruction signals otherwise.</summary>
public enum PvalidateResult
{
    Success = 0,

    /// <summary>FAIL_INPUT: the address is not aligned to the page size asked for.</summary>
    FailInput = 1,

    /// <summary>FAIL_SIZEMISMATCH: a 2 MiB validation over 4 KiB RMP entries.</summary>
    FailSizeMismatch = 6,

    /// <summary>
    /// Not a return code: the RMP entry is not this guest's page at this address (another owner,
    /// another GPA, immutable), or a 4 KiB validation falls inside a 2 MiB entry. The CPU takes a
    /// nested page fault with the RMP bit set, which the hypervisor sees (KVM PSMASHes on the size case).
    /// </summary>
    NestedPageFault = 0x100,

    /// <summary>rFLAGS.CF = 1: the page already had the validated state asked for; nothing changed (Linux PVALIDATE_FAIL_NOUPDATE).</summary>
    NoUpdate = 255,
}
