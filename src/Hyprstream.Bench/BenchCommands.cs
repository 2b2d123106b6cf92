using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Bench;

/// <summary>`hyprstream bench …`: benchmarks that print their numbers (never timed assertions).</summary>
public static class BenchCommands
{
    /// <summary>The `bench` command; <paramref name="flightTarget"/> starts the service `bench flight` measures.</summary>
    public static Command Create(FlightTargetFactory flightTarget)
    {
        var bench = new Command("bench", "Run a benchmark and print its measurements");
        bench.Subcommands.Add(Storage());
        bench.Subcommands.Add(Switch());
        bench.Subcommands.Add(IndexBenchCommand.Create());
        bench.Subcommands.Add(Flight(flightTarget));
        bench.Subcommands.Add(Apply());
        bench.Subcommands.Add(Store());
        bench.Subcommands.Add(MetricsExporters());
        bench.Subcommands.Add(ReplicateBenchmark.Create());
        return bench;
    }

    private static Command MetricsExporters()
    {
        var events = new Option<int>("--events") { Description = "Flight call ends recorded per run", DefaultValueFactory = _ => 2_000_000 };
        var threads = new Option<int>("--threads") { Description = "threads recording at once", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("metrics", "Prometheus exporters compared: the hot-path cost of OpenTelemetry's and prometheus-net's, against no listener") { events, threads };
        cmd.SetAction(r =>
        {
            int n = r.GetValue(events), t = r.GetValue(threads);
            if (n < 1000 || t < 1) throw new ArgumentException("--events must be at least 1000 and --threads at least 1");
            var rows = MetricsExporterBenchmark.Run(n, t, msg => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"));
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
            var table = new Table().AddColumns("exporter", "metric", "value", "unit");
            foreach (var row in rows) table.AddRow(Markup.Escape(row.Exporter), Markup.Escape(row.Metric), row.Value.ToString(row.Value >= 100 ? "F0" : "F1"), row.Unit);
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command Store()
    {
        var dir = new Option<string>("--dir") { Description = "scratch directory (its disk is what fsync measures)", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "hyprstream-bench-store") };
        var seconds = new Option<double>("--seconds") { Description = "seconds per throughput run", DefaultValueFactory = _ => 2.0 };
        var weights = new Option<int>("--batch-weights") { Description = "weights per acknowledged batch", DefaultValueFactory = _ => 1024 };
        var writers = new Option<string>("--writers") { Description = "writer counts, comma-separated", DefaultValueFactory = _ => "1,4,16" };
        var recovery = new Option<int>("--recovery-mb") { Description = "MB of WAL to write and replay", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "Qwen3-1.7B layers in the tier-latency adapter", DefaultValueFactory = _ => 28 };
        var density = new Option<double>("--density") { Description = "fraction of 8x64 tiles kept", DefaultValueFactory = _ => 0.01 };
        var samples = new Option<int>("--samples") { Description = "reads per slow tier (L2, L3, snapshot)", DefaultValueFactory = _ => 20 };
        var sections = new Option<string>("--sections") { Description = "sections to run, comma-separated: throughput, recovery, lookup, tiers, cold, trace", DefaultValueFactory = _ => "throughput,recovery,lookup,tiers,cold,trace" };
        var traceAdapters = new Option<int>("--trace-adapters") { Description = "adapters in the switching trace", DefaultValueFactory = _ => 200 };
        var traceAccesses = new Option<int>("--trace-accesses") { Description = "Zipf-distributed accesses in the switching trace", DefaultValueFactory = _ => 2000 };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var cmd = new Command("store", "Adapter store: acknowledged update throughput per fsync policy, recovery rate, cache tier latency, cold start per tier, a switching trace, compression ratios")
            { dir, seconds, weights, writers, recovery, layers, density, samples, sections, traceAdapters, traceAccesses, json };
        cmd.SetAction(r =>
        {
            bool asJson = r.GetValue(json);
            var settings = new StoreBenchmark.Settings(r.GetValue(dir)!, r.GetValue(seconds), r.GetValue(weights),
                r.GetValue(writers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray(),
                r.GetValue(recovery), r.GetValue(layers), r.GetValue(density), r.GetValue(samples))
            {
                Sections = r.GetValue(sections)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
                TraceAdapters = r.GetValue(traceAdapters),
                TraceAccesses = r.GetValue(traceAccesses),
            };
            var rows = StoreBenchmark.Run(settings, msg => { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"); });
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
            var table = new Table().AddColumns("section", "metric", "value", "unit", "note");
            foreach (var row in rows)
                table.AddRow(row.Section, Markup.Escape(row.Metric), Format(row.Value, row.Unit), row.Unit, Markup.Escape(row.Note));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
            return 0;
        });
        return cmd;
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
            var kind = ApplyBackends.Parse(r.GetValue(device)!);
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

    private static Command Switch()
    {
        var layers = new Option<int>("--layers") { Description = "Qwen3-1.7B layers (28 = the whole model, 5.6 GB of float32 base weights)", DefaultValueFactory = _ => 28 };
        var density = new Option<double>("--density") { Description = "fraction of weights in the sparse adapter (whole 8x64 tiles)", DefaultValueFactory = _ => 0.01 };
        var rank = new Option<int>("--rank") { Description = "rank of the LoRA baseline", DefaultValueFactory = _ => 16 };
        var repeats = new Option<int>("--repeats") { Description = "switch repetitions (the LoRA side runs min(repeats, 3))", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var cmd = new Command("switch", "Switch a 1% tile adapter in/out of Qwen3-1.7B-shaped base weights vs merging a rank-16 LoRA (W += B·A)") { layers, density, rank, repeats, json };
        cmd.SetAction(r =>
        {
            bool asJson = r.GetValue(json);
            int l = r.GetValue(layers);
            if (l <= 0 || l > 28) throw new ArgumentException($"--layers must be 1..28, got {l}");
            if (r.GetValue(rank) <= 0 || r.GetValue(repeats) <= 0) throw new ArgumentException("--rank and --repeats must be positive");
            var rows = SwitchBenchmark.Run(l, r.GetValue(density), r.GetValue(rank), r.GetValue(repeats),
                msg => { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"); });
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
            var table = new Table().AddColumns("metric", "value", "unit", "note");
            foreach (var row in rows)
                table.AddRow(Markup.Escape(row.Metric), row.Unit switch { "weights" => row.Value.ToString("N0"), "x" => row.Value.ToString("F1"), _ => Format(row.Value, row.Unit) },
                    row.Unit, Markup.Escape(row.Note ?? ""));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores (one thread used), " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command Flight(FlightTargetFactory flightTarget)
    {
        var layers = new Option<int>("--layers") { Description = "Qwen3-1.7B layers in the adapter", DefaultValueFactory = _ => 28 };
        var density = new Option<double>("--density") { Description = "fraction of weights kept (tile-structured)", DefaultValueFactory = _ => 0.01 };
        var node = new Option<bool>("--node") { Description = "also measure DoGet and DoPut with the Node apache-arrow client (needs npm ci in tests/interop)", DefaultValueFactory = _ => true };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table" };
        var batchRows = new Option<int>("--batch-rows") { Description = "most rows per DoGet record batch (the server's setting)", DefaultValueFactory = _ => 16384 };
        var tilesOnly = new Option<bool>("--tiles-only") { Description = "measure only the tile transfers (DoGet float32/float16, durable DoPut), 5 passes each, without the row forms, the metrics comparison or Node: for profiling" };
        var cmd = new Command("flight", "DoGet/DoPut throughput on loopback for a Qwen3-1.7B-shaped 1% adapter") { layers, density, node, json, batchRows, tilesOnly };
        cmd.SetAction(async (r, ct) =>
        {
            var work = Path.Combine(Path.GetTempPath(), $"hyprstream-bench-flight-{Environment.ProcessId}");
            bool asJson = r.GetValue(json);
            string? script = null;
            if (r.GetValue(node))
            {
                var candidate = FindUp("tests/interop/bench_node.mjs");
                if (candidate != null && Directory.Exists(Path.Combine(Path.GetDirectoryName(candidate)!, "node_modules", "apache-arrow"))) script = candidate;
                else if (!asJson) AnsiConsole.MarkupLine("[yellow]tests/interop is not installed (npm ci): skipping the Node client[/]");
            }
            try
            {
                if (r.GetValue(tilesOnly)) script = null;
                var rows = await FlightBenchmark.RunAsync(flightTarget, r.GetValue(layers), r.GetValue(density), r.GetValue(batchRows), work, script, r.GetValue(tilesOnly),
                    msg => { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"); });
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                    return 0;
                }
                if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
                var table = new Table().AddColumns("client", "metric", "value", "unit", "target");
                foreach (var row in rows)
                    table.AddRow(Markup.Escape(row.Client), Markup.Escape(row.Metric), Format(row.Value, row.Unit), row.Unit, Markup.Escape(row.Target ?? ""));
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"[grey]{Markup.Escape(Environment.ProcessorCount + " cores, " + System.Runtime.InteropServices.RuntimeInformation.OSDescription)}[/]");
                return 0;
            }
            finally
            {
                if (Directory.Exists(work)) Directory.Delete(work, true);
            }
        });
        return cmd;
    }

    /// <summary>A repository file above the working directory or the binary, or null.</summary>
    private static string? FindUp(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        return null;
    }

    internal static string Format(double v, string unit) => unit switch
    {
        "weights/s" => $"{v / 1e6:F1} M",
        "ms" => v.ToString(v >= 100 ? "F0" : v >= 1 ? "F2" : "F4"),
        _ => v.ToString(v >= 100 ? "F0" : "F2"),
    };
}
