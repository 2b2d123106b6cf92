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
        var write = new Option<string?>("--write-data") { Description = "write the synthetic data as .fvecs/.ivecs into this directory (for hnswlib)" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("index", "HNSW build time, memory, QPS and recall@10 vs brute force") { baseFile, queryFile, gt, metric, m, efc, efs, n, nq, int8, write, json };
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
                int count = r.GetValue(n), queries = r.GetValue(nq);
                runs.Add(($"clustered {count / 1000}k×128", DistanceMetric.L2, IndexBenchmark.Clustered(count, 128, 100, 1), IndexBenchmark.Clustered(queries, 128, 100, 2), null));
                runs.Add(($"Poincaré ball {count / 1000}k×16", DistanceMetric.Poincare, IndexBenchmark.Ball(count, 16, 3), IndexBenchmark.Ball(queries, 16, 4), null));
                if (r.GetValue(write) is { } dir)
                {
                    Directory.CreateDirectory(dir);
                    Fvecs.WriteFvecs(Path.Combine(dir, "clustered_base.fvecs"), runs[0].Data.Select(v => v.Select(x => (float)x).ToArray()));
                    Fvecs.WriteFvecs(Path.Combine(dir, "clustered_query.fvecs"), runs[0].Queries.Select(v => v.Select(x => (float)x).ToArray()));
                    Progress($"wrote {dir}/clustered_base.fvecs and clustered_query.fvecs");
                }
            }
            foreach (var run in runs)
            {
                var pr = run.Metric == DistanceMetric.Poincare ? p with { M = Math.Max(p.M, 24) } : p;
                results.Add(IndexBenchmark.Run(run.Name, run.Metric, run.Data, run.Queries, run.Truth, pr, efList, Progress));
                if (r.GetValue(int8) && run.Metric != DistanceMetric.Poincare)
                    results.Add(IndexBenchmark.Run(run.Name + " int8", run.Metric, run.Data, run.Queries, run.Truth, pr with { QuantizeInt8 = true }, efList, Progress));
            }
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
            var table = new Table().AddColumns("dataset", "metric", "M/efC", "build s", "walk memory MB", "+ re-rank floats MB", "ef", "recall@10", "QPS 1 thread", "QPS all cores", "brute force QPS 1 thread");
            foreach (var res in results)
                foreach (var row in res.Rows)
                    table.AddRow(Markup.Escape(res.Dataset), res.Metric, $"{res.M}/{res.EfConstruction}", res.BuildSeconds.ToString("F1"),
                        (res.MemoryBytes / 1e6).ToString("F1"), (res.ExactVectorBytes / 1e6).ToString("F1"), row.Ef.ToString(), row.Recall10.ToString("F3"), row.Qps1.ToString("F0"),
                        row.QpsAll.ToString("F0"), res.BruteForceQps1.ToString("F0"));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Environment.ProcessorCount} cores; walk memory = the vectors searches read (int8 codes or floats) + links; int8 runs also keep float vectors in RAM to re-rank[/]");
            return 0;
        });
        return cmd;
    }
}
