namespace Driver.Platform.Memory;

/// <summary>
/// A frame's 512 words when they form one arithmetic run: words
/// [<see cref="Start"/>, Start + <see cref="Count"/>) hold First + k * Step and
/// every other word is zero. That is what a page table filled in address order
/// looks like (each leaf one page further on, the same permission bits), so a
/// terabyte guest mapped at 4K costs a few words per table instead of 4 KiB.
/// </summary>
internal readonly record struct LinearWords(int Start, int Count, ulong First, ulong Step)
{
    /// <summary>The word at <paramref name="index"/> (0 to 511).</summary>
    public ulong this[int index] =>
        (uint)(index - Start) < (uint)Count ? First + ((ulong)(index - Start) * Step) : 0;

    /// <summary>
    /// The run after storing <paramref name="value"/> at <paramref name="index"/>, when
    /// the words still form one: a store that extends, shortens or (for a run of one or
    /// two words) reshapes it. False when the frame would need all its words.
    /// </summary>
    public bool TryWrite(int index, ulong value, out LinearWords next)
    {
        next = this;
        if (this[index] == value)
            return true;
        // From here value differs from the word: a zero store lands inside the run.
        int end = Start + Count;
        if (Count == 0)
            next = new LinearWords(index, 1, value, 0);
        else if (value == 0 && index == Start)
            next = Count == 1 ? default : this with { Start = Start + 1, Count = Count - 1, First = First + Step };
        else if (value == 0 && index == end - 1)
            next = this with { Count = Count - 1 };
        else if (Count == 1 && index == Start)
            next = this with { First = value };
        else if (index == end && (Count == 1 || value == First + ((ulong)Count * Step)))
            next = this with { Count = Count + 1, Step = value - this[end - 1] };
        else if (index == Start - 1 && (Count == 1 || value == First - Step))
            next = new LinearWords(index, Count + 1, value, First - value);
        else if (Count == 2 && index == Start)
            next = this with { First = value, Step = First + Step - value };
        else if (Count == 2 && index == Start + 1)
            next = this with { Step = value - First };
        else
            return false;
        return true;
    }

    /// <summary>Writes all 512 words into <paramref name="words"/>.</summary>
    public void CopyTo(Span<ulong> words)
    {
        words.Clear();
        ulong word = First;
        for (int i = 0; i < Count; i++, word += Step)
            words[Start + i] = word;
    }
}
