using System.CommandLine;
using System.Text.Json;
using Hyprstream.Replication;
using Hyprstream.Runtime;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream info file.vdb`: adapter metadata and module table, read without loading weights.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "an adapter .vdb file, or its s3://bucket/key address", Arity = ArgumentArity.ZeroOrOne };
        var endpoint = ObjectStoreOption.Create();
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var store = new Option<string?>("--store") { Description = "an adapter store directory: recovery, WAL, snapshots and cache tiers" };
        var cmd = new Command("info", "Show an adapter file's metadata and module table (weights are not loaded), or a store's state") { file, json, store, endpoint };
        cmd.SetAction(r =>
        {
            if (r.GetValue(store) is { } dir) return StoreInfo.Print(dir, r.GetValue(json));
            if (r.GetValue(file) is null) throw new ArgumentException("give an adapter file or --store DIR");
            var path = r.GetValue(file)!;
            AdapterFileInfo info;
            if (S3Uri.IsS3(path))
            {
                using var download = AdapterSources.FileAsync(S3Uri.Parse(path), ObjectStoreOption.Settings(r, endpoint)).GetAwaiter().GetResult();
                info = AdapterFile.ReadInfo(download.Path) with { Path = path };
            }
            else info = AdapterFile.ReadInfo(path);
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(info.Path)}[/]  {info.SizeBytes:N0} bytes on disk");
            foreach (var a in info.Adapters)
            {
                AnsiConsole.MarkupLine($"adapter [bold]{Markup.Escape(a.Name)}[/]  base model {Markup.Escape(a.BaseModel ?? "-")}  " +
                                       $"mapping {a.Mapping} v{a.MappingVersion}  {(a.SavedAsHalf ? "half" : "float32")}");
                AnsiConsole.MarkupLine($"  {a.ActiveCount:N0} active weights of {a.TotalWeights:N0} (density {a.Density:P3}), " +
                                       $"{a.MemoryBytes:N0} bytes in memory when loaded ({(double)a.MemoryBytes / Math.Max(1, a.ActiveCount):F2} B/weight), " +
                                       $"{(double)info.SizeBytes / Math.Max(1, a.ActiveCount):F2} B/weight on disk");
                foreach (var (k, v) in a.Provenance) AnsiConsole.MarkupLine($"  provenance {Markup.Escape(k)} = {Markup.Escape(v)}");
                foreach (var (k, v) in a.Metadata) AnsiConsole.MarkupLine($"  metadata {Markup.Escape(k)} = {Markup.Escape(v)}");
                var table = new Table().AddColumns("layer", "module", "shape", "active", "density", "scale");
                foreach (var m in a.Modules)
                    table.AddRow(m.Layer.ToString(), Markup.Escape(m.Name), $"{m.Rows}x{m.Cols}", m.ActiveCount.ToString("N0"), m.Density.ToString("P3"), m.Scale.ToString("G6"));
                AnsiConsole.Write(table);
            }
            foreach (var g in info.OtherGrids) AnsiConsole.MarkupLine($"[grey]grid {Markup.Escape(g)}: not an adapter[/]");
            return 0;
        });
        return cmd;
    }
}
