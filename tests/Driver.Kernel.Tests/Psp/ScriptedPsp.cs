using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Platform.Memory;
using Moq;

namespace Driver.Kernel.Tests.Psp;

/// <summary>A clock that moves only when the driver waits.</summary>
internal sealed class FakeClock : IClock
{
    public long NowNs { get; private set; }

    public int Delays { get; private set; }

    public Action? OnDelay { get; set; }

    public void Delay(long ns)
    {
        NowNs += ns;
        Delays++;
        OnDelay?.Invoke();
    }
}

/// <summary>One doorbell as the scripted PSP saw it: the command and the buffer's words at that moment.</summary>
internal sealed record SentCommand(SevCommandId Id, ulong BufferPa, ulong[] Words, bool InterruptOnCompletion);

/// <summary>
/// The PSP's mailbox as a Moq IMmio: records every register write and every doorbell (with the
/// first words of its buffer, read from memory), and answers each doorbell with a scripted status.
/// </summary>
internal sealed class ScriptedPsp
{
    public const ulong Base = 0xFC00_0000;

    private uint _lo;
    private uint _hi;
    private uint _cmdResp;

    public ScriptedPsp()
    {
        Mmio.Setup(m => m.Write32(It.IsAny<ulong>(), It.IsAny<uint>())).Returns((ulong pa, uint value) =>
        {
            Writes.Add((pa, value));
            if (FailWritesAt == pa)
                return MmioStatus.NoDevice;
            switch (pa - Base)
            {
                case PspMmio.CmdBufferAddressLoOffset:
                    _lo = value;
                    break;
                case PspMmio.CmdBufferAddressHiOffset:
                    _hi = value;
                    break;
                case PspMmio.CmdRespOffset:
                    Doorbell(new PspCmdRespRegister(value));
                    break;
            }
            return MmioStatus.Ok;
        });
        Mmio.Setup(m => m.Read32(It.IsAny<ulong>(), out It.Ref<uint>.IsAny)).Returns(new Read32((ulong pa, out uint value) =>
        {
            value = (pa - Base) switch
            {
                PspMmio.FeatureOffset => Feature,
                PspMmio.CmdRespOffset => _cmdResp,
                PspMmio.InterruptStatusOffset => InterruptStatus,
                _ => 0,
            };
            if (pa - Base == PspMmio.CmdRespOffset)
                CmdRespReads++;
            return FailReadsAt == pa ? MmioStatus.NoDevice : MmioStatus.Ok;
        }));
    }

    private delegate MmioStatus Read32(ulong pa, out uint value);

    public Mock<IMmio> Mmio { get; } = new(MockBehavior.Strict);

    public PhysicalMemory Memory { get; } = new();

    public List<(ulong Pa, uint Value)> Writes { get; } = [];

    public List<SentCommand> Commands { get; } = [];

    public uint Feature { get; set; } = new PspFeatureRegister(0).WithSev(true).Raw;

    public uint InterruptStatus { get; set; }

    public int CmdRespReads { get; private set; }

    public ulong? FailWritesAt { get; set; }

    public ulong? FailReadsAt { get; set; }

    /// <summary>False: doorbells are taken but never answered.</summary>
    public bool Answers { get; set; } = true;

    /// <summary>The status of each doorbell; SUCCESS when null or for a command it does not name.</summary>
    public Func<SentCommand, SevStatus>? Respond { get; set; }

    /// <summary>Runs at the doorbell, before the answer (firmware writing into its buffer).</summary>
    public Action<SentCommand>? OnCommand { get; set; }

    public IEnumerable<SevCommandId> Ids => Commands.Select(c => c.Id);

    /// <summary>Answers the queued statuses in order, then SUCCESS.</summary>
    public void Queue(params SevStatus[] statuses)
    {
        var queue = new Queue<SevStatus>(statuses);
        Respond = _ => queue.Count > 0 ? queue.Dequeue() : SevStatus.Success;
    }

    /// <summary>The firmware answers the running command now.</summary>
    public void AnswerNow(SevStatus status) => _cmdResp = new PspCmdStatusRegister(0).WithStatus(status).WithResponse(true).Raw;

    private void Doorbell(PspCmdRespRegister doorbell)
    {
        ulong pa = ((ulong)_hi << 32) | _lo;
        var words = new ulong[4];
        if (pa != 0)
            for (int i = 0; i < words.Length; i++)
                words[i] = Memory.ReadU64(pa + ((ulong)i * 8));
        var sent = new SentCommand(doorbell.CommandId, pa, words, doorbell.InterruptOnCompletion);
        Commands.Add(sent);
        OnCommand?.Invoke(sent);
        _cmdResp = 0;
        if (Answers)
            _cmdResp = new PspCmdStatusRegister(0).WithStatus(Respond?.Invoke(sent) ?? SevStatus.Success).WithResponse(true).Raw;
    }
}
