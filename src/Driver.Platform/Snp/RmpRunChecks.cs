using Driver.Hw.Sev;

namespace Driver.Platform.Snp;

/// <summary>
/// The checks the hardware and firmware make on a 2 MiB run (the 512 RMP
/// entries from a 2 MiB aligned head PFN), each named after what it checks.
/// RMPUPDATE and SNP_PAGE_UNSMASH both ask whether 4 KiB entries can become
/// one 2 MiB entry, but not the same question: RMPUPDATE writes a new state
/// over the run, so it needs only that no page changes owner by surprise
/// (<see cref="AllShareHeadPageState"/>, with immutability refused apart);
/// UNSMASH keeps the state it finds, so every field but the GPA must already
/// be the head's and the GPAs must continue the head's
/// (<see cref="AllFoldIntoHead"/>).
/// </summary>
public static class RmpRunChecks
{
    /// <summary>
    /// The head carries PageSize: the run is one 2 MiB entry. PSMASH (else
    /// INPUT) and the proposed IOPDE smash (else INVALID_PAGE_SIZE) require it;
    /// a 4 KiB RMPUPDATE inside it gets OVERLAP; UNSMASH refuses it with INVALID_PAGE_SIZE.
    /// </summary>
    public static bool IsOne2MEntry(this RmpTable rmp, ulong headPfn) => rmp.Read(headPfn).PageSize;

    /// <summary>RMPUPDATE of a 2 MiB entry over 4 KiB entries: PERMISSION if any of the 512 is immutable.</summary>
    public static bool AnyImmutable(this RmpTable rmp, ulong headPfn) =>
        !All(rmp, headPfn, static (_, e, _) => !e.Immutable);

    /// <summary>No entry of the run is assigned: the whole 2 MiB belongs to the hypervisor.</summary>
    public static bool NoneAssigned(this RmpTable rmp, ulong headPfn) =>
        All(rmp, headPfn, static (_, e, _) => !e.Assigned);

    /// <summary>
    /// RMPUPDATE of a 2 MiB entry over 4 KiB entries: OVERLAP unless all 512
    /// have the head's page state (<see cref="SamePageState"/>). GPA, VMPL
    /// permissions and Lock are not compared: the update overwrites them.
    /// </summary>
    public static bool AllShareHeadPageState(this RmpTable rmp, ulong headPfn) =>
        All(rmp, headPfn, static (head, e, _) => SamePageState(head, e));

    /// <summary>
    /// SNP_PAGE_UNSMASH: INVALID_PAGE_STATE unless all 512 entries equal the
    /// head in every field the fold keeps (<see cref="SameButGpa"/>) and, for a
    /// guest's run, the head's GPA is 2 MiB aligned and entry i maps head GPA + i * 4 KiB
    /// (firmware, reclaim and hypervisor pages map no guest memory: their GPAs are not compared).
    /// </summary>
    public static bool AllFoldIntoHead(this RmpTable rmp, ulong headPfn)
    {
        var head = rmp.Read(headPfn);
        bool guest = RmpStates.IsGuestPrivate(head);
        if (guest && !SnpPageSize.IsAligned(head.Gpa, SnpPageSize.Size2M))
            return false;
        return guest
            ? All(rmp, headPfn, static (head, e, i) => SameButGpa(head, e) && e.Gpa == RmpTable.RunEntry(head, false, i).Gpa)
            : All(rmp, headPfn, static (head, e, _) => SameButGpa(head, e));
    }

    /// <summary>Same owner and state: Assigned, ASID, Validated and VMSA.</summary>
    public static bool SamePageState(RmpEntry a, RmpEntry b) =>
        a.Assigned == b.Assigned && a.Asid == b.Asid && a.Validated == b.Validated && a.Vmsa == b.Vmsa;

    /// <summary>The page state, Immutable and the VMPL permissions equal: what one 2 MiB entry can say for 512 pages.</summary>
    public static bool SameButGpa(RmpEntry a, RmpEntry b) =>
        SamePageState(a, b) && a.Immutable == b.Immutable && a.VmplPermissions == b.VmplPermissions;

    // The IOMMU's RMP check of one DMA, by request kind, on the entry that
    // governs the page (its 2 MiB entry if there is one). An untrusted request
    // needs HypervisorOwned; a trusted one OwnedByGuest, GuestValidated and
    // MapsGuestPage; both the size rule in force (SizeAgreesToday under
    // AmdToday) and at most CheckedShift as the size of what the IOTLB keeps.

    /// <summary>Untrusted requests may reach only pages the RMP leaves to the hypervisor.</summary>
    public static bool HypervisorOwned(RmpEntry governing) => !governing.Assigned;

    /// <summary>Trusted requests: the page is assigned to the guest of <paramref name="asid"/>.</summary>
    public static bool OwnedByGuest(RmpEntry governing, ushort asid) => governing.Assigned && governing.Asid == asid;

    /// <summary>Trusted requests: the guest has PVALIDATEd the page.</summary>
    public static bool GuestValidated(RmpEntry governing) => governing.Validated;

    /// <summary>
    /// Trusted requests: the RMP maps the 4 KiB page at <paramref name="spa"/> to the guest page of
    /// <paramref name="gpa"/> (a 2 MiB entry maps its run from the head's GPA on).
    /// </summary>
    public static bool MapsGuestPage(RmpEntry governing, bool is2M, ulong spa, ulong gpa)
    {
        ulong offset = is2M ? spa & (SnpPageSize.Size2M - 1) : 0;
        return ((governing.Gpa + offset) >> SnpPageSize.Shift4K) == (gpa >> SnpPageSize.Shift4K);
    }

    /// <summary>Today's AMD rule: an I/O page of 2 MiB or more needs a 2 MiB entry, a smaller one a 4 KiB entry.</summary>
    public static bool SizeAgreesToday(bool is2M, int ioPageShift) => is2M == (ioPageShift >= SnpPageSize.Shift2M);

    /// <summary>The translation size a passed check allows: never more than the RMP entry, so never across a 2 MiB boundary.</summary>
    public static int CheckedShift(bool is2M, int ioPageShift) => Math.Min(ioPageShift, is2M ? SnpPageSize.Shift2M : SnpPageSize.Shift4K);

    // One walk over the run; the rules are static lambdas, so no allocation.
    private static bool All(RmpTable rmp, ulong headPfn, Func<RmpEntry, RmpEntry, ulong, bool> rule)
    {
        var head = rmp.Read(headPfn);
        for (ulong i = 0; i < SnpPageSize.EntriesPer2M; i++)
            if (!rule(head, i == 0 ? head : rmp.Read(headPfn + i), i))
                return false;
        return true;
    }
}
