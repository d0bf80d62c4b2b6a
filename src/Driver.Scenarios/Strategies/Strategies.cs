namespace Driver.Scenarios.Strategies;

/// <summary>The strategy of each name in <see cref="StrategyNames"/>, fresh for one run.</summary>
internal static class Strategies
{
    public static bool IsKnown(string name) => StrategyNames.All.Contains(name);

    public static IConversionStrategy Create(string name) => name switch
    {
        StrategyNames.Force4K => new Force4KStrategy(),
        StrategyNames.Sequenced => new SequencedStrategy(),
        StrategyNames.FwSmash => new FwSmashStrategy(),
        StrategyNames.GmemNotify => new GmemNotifyStrategy(),
        StrategyNames.MirroredS2 => new MirroredS2Strategy(),
        _ => throw new ArgumentException($"unknown strategy '{name}' (known: {string.Join(", ", StrategyNames.All)})", nameof(name)),
    };
}
