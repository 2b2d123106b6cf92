using System.CommandLine;
using System.Text.Json;
using Hyprstream.Server.Bench;
using Spectre.Console;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream bench …`: benchmarks that print their numbers (never timed assertions).</summary>
internal static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Run a benchmark and print its measurements");
        bench.Subcommands.Add(Storage());
        bench.Subcommands.Add(Apply());
        return bench;
    }

    private static Command Apply()
    {
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto (HYPRSTREAM_DEVICE, else CUDA when present)", DefaultValueFactory = _ => "auto" };
        var layers = new Option<int>("--layers") { Description = "Qwen3-1.7B layers in the adapter", DefaultValueFactory = _ => 28 };
        var density = new Option<double>("--density") { Description = "fraction of 8x64 tiles kept", DefaultValueFactory = _ => 0.01 };
        var batches = new Option<string>("--batches") { Description = "token batch sizes, comma-separated", DefaultValueFactory = _ => "1,4,16,64" };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var cmd = new Command("apply", "Sparse GEMM vs dense GEMM of the same shape, and full-adapter switch in/out (CPU or CUDA)") { device, layers, density, batches, json };
        cmd.SetAction(r =>
        {
            var kind = SelfTestCommand.ParseDevice(r.GetValue(device)!);
            var sizes = r.GetValue(batches)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
            if (sizes.Any(b => b is < 1 or > 4096)) throw new ArgumentException("--batches: each batch must be 1..4096");
            bool asJson = r.GetValue(json);
            var rows = ApplyBenchmark.Run(kind, r.GetValue(layers), r.GetValue(density), sizes,
                msg => { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"); });
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 180;
            var table = new Table().AddColumns("device", "metric", "shape", "batch", "value", "unit", "baseline (ms)", "baseline / sparse", "target");
            foreach (var row in rows)
                table.AddRow(row.Device, Markup.Escape(row.Metric), row.Shape, row.Batch == 0 ? "" : row.Batch.ToString(), Format(row.Value, row.Unit), row.Unit,
                    row.Baseline is { } b ? Format(b, "ms") : "", row.Ratio is { } q ? $"{q:F1}x" : "", Markup.Escape(row.Target ?? ""));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command Storage()
    {
        var layers = new Option<int>("--layers") { Description = "Qwen3-1.7B layers for the tile-structured run", DefaultValueFactory = _ => 28 };
        var unstructured = new Option<int>("--unstructured-layers") { Description = "layers for the unstructured run (each 1% weight costs a tile; 0 skips it)", DefaultValueFactory = _ => 2 };
        var density = new Option<double>("--density") { Description = "fraction of weights kept", DefaultValueFactory = _ => 0.01 };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var dir = new Option<string?>("--dir") { Description = "keep the written .vdb files in this directory (default: a temp dir, removed afterwards)" };
        var cmd = new Command("storage", "Batch update, memory, disk and load of a Qwen3-1.7B-shaped sparse adapter vs a Dictionary") { layers, unstructured, density, json, dir };
        cmd.SetAction(r =>
        {
            var work = r.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), $"hyprstream-bench-{Environment.ProcessId}");
            bool asJson = r.GetValue(json);
            try
            {
                var rows = StorageBenchmark.Run(r.GetValue(layers), r.GetValue(unstructured), r.GetValue(density), work, keepFiles: r.GetValue(dir) != null,
                    msg => { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"); });
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                    return 0;
                }
                if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
                var table = new Table().AddColumns("structure", "weights", "metric", "value", "unit", "target");
                foreach (var row in rows)
                    table.AddRow(Markup.Escape(row.Structure), row.Weights.ToString("N0"), Markup.Escape(row.Metric), Format(row.Value, row.Unit),
                        row.Unit, Markup.Escape(row.Target ?? ""));
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
                return 0;
            }
            finally
            {
                if (r.GetValue(dir) == null && Directory.Exists(work)) Directory.Delete(work, true);
            }
        });
        return cmd;
    }

    internal static string Format(double v, string unit) => unit switch
    {
        "weights/s" => $"{v / 1e6:F1} M",
        "ms" => v.ToString(v >= 100 ? "F0" : v >= 1 ? "F2" : "F4"),
        _ => v.ToString(v >= 100 ? "F0" : "F2"),
    };
}
