namespace Driver.Platform.Psp;

/// <summary>
/// One firmware command: how many 64-bit words its buffer holds (0 = it reads
/// none, as SNP_DF_FLUSH) and what it does with them once they passed <see cref="FirmwareBuffer.Check"/>.
/// </summary>
internal sealed record FirmwareCommand(int BufferWords, Func<ulong[], FirmwareOutcome> Run, bool Proposed = false);
