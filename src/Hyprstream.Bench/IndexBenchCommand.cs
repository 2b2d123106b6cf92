using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Hyprstream.Runtime.Index;
using Spectre.Console;

namespace Hyprstream.Bench;

/// <summary>`hyprstream bench index`: synthetic clustered + Poincaré data, or TEXMEX files given with --base/--query.</summary>
internal static class IndexBenchCommand
{
    public static Command Create()
    {
        var baseFile = new Option<string?>("--base") { Description = "base vectors (.fvecs)" };
        var queryFile = new Option<string?>("--query") { Description = "query vectors (.fvecs)" };
        var gt = new Option<string?>("--groundtruth") { Description = "ground truth (.ivecs); computed by brute force when absent" };
        var metric = new Option<string>("--metric") { Description = "l2, cosine or poincare (for --base)", DefaultValueFactory = _ => "l2" };
        var m = new Option<int>("--M") { DefaultValueFactory = _ => 16, Description = "links per node" };
        var efc = new Option<int>("--ef-construction") { DefaultValueFactory = _ => 200, Description = "build candidate list" };
        var efs = new Option<string>("--ef") { DefaultValueFactory = _ => "10,20,40,80,160", Description = "comma-separated search ef values" };
        var n = new Option<int>("--n") { DefaultValueFactory = _ => 100_000, Description = "synthetic points per dataset" };
        var nq = new Option<int>("--queries") { DefaultValueFactory = _ => 1000, Description = "synthetic queries" };
        var int8 = new Option<bool>("--int8") { Description = "also run with int8-quantised vectors (l2/cosine)" };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => 128, Description = "dimensions of the clustered sets" };
        var sets = new Option<string>("--sets") { DefaultValueFactory = _ => "l2,cosine,poincare", Description = "synthetic sets: l2, cosine (clustered), poincare (ball ×16)" };
        var write = new Option<string?>("--write-data") { Description = "directory for the .fvecs/.ivecs files hnswlib reads (default: a temporary one, deleted after)" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var repeat = new Option<int>("--repeat") { DefaultValueFactory = _ => 5, Description = "timings per ef (ours and hnswlib alternating); medians are shown" };
        var cmd = new Command("index", "HNSW build time, memory, QPS and recall@10 vs brute force") { baseFile, queryFile, gt, metric, m, efc, efs, n, nq, dim, sets, int8, write, repeat, json };
        cmd.SetAction(r =>
        {
            bool asJson = r.GetValue(json);
            var efList = r.GetValue(efs)!.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToList();
            var p = new HnswParameters { M = r.GetValue(m), EfConstruction = r.GetValue(efc) };
            void Progress(string s) { if (!asJson) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(s)}[/]"); }
            var results = new List<IndexBenchmark.Result>();
            var runs = new List<(string Name, DistanceMetric Metric, double[][] Data, double[][] Queries, int[][]? Truth)>();
            if (r.GetValue(baseFile) is { } bf)
            {
                var q = r.GetValue(queryFile) ?? throw new ArgumentException("--base needs --query");
                var data = Fvecs.ReadFvecs(bf).Select(v => v.Select(x => (double)x).ToArray()).ToArray();
                var queries = Fvecs.ReadFvecs(q).Select(v => v.Select(x => (double)x).ToArray()).ToArray();
                if (data.Length == 0 || queries.Length == 0) throw new InvalidDataException("no vectors in the input files");
                var truth = r.GetValue(gt) is { } g ? Fvecs.ReadIvecs(g) : null;
                runs.Add((Path.GetFileName(bf), DistanceMetrics.Parse(r.GetValue(metric)!), data, queries, truth));
            }
            else
            {
                int count = r.GetValue(n), queries = r.GetValue(nq), d = r.GetValue(dim);
                foreach (var set in r.GetValue(sets)!.Split(','))
                {
                    if (set == "poincare") runs.Add(($"Poincaré ball {count / 1000}k×16", DistanceMetric.Poincare, IndexBenchmark.Ball(count, 16, 3), IndexBenchmark.Ball(queries, 16, 4), null));
                    else
                    {
                        var mt = DistanceMetrics.Parse(set);
                        runs.Add(($"clustered {count / 1000}k×{d} {mt.Name()}", mt, IndexBenchmark.Clustered(count, d, 100, 1), IndexBenchmark.Clustered(queries, d, 100, 2), null));
                    }
                }
            }
            var work = r.GetValue(write) ?? Path.Combine(Path.GetTempPath(), $"hyprstream-bench-index-{Environment.ProcessId}");
            try
            {
                foreach (var run in runs)
                {
                    var pr = run.Metric == DistanceMetric.Poincare ? p with { M = Math.Max(p.M, 24) } : p;
                    results.Add(IndexBenchmark.Run(run.Name, run.Metric, run.Data, run.Queries, run.Truth, pr, efList, Progress, work, Math.Max(1, r.GetValue(repeat))));
                    if (r.GetValue(int8) && run.Metric != DistanceMetric.Poincare)
                        results.Add(IndexBenchmark.Run(run.Name + " int8", run.Metric, run.Data, run.Queries, run.Truth, pr with { QuantizeInt8 = true }, efList, Progress, work, Math.Max(1, r.GetValue(repeat))));
                }
            }
            finally
            {
                if (r.GetValue(write) == null && Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
            static string Q(double x) => x.ToString("F0");
            static string Ratio(double ours, double? theirs) => theirs is > 0 ? (ours / theirs.Value).ToString("F2") : "—";
            foreach (var res in results)
            {
                var h = res.Hnswlib;
                AnsiConsole.MarkupLine(Markup.Escape($"{res.Dataset} ({res.Metric}, n={res.N:N0}, {res.Queries:N0} queries, M={res.M}, efC={res.EfConstruction}{(res.Int8 ? ", int8" : "")}): "
                    + $"build ours {res.BuildSeconds:F1} s (1 thread, one upsert at a time), {res.BuildAllSeconds:F1} s ({Environment.ProcessorCount} threads, bulk)"
                    + (h != null ? $", hnswlib {h.BuildSeconds:F1} s (1 thread, ratio {res.BuildSeconds / h.BuildSeconds:F2}), {h.BuildAllSeconds:F1} s ({h.Threads} threads, ratio {res.BuildAllSeconds / h.BuildAllSeconds:F2})" : "")
                    + $"; memory ours {res.MemoryBytes / 1e6:F1} MB" + (res.ExactVectorBytes > 0 ? $" + {res.ExactVectorBytes / 1e6:F1} MB re-rank floats" : "")
                    + (h != null ? $", hnswlib {h.MemoryBytes / 1e6:F1} MB (saved index)" : "") + $"; brute force {res.BruteForceQps1:F0} QPS"
                    + (res.HnswlibMissing != null ? $"; hnswlib: {res.HnswlibMissing}" : "")));
                var table = new Table().AddColumns("ef", "recall ours", "recall hnswlib", "QPS/query ours", "QPS/query hnswlib", "ratio",
                    "QPS batch ours", "QPS batch hnswlib", "ratio", "QPS all ours", "QPS all hnswlib", "ratio");
                foreach (var row in res.Rows)
                {
                    var x = row.Hnswlib;
                    table.AddRow(row.Ef.ToString(), row.Recall10.ToString("F3"), x?.Recall.ToString("F3") ?? "—",
                        Q(row.QpsQuery), x == null ? "—" : Q(x.QpsQuery), Ratio(row.QpsQuery, x?.QpsQuery),
                        Q(row.QpsBatch), x == null ? "—" : Q(x.QpsBatch), Ratio(row.QpsBatch, x?.QpsBatch),
                        Q(row.QpsAll), x == null ? "—" : Q(x.QpsAll), Ratio(row.QpsAll, x?.QpsAll));
                }
                AnsiConsole.Write(table);
            }
            AnsiConsole.MarkupLine($"[grey]{Environment.ProcessorCount} cores; QPS/query: one call per query (ours: AdapterIndex.Search; hnswlib: one knn_query from Python); batch: every query in one call, 1 thread; all: the batch on all cores. Memory ours = the vectors searches read + links; hnswlib = its saved index file.[/]");
            return 0;
        });
        return cmd;
    }
}
