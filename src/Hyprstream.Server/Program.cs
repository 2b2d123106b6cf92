using System.CommandLine;
using Hyprstream.Server.Commands;
using Spectre.Console;

namespace Hyprstream.Server;

/// <summary>The `hyprstream` command line. Any error prints one line and exits non-zero.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Hyprstream: a store and serving runtime for sparse LLM adapters");
        // A fresh console per call: the output may have been redirected since the last one (tests call Main in-process).
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(ImportPeftCommand.Create());
        root.Subcommands.Add(MergeCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(ApplyCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(SynthCommand.Create());
        root.Subcommands.Add(IndexCommands.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(TopCommand.Create());
        root.Subcommands.Add(Hyprstream.Bench.BenchCommands.Create(BenchTargets.StartFlightService));
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        root.Subcommands.Add(SnapshotCommands.Create());
        root.Subcommands.Add(StoreCommands.Create());
        try
        {
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                // Usage errors get the same one-line treatment as any other error (help stays behind --help).
                Console.Error.WriteLine($"hyprstream: {string.Join("; ", parsed.Errors.Select(e => e.Message))} (see --help)");
                return 2;
            }
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"hyprstream: {e.Message.ReplaceLineEndings(" ")}");   // one line, always
            return 1;
        }
    }
}
