using Driver.Hw.Interfaces;
using Driver.Hw.Sev;
using Driver.Kernel.Mm;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Driver.Kernel.Psp;

/// <summary>
/// The PSP's SEV device as Linux's drivers/crypto/ccp/sev-dev.c: one command at a time (the
/// sev_cmd_mutex), the command buffer copied into a page of the driver's own, the firmware status
/// kept beside the errno. Every entry point returns an <see cref="Errno"/> and gives the last
/// firmware status out (SUCCESS when the failure was not the firmware's). The SNP platform, guest
/// contexts and page commands are in the other parts of this class.
/// </summary>
public sealed partial class SevDevice
{
    private const ulong PageSize = 0x1000;
    private const int MaxBufferWords = (int)(PageSize / sizeof(ulong));

    private readonly IPhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly IIommuSnp _iommu;
    private readonly IInterruptController? _interrupts;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private ulong _cmdBuffer;

    /// <summary>
    /// A driver for the PSP at <see cref="SevDeviceConfig.MmioBase"/>. With <paramref name="interrupts"/>
    /// it waits for the completion interrupt on <see cref="SevDeviceConfig.Irq"/>; without, it polls cmdresp.
    /// </summary>
    public SevDevice(IMmio mmio, IPhysicalMemory memory, IClock clock, ISnpCpu cpu, IFrameAllocator frames, IIommuSnp iommu,
        SevDeviceConfig? config = null, ILoggerFactory? loggerFactory = null, IInterruptController? interrupts = null)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(iommu);
        Config = config ?? new SevDeviceConfig();
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        _memory = memory;
        _frames = frames;
        _iommu = iommu;
        _interrupts = interrupts;
        _logger = factory.CreateLogger<SevDevice>();
        Mmio = mmio;
        Mailbox = new PspMailbox(mmio, clock, Config, factory.CreateLogger<PspMailbox>());
        Rmp = new SnpRmp(cpu, Config, factory);
    }

    public SevDeviceConfig Config { get; }

    internal IMmio Mmio { get; }

    /// <summary>The mailbox protocol; <see cref="PspMailbox.Dead"/> after a timeout.</summary>
    public PspMailbox Mailbox { get; }

    /// <summary>The RMP helpers, and the count of pages leaked on purpose.</summary>
    public SnpRmp Rmp { get; }

    public bool Probed { get; private set; }

    /// <summary>
    /// sev_dev_init: ENODEV when no PSP answers or it has no SEV interface, ENOMEM without a page for the
    /// command buffer, EBUSY when the interrupt line is taken. Nothing stays allocated on failure.
    /// </summary>
    public Errno Probe()
    {
        lock (_lock)
        {
            if (Probed)
                return Errno.EBUSY;
            var bus = Mmio.Read32(Config.MmioBase + PspMmio.FeatureOffset, out uint raw);
            var feature = new PspFeatureRegister(raw);
            if (bus != MmioStatus.Ok || !feature.Sev)
            {
                Log.NoSev(_logger, Config.MmioBase, bus, feature);
                return Errno.ENODEV;
            }
            if (!_frames.TryAlloc(out _cmdBuffer))
            {
                Log.OutOfMemory(_logger, "the command buffer");
                return Errno.ENOMEM;
            }
            if (_interrupts is not null)
            {
                if (!_interrupts.RequestIrq(Config.Irq, Mailbox.HandleInterrupt))
                {
                    Log.IrqBusy(_logger, Config.Irq);
                    _frames.Free(_cmdBuffer);
                    return Errno.EBUSY;
                }
                Mailbox.EnableInterrupt();
            }
            Probed = true;
            Log.Probed(_logger, Config.MmioBase, feature);
            return Errno.Ok;
        }
    }

    /// <summary>
    /// sev_do_cmd: copies <paramref name="buffer"/> (empty for a command without one) into the command
    /// page, runs <paramref name="command"/> and copies the page back, since firmware may answer in it.
    /// ENODEV before <see cref="Probe"/>, EINVAL for a buffer longer than a page; the mailbox's errnos otherwise.
    /// </summary>
    public Errno DoCmd(SevCommandId command, Span<ulong> buffer, out SevStatus status)
    {
        lock (_lock)
            return DoCmdLocked(command, buffer, out status);
    }

    private Errno DoCmdLocked(SevCommandId command, Span<ulong> buffer, out SevStatus status)
    {
        status = SevStatus.Success;
        if (!Probed)
            return Errno.ENODEV;
        if (buffer.Length > MaxBufferWords)
            return Errno.EINVAL;
        for (int i = 0; i < buffer.Length; i++)
            _memory.WriteU64(_cmdBuffer + ((ulong)i * sizeof(ulong)), buffer[i]);
        var err = Mailbox.DoCmd(command, buffer.Length == 0 ? 0 : _cmdBuffer, out status);
        for (int i = 0; i < buffer.Length; i++)
            buffer[i] = _memory.ReadU64(_cmdBuffer + ((ulong)i * sizeof(ulong)));
        return err;
    }

    // Commands whose buffer is one 64-bit word (an address, most of the SNP page commands).
    private Errno DoCmdWord(SevCommandId command, ulong word, out SevStatus status)
    {
        Span<ulong> buffer = [word];
        return DoCmdLocked(command, buffer, out status);
    }
}
