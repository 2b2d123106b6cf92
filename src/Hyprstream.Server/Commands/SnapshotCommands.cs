using System.CommandLine;
using Hyprstream.Runtime;
using Spectre.Console;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream snapshot create|info`: NanoVDB snapshot files (.nvdb) for inference hosts.</summary>
internal static class SnapshotCommands
{
    public static Command Create()
    {
        var cmd = new Command("snapshot", "NanoVDB snapshots of adapters (.nvdb): the read-only form inference and GPUs use");
        cmd.Subcommands.Add(CreateCommand());
        cmd.Subcommands.Add(InfoCommand());
        return cmd;
    }

    private static Command CreateCommand()
    {
        var input = new Argument<string>("adapter") { Description = "an adapter .vdb file" };
        var output = new Argument<string>("snapshot") { Description = "the .nvdb file to write (atomically)" };
        var name = new Option<string?>("--adapter") { Description = "which adapter of a multi-adapter file (default: the only one)" };
        var fp16 = new Option<bool>("--fp16") { Description = "NanoVDB Fp16 values (about 2/3 of the bytes; lossy, see README)" };
        var cmd = new Command("create", "Write a NanoVDB snapshot of an adapter") { input, output, name, fp16 };
        cmd.SetAction(r =>
        {
            using var adapter = AdapterFile.Load(r.GetValue(input)!, r.GetValue(name));
            using var snap = AdapterSnapshot.Create(adapter, r.GetValue(fp16) ? SnapshotPrecision.Fp16 : SnapshotPrecision.Float32);
            snap.Save(r.GetValue(output)!);
            Console.WriteLine($"{r.GetValue(output)}: {snap}");
            return 0;
        });
        return cmd;
    }

    private static Command InfoCommand()
    {
        var file = new Argument<string>("snapshot") { Description = "a .nvdb snapshot file" };
        var cmd = new Command("info", "Check a snapshot file (header, CRC32C, NanoVDB structure) and show its modules") { file };
        cmd.SetAction(r =>
        {
            // Mapped, with every check a file from elsewhere gets (CRC32C over the whole file included).
            using var snap = AdapterSnapshot.Map(r.GetValue(file)!, verifyChecksum: true);
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(snap.Name)}[/]  base model {Markup.Escape(snap.BaseModel ?? "-")}  {snap.Precision}  " +
                                   $"{snap.ByteSize:N0} bytes of NanoVDB grid, {snap.LeafCount:N0} tiles, {snap.ActiveCount:N0} active weights");
            var table = new Table().AddColumns("module", "shape", "tiles stored", "of", "scale", "first slot");
            foreach (var m in snap.Modules)
                table.AddRow(Markup.Escape(m.Name), $"{m.Rows}x{m.Cols}", m.LeafCount.ToString("N0"), m.TileCount.ToString("N0"), m.Scale.ToString("G6"), m.SlotBase.ToString());
            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }
}
