using Driver.Hw.AmdIommu;

namespace Driver.Platform.Iommu;

/// <summary>The register file: one handler per register, ro and w1c bits through the generated ApplyWrite.</summary>
public sealed partial class AmdIommu
{
    // Bits a write of all ones clears: the w1c bits, as the generated ApplyWrite defines them.
    private static readonly ulong StatusW1cMask =
        ~StatusRegister.ApplyWrite(new StatusRegister(ulong.MaxValue), new StatusRegister(ulong.MaxValue)).Raw;

    private DeviceTableBaseRegister _devTab;
    private CommandBufferBaseRegister _cmdBase;
    private EventLogBaseRegister _evtBase;
    private ControlRegister _control;
    private ExclusionBaseRegister _exclBase;
    private ExclusionLimitRegister _exclLimit;
    private ExtendedFeatureRegister _efr;
    private ExtendedFeature2Register _efr2;
    private RingPointerRegister _cmdHead;
    private RingPointerRegister _cmdTail;
    private RingPointerRegister _evtHead;
    private RingPointerRegister _evtTail;
    private StatusRegister _status;

    public ulong Read(ulong offset, int size)
    {
        ulong value = ReadRegister(offset & ~7UL);
        return size == 8 ? value : (uint)(value >> (int)((offset & 4) * 8));
    }

    public void Write(ulong offset, int size, ulong value)
    {
        ulong register = offset & ~7UL;
        if (size == 4)
        {
            // A 32-bit write keeps the other half, except that it writes 0 to w1c bits there.
            int shift = (int)((offset & 4) * 8);
            ulong w1c = register == AmdIommuMmio.StatusOffset ? StatusW1cMask : 0;
            ulong keep = ReadRegister(register) & ~w1c & ~(0xFFFF_FFFFUL << shift);
            value = keep | ((value & 0xFFFF_FFFFUL) << shift);
        }
        WriteRegister(register, value);
    }

    private ulong ReadRegister(ulong offset) => offset switch
    {
        AmdIommuMmio.DeviceTableBaseOffset => _devTab.Raw,
        AmdIommuMmio.CommandBufferBaseOffset => _cmdBase.Raw,
        AmdIommuMmio.EventLogBaseOffset => _evtBase.Raw,
        AmdIommuMmio.ControlOffset => _control.Raw,
        AmdIommuMmio.ExclusionBaseOffset => _exclBase.Raw,
        AmdIommuMmio.ExclusionLimitOffset => _exclLimit.Raw | 0xFFF,
        AmdIommuMmio.ExtendedFeatureOffset => _efr.Raw,
        AmdIommuMmio.ExtendedFeature2Offset => _efr2.Raw,
        AmdIommuMmio.CommandBufferHeadOffset => _cmdHead.Raw,
        AmdIommuMmio.CommandBufferTailOffset => _cmdTail.Raw,
        AmdIommuMmio.EventLogHeadOffset => _evtHead.Raw,
        AmdIommuMmio.EventLogTailOffset => _evtTail.Raw,
        AmdIommuMmio.StatusOffset => _status.WithEventLogRun(EventLogRunning).WithCmdBufRun(CommandsRunning).Raw,
        _ => 0,
    };

    private void WriteRegister(ulong offset, ulong value)
    {
        switch (offset)
        {
            case AmdIommuMmio.DeviceTableBaseOffset when !ConfigLocked:
                _devTab = DeviceTableBaseRegister.ApplyWrite(_devTab, new(value));
                break;
            case AmdIommuMmio.CommandBufferBaseOffset when !ConfigLocked:
                _cmdBase = CommandBufferBaseRegister.ApplyWrite(_cmdBase, new(value));
                _cmdHead = default;
                _cmdTail = default;
                break;
            case AmdIommuMmio.EventLogBaseOffset when !ConfigLocked:
                _evtBase = EventLogBaseRegister.ApplyWrite(_evtBase, new(value));
                _evtHead = default;
                _evtTail = default;
                break;
            case AmdIommuMmio.ControlOffset:
                WriteControl(new ControlRegister(value));
                break;
            case AmdIommuMmio.ExclusionBaseOffset when !ConfigLocked:
                _exclBase = ExclusionBaseRegister.ApplyWrite(_exclBase, new(value));
                break;
            case AmdIommuMmio.ExclusionLimitOffset when !ConfigLocked:
                _exclLimit = ExclusionLimitRegister.ApplyWrite(_exclLimit, new(value));
                break;
            case AmdIommuMmio.ExtendedFeatureOffset:
                _efr = ExtendedFeatureRegister.ApplyWrite(_efr, new(value));
                break;
            case AmdIommuMmio.ExtendedFeature2Offset:
                _efr2 = ExtendedFeature2Register.ApplyWrite(_efr2, new(value));
                break;
            case AmdIommuMmio.CommandBufferHeadOffset:
                _cmdHead = RingPointerRegister.ApplyWrite(_cmdHead, new(value));
                KickCommands();
                break;
            case AmdIommuMmio.CommandBufferTailOffset:
                _cmdTail = RingPointerRegister.ApplyWrite(_cmdTail, new(value));
                KickCommands();
                break;
            case AmdIommuMmio.EventLogHeadOffset:
                _evtHead = RingPointerRegister.ApplyWrite(_evtHead, new(value));
                break;
            case AmdIommuMmio.EventLogTailOffset:
                _evtTail = RingPointerRegister.ApplyWrite(_evtTail, new(value));
                break;
            case AmdIommuMmio.StatusOffset:
                _status = StatusRegister.ApplyWrite(_status, new(value));
                break;
        }
    }

    private void WriteControl(ControlRegister written)
    {
        var old = _control;
        var next = ControlRegister.ApplyWrite(old, written);
        // Under SNP firmware owns the enable: the host cannot turn translation off.
        if (ConfigLocked)
            next = next.WithIommuEn(old.IommuEn);
        _control = next;
        if (next.CmdBufEn && !old.CmdBufEn)
            _commandsStopped = false;
        if (next.EventLogEn && !old.EventLogEn)
            _eventLogStopped = false;
        KickCommands();
    }
}
