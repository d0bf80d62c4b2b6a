namespace Driver.Cli;

internal static class Program
{
    private static int Main(string[] args) => DriverCommand.Run(args, Console.Out, Console.Error);
}
