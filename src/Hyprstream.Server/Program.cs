using System.CommandLine;
using Hyprstream.Server.Commands;

namespace Hyprstream.Server;

/// <summary>The `hyprstream` command line. Any error prints one line and exits non-zero.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Hyprstream: a store and serving runtime for sparse LLM adapters");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(BenchCommands.Create());
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        root.Subcommands.Add(SnapshotCommands.Create());
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"hyprstream: {e.Message}");
            return 1;
        }
    }
}
