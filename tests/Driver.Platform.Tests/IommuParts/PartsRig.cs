using Driver.Platform.Iommu;
using Driver.Platform.Memory;
using Driver.Platform.Time;

namespace Driver.Platform.Tests.IommuParts;

/// <summary>The IOMMU's parts wired as the register file wires them, without the register file.</summary>
internal sealed class PartsRig
{
    public PartsRig(int physicalBits = 52, IommuConfig? config = null)
    {
        var limit = PhysicalLimit.Create(physicalBits);
        config ??= new IommuConfig();
        var logger = Logs.Factory.CreateLogger("iommu");
        Scheduler = new Scheduler(new SimClock());
        EventLog = new EventLog(Memory, limit, logger, () => Interrupts++);
        Snp = new SnpControls(null, Scheduler, Costs, config.RmpRule, logger);
        Translation = new TranslationUnit(Memory, Costs, config, limit, EventLog, Snp, logger);
        Commands = new CommandProcessor(Memory, Scheduler, Costs, limit, EventLog, Translation, config.Efr.IaSup, logger, () => Interrupts++);
    }

    public PhysicalMemory Memory { get; } = new();

    public CostModel Costs { get; } = new();

    public Logs Logs { get; } = new();

    public Scheduler Scheduler { get; }

    public EventLog EventLog { get; }

    public SnpControls Snp { get; }

    public TranslationUnit Translation { get; }

    public CommandProcessor Commands { get; }

    public int Interrupts { get; private set; }
}
