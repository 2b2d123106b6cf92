using System.Diagnostics;
using Hyprstream.Runtime.Index;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench index`: build time, memory, QPS (1 thread and all cores) and recall@10 at several ef values,
/// against brute force in the same run — on synthetic clustered / Poincaré-ball data or on TEXMEX .fvecs files —
/// and hnswlib on the same files, interleaved ef by ef (see <see cref="HnswlibProcess"/>).
/// </summary>
internal static class IndexBenchmark
{
    public sealed record Result(string Dataset, string Metric, int N, int Dim, int Queries, int M, int EfConstruction, bool Int8,
        double BuildSeconds, double BuildAllSeconds, long MemoryBytes, long ExactVectorBytes, double BruteForceQps1, List<EfRow> Rows,
        HnswlibProcess.Head? Hnswlib, string? HnswlibMissing);

    /// <summary>One ef: ours (1 thread one call per query, 1 thread whole batch, all threads whole batch) and hnswlib's.</summary>
    public sealed record EfRow(int Ef, double Recall10, double QpsQuery, double QpsBatch, double QpsAll, HnswlibProcess.Row? Hnswlib);

    public static Result Run(string dataset, DistanceMetric metric, double[][] data, double[][] queries, int[][]? truth, HnswParameters p,
        IReadOnlyList<int> efs, Action<string> progress, string? workDir, int repeats = 5)
    {
        const int k = 10;
        progress($"{dataset}: building {data.Length:N0} × {data[0].Length} ({metric}, M={p.M}, efConstruction={p.EfConstruction}{(p.QuantizeInt8 ? ", int8" : "")})");
        var sw = Stopwatch.StartNew();
        using var index = AdapterIndex.CreateInMemory(data[0].Length, metric, p);
        for (int i = 0; i < data.Length; i++)
        {
            index.Upsert(i.ToString(), data[i]);
            if (i % 10000 == 9999) progress($"{dataset}: {i + 1:N0} inserted, {sw.Elapsed.TotalSeconds:F0} s");
        }
        double build = sw.Elapsed.TotalSeconds;
        progress($"{dataset}: bulk build on {Environment.ProcessorCount} threads (parallel insertion)");
        sw.Restart();
        using (AdapterIndex.BuildInMemory(data[0].Length, metric, p, data.Select((v, i) => (i.ToString(), v)).ToList(), Environment.ProcessorCount)) { }
        double buildAll = sw.Elapsed.TotalSeconds;
        var stats = index.Stats();
        long memory = stats.VectorBytesHot + stats.LinkBytes;

        progress($"{dataset}: brute-force ground truth for {queries.Length:N0} queries");
        sw.Restart();
        int bfTimed = Math.Min(queries.Length, 50);
        for (int i = 0; i < bfTimed; i++) index.SearchExact(queries[i], k);
        double bfQps = bfTimed / sw.Elapsed.TotalSeconds;
        truth ??= queries.AsParallel().AsOrdered().Select(q => index.SearchExact(q, k).Select(h => int.Parse(h.Adapter)).ToArray()).ToArray();

        // hnswlib has no Poincaré space and no int8 form: it runs beside the float L2/cosine sets only.
        HnswlibProcess? hnswlib = null;
        string? missing = metric == DistanceMetric.Poincare ? "hnswlib has no Poincaré space" : p.QuantizeInt8 ? "int8 run (hnswlib shown beside the float run)" : HnswlibProcess.Unavailable();
        if (missing == null && workDir != null)
        {
            Directory.CreateDirectory(workDir);
            string stem = Path.Combine(workDir, new string(dataset.Where(char.IsAsciiLetterOrDigit).ToArray()));
            Fvecs.WriteFvecs(stem + "_base.fvecs", data.Select(v => v.Select(x => (float)x).ToArray()));
            Fvecs.WriteFvecs(stem + "_query.fvecs", queries.Select(v => v.Select(x => (float)x).ToArray()));
            Fvecs.WriteIvecs(stem + "_truth.ivecs", truth);
            progress($"{dataset}: hnswlib builds on {stem}_base.fvecs (1 thread, then all threads)");
            hnswlib = HnswlibProcess.Start(stem + "_base.fvecs", stem + "_query.fvecs", stem + "_truth.ivecs", metric.Name(), p.M, p.EfConstruction);
        }
        else missing ??= "no work directory for the data files";

        // Each ef is timed `repeats` times, ours and hnswlib alternating, and the medians are reported: the machine is
        // shared, so a single short timing says more about the neighbours than about the index.
        var rows = new List<EfRow>();
        using (hnswlib)
            foreach (var ef in efs)
            {
                progress($"{dataset}: ef={ef}");
                var found = new IReadOnlyList<IndexHit>[queries.Length];
                var ours = new List<(double Query, double Batch, double All)>();
                var theirs = new List<HnswlibProcess.Row>();
                for (int rep = 0; rep < repeats; rep++)
                {
                    sw.Restart();
                    for (int i = 0; i < queries.Length; i++) found[i] = index.Search(queries[i], k, ef: ef);
                    double qpsQuery = queries.Length / sw.Elapsed.TotalSeconds;
                    sw.Restart();
                    index.SearchBatch(queries, k, ef, threads: 1);
                    double qpsBatch = queries.Length / sw.Elapsed.TotalSeconds;
                    sw.Restart();
                    index.SearchBatch(queries, k, ef, threads: Environment.ProcessorCount);
                    ours.Add((qpsQuery, qpsBatch, queries.Length / sw.Elapsed.TotalSeconds));
                    if (hnswlib != null) theirs.Add(hnswlib.Measure(ef));
                }
                int hit = 0, total = 0;
                for (int i = 0; i < queries.Length; i++)
                {
                    var t = truth[i].Take(k).ToHashSet();
                    hit += found[i].Count(h => t.Contains(int.Parse(h.Adapter)));
                    total += t.Count;
                }
                var h = hnswlib == null ? null : new HnswlibProcess.Row(theirs[0].Recall, Median(theirs.Select(x => x.QpsBatch)),
                    Median(theirs.Select(x => x.QpsQuery)), Median(theirs.Select(x => x.QpsAll)));
                rows.Add(new EfRow(ef, (double)hit / total, Median(ours.Select(x => x.Query)), Median(ours.Select(x => x.Batch)), Median(ours.Select(x => x.All)), h));
            }
        return new Result(dataset, metric.ToString(), data.Length, data[0].Length, queries.Length, p.M, p.EfConstruction, p.QuantizeInt8,
            build, buildAll, memory, p.QuantizeInt8 ? stats.VectorBytesExact : 0, bfQps, rows, hnswlib?.Built, missing);
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    /// <summary>Gaussian clusters (what embeddings of related adapters look like), as float32 values.</summary>
    public static double[][] Clustered(int n, int dim, int clusters, int seed, int centerSeed = 7)
    {
        var rng = new Random(seed);
        var crng = new Random(centerSeed);
        var centers = Enumerable.Range(0, clusters).Select(_ => Enumerable.Range(0, dim).Select(_ => crng.NextDouble() * 2 - 1).ToArray()).ToArray();
        return Enumerable.Range(0, n).Select(_ =>
        {
            var c = centers[rng.Next(clusters)];
            return c.Select(x => (double)(float)(x + Gauss(rng) * 0.1)).ToArray();
        }).ToArray();
    }

    /// <summary>Points in the Poincaré ball with norms spread towards the rim (deep hierarchies live there).</summary>
    public static double[][] Ball(int n, int dim, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var v = Enumerable.Range(0, dim).Select(_ => Gauss(rng)).ToArray();
            double norm = Math.Sqrt(v.Sum(x => x * x)), r = 0.99 * Math.Pow(rng.NextDouble(), 0.25);
            return v.Select(x => x / norm * r).ToArray();
        }).ToArray();
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
