using System.CommandLine;
using System.Diagnostics;
using Hyprstream.Replication;
using Hyprstream.Runtime.Store;
using Spectre.Console;

namespace Hyprstream.Bench;

/// <summary>
/// `hyprstream bench replicate`, the leader's part: acknowledged writes per second with no object store (the
/// baseline), with <c>--ack local</c> and with <c>--ack remote</c>, interleaved round by round in one run; the
/// acknowledgement latency; how far the bucket is behind when the writers stop and how long it takes to catch up;
/// bytes uploaded per acknowledged weight; the time a fresh node takes to serve its first adapter from the bucket.
/// Against a private single-node Ceph RGW (started and stopped here) unless <c>--object-store</c> names another.
/// </summary>
public static class ReplicateBenchmark
{
    public sealed record Row(string Mode, string Metric, double Value, string Unit, string Note = "");

    private const string Module = "m";
    private const int Rows = 1024, Cols = 1024;

    public static Command Create()
    {
        var at = new Option<string?>("--object-store") { Description = "s3://BUCKET/PREFIX to measure (credentials and endpoint: AWS_* variables, --s3-endpoint); default: a private Ceph RGW on loopback" };
        var endpoint = new Option<string?>("--s3-endpoint") { Description = "the object store's URL (with --object-store)" };
        var seconds = new Option<double>("--seconds") { Description = "seconds of writing per mode and round", DefaultValueFactory = _ => 3.0 };
        var writers = new Option<int>("--writers") { Description = "concurrent writers (each its own adapter)", DefaultValueFactory = _ => 8 };
        var weights = new Option<int>("--batch-weights") { Description = "weights per acknowledged batch", DefaultValueFactory = _ => 256 };
        var rounds = new Option<int>("--rounds") { Description = "rounds (each runs every mode once, interleaved)", DefaultValueFactory = _ => 2 };
        var dir = new Option<string>("--dir") { Description = "scratch directory", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "hyprstream-bench-replicate") };
        var cmd = new Command("replicate", "Object-store tier, leader side: acknowledged writes/s with no object store, --ack local and --ack remote; bucket lag and catch-up; bytes uploaded per weight; a fresh node's first adapter from the bucket")
            { at, endpoint, seconds, writers, weights, rounds, dir };
        cmd.SetAction(async (r, ct) =>
        {
            if (r.GetValue(seconds) <= 0 || r.GetValue(writers) < 1 || r.GetValue(weights) < 1 || r.GetValue(rounds) < 1)
                throw new ArgumentException("--seconds, --writers, --batch-weights and --rounds must be positive");
            var rows = await RunAsync(r.GetValue(at), r.GetValue(endpoint), r.GetValue(seconds), r.GetValue(writers), r.GetValue(weights), r.GetValue(rounds),
                r.GetValue(dir)!, msg => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(msg)}[/]"), ct);
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
            var table = new Table().AddColumns("mode", "metric", "value", "unit", "note");
            foreach (var row in rows)
                table.AddRow(Markup.Escape(row.Mode), Markup.Escape(row.Metric), row.Value.ToString(Math.Abs(row.Value) >= 100 ? "F0" : "F3"), row.Unit, Markup.Escape(row.Note));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape($"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; {r.GetValue(writers)} writers, {r.GetValue(weights)} weights per batch, {r.GetValue(seconds)} s per mode and round")}[/]");
            return 0;
        });
        return cmd;
    }

    public static async Task<List<Row>> RunAsync(string? objectStore, string? endpoint, double seconds, int writers, int batchWeights, int rounds,
        string scratch, Action<string> log, CancellationToken ct = default)
    {
        CephRgw? ceph = null;
        try
        {
            S3Uri root;
            ObjectStoreSettings settings;
            if (objectStore == null)
            {
                if (CephRgw.Unavailable() is { } why) throw new InvalidOperationException($"{why}; or pass --object-store s3://BUCKET/PREFIX to measure another object store");
                ceph = CephRgw.Start(log);
                settings = new ObjectStoreSettings { Endpoint = ceph.Endpoint, AccessKey = CephRgw.AccessKey, SecretKey = CephRgw.SecretKey };
                root = new S3Uri("bench-" + Guid.NewGuid().ToString("N")[..12], "replicate");
            }
            else
            {
                root = S3Uri.Parse(objectStore);
                settings = ObjectStoreSettings.FromEnvironment(endpoint);
            }
            using var bucket = new ObjectStore(root, settings);
            await bucket.EnsureBucketAsync(ct).ConfigureAwait(false);
            var rows = new List<Row>();
            var samples = new Dictionary<string, List<Run>>();
            for (int round = 0; round < rounds; round++)
                foreach (var mode in new[] { "none", "local", "remote" })
                {
                    var run = await RunModeAsync(bucket, root.Child($"r{round}-{mode}-{Guid.NewGuid().ToString("N")[..6]}"), mode, seconds, writers, batchWeights,
                        Path.Combine(scratch, Guid.NewGuid().ToString("N")[..8]), fresh: round == rounds - 1 && mode == "local", ct).ConfigureAwait(false);
                    log($"round {round + 1}, {Label(mode)}: {run.Batches / run.Seconds:F0} batches/s, ack p50 {Quantiles.Of(run.LatencyMs, 0.5):F2} ms");
                    (samples.TryGetValue(mode, out var l) ? l : samples[mode] = []).Add(run);
                }
            foreach (var (mode, runs) in samples)
            {
                var label = Label(mode);
                var note = $"median of {runs.Count} rounds";
                rows.Add(new(label, "acknowledged batches/s", Median(runs.Select(x => x.Batches / x.Seconds)), "1/s", note));
                rows.Add(new(label, "acknowledged weights/s", Median(runs.Select(x => x.Batches * (double)batchWeights / x.Seconds)), "1/s", note));
                var lat = runs.SelectMany(x => x.LatencyMs).ToArray();
                rows.Add(new(label, "ack latency p50", Quantiles.Of(lat, 0.5), "ms", "all rounds"));
                rows.Add(new(label, "ack latency p99", Quantiles.Of(lat, 0.99), "ms", "all rounds"));
                if (mode == "none") continue;
                rows.Add(new(label, "bucket behind when writes stop", Median(runs.Select(x => (double)x.LagRecords)), "records", note));
                rows.Add(new(label, "catch-up after writes stop", Median(runs.Select(x => x.CatchUpSeconds)), "s", note));
                rows.Add(new(label, "bytes uploaded per acknowledged weight", Median(runs.Select(x => x.BytesUploaded / Math.Max(1.0, x.Batches * (double)batchWeights))), "B", "objects in the bucket (chunks + manifest)"));
                rows.Add(new(label, "manifest commits per acknowledged batch", Median(runs.Select(x => x.Commits / Math.Max(1.0, x.Batches))), "", "chunks committed"));
                var fr = runs.SelectMany(x => x.FollowerRecords).ToArray();
                var fs = runs.SelectMany(x => x.FollowerSeconds).ToArray();
                if (fr.Length > 0)
                {
                    var sampled = $"{fr.Length} samples every 20 ms while writing, --poll-interval 100ms";
                    rows.Add(new(label, "follower lag p50", Quantiles.Of(fr, 0.5), "records", sampled));
                    rows.Add(new(label, "follower lag p99", Quantiles.Of(fr, 0.99), "records", sampled));
                    rows.Add(new(label, "follower lag p50", Quantiles.Of(fs, 0.5), "s", "age of the oldest record the follower lacks"));
                    rows.Add(new(label, "follower lag p99", Quantiles.Of(fs, 0.99), "s", "age of the oldest record the follower lacks"));
                }
                if (runs.FirstOrDefault(x => x.FreshNodeSeconds > 0) is { } f)
                {
                    rows.Add(new(label, "fresh node: restore + open + first adapter", f.FreshNodeSeconds, "s", $"{f.RestoredBytes / 1e6:F1} MB from the bucket"));
                }
            }
            return rows;
        }
        finally { ceph?.Dispose(); }
    }

    private static string Label(string mode) => mode switch { "none" => "no object store", "local" => "--ack local", _ => "--ack remote" };

    private static double Median(IEnumerable<double> v) => Quantiles.Of(v.ToArray(), 0.5);

    private sealed record Run(long Batches, double Seconds, double[] LatencyMs, ulong LagRecords, double CatchUpSeconds, long BytesUploaded, int Commits,
        double FreshNodeSeconds, long RestoredBytes)
    {
        /// <summary>A follower's lag samples while the writes ran (--ack local only): records and seconds behind.</summary>
        public double[] FollowerRecords { get; init; } = [];
        public double[] FollowerSeconds { get; init; } = [];
    }

    private static async Task<Run> RunModeAsync(ObjectStore bucket, S3Uri prefix, string mode, double seconds, int writers, int batchWeights, string dir,
        bool fresh, CancellationToken ct)
    {
        ReplicationLeader? leader = null;
        AdapterStore? store = null;
        try
        {
            var options = new LeaderOptions { Root = prefix, Store = bucket.Settings, AckRemote = mode == "remote" };
            if (mode != "none") leader = await ReplicationLeader.StartAsync(options, dir, ct).ConfigureAwait(false);
            store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
            leader?.Attach(store);
            for (int w = 0; w < writers; w++) store.Create($"w{w}", null, new AdapterBatch().DefineModule(Module, Rows, Cols));
            // With --ack local, a read replica follows (polling every 100 ms) and its lag is sampled while the writes run.
            await using var follower = mode == "local"
                ? await FollowerLag.StartAsync(bucket.At(prefix), store, dir + "-follower", TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false) : null;
            long batches = 0;
            var latencies = new List<double>[writers];
            var sw = Stopwatch.StartNew();
            var s = store;
            var threads = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
            {
                var rng = new Random(w);
                var mine = latencies[w] = [];
                var rows = new int[batchWeights];
                var cols = new int[batchWeights];
                var vals = new float[batchWeights];
                while (sw.Elapsed.TotalSeconds < seconds)
                {
                    for (int i = 0; i < batchWeights; i++) { rows[i] = rng.Next(Rows); cols[i] = rng.Next(Cols); vals[i] = (float)rng.NextDouble(); }
                    long t0 = Stopwatch.GetTimestamp();
                    s.Apply($"w{w}", new AdapterBatch().Set(Module, rows, cols, vals));
                    mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    Interlocked.Increment(ref batches);
                }
            }, ct)).ToArray();
            await Task.WhenAll(threads).ConfigureAwait(false);
            double elapsed = sw.Elapsed.TotalSeconds;
            var (followerRecords, followerSeconds) = follower != null ? await follower.StopAsync().ConfigureAwait(false) : ([], []);
            ulong lag = 0;
            double catchUp = 0;
            long uploaded = 0;
            int commits = 0;
            double freshSeconds = 0;
            long restoredBytes = 0;
            if (leader != null)
            {
                lag = store.LastSequence - Math.Min(store.LastSequence, leader.ShippedSequence);
                var c = Stopwatch.StartNew();
                while (leader.ShippedSequence < store.LastSequence)
                {
                    if (c.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"the leader did not catch up in 2 minutes: {leader.Stats()}");
                    await Task.Delay(5, ct).ConfigureAwait(false);
                }
                catchUp = c.Elapsed.TotalSeconds;
                using var at = bucket.At(prefix);
                uploaded = (await at.ListAsync("", ct: ct).ConfigureAwait(false)).Sum(o => o.Size);
                commits = leader.Stats().Chunks;
                await leader.DisposeAsync().ConfigureAwait(false);
                leader = null;
                if (fresh)
                {
                    var target = dir + "-fresh";
                    try
                    {
                        var f = Stopwatch.StartNew();
                        await using var next = await ReplicationLeader.StartAsync(options, target, ct).ConfigureAwait(false);
                        using var copy = AdapterStore.Open(target, new StoreOptions { CheckpointWalBytes = 0 });
                        next.Attach(copy);
                        using (copy.Get("w0")) freshSeconds = f.Elapsed.TotalSeconds;
                        restoredBytes = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(p => new FileInfo(p).Length);
                    }
                    finally { if (Directory.Exists(target)) Directory.Delete(target, recursive: true); }
                }
            }
            return new Run(batches, elapsed, latencies.SelectMany(l => l).ToArray(), lag, catchUp, uploaded, commits, freshSeconds, restoredBytes)
                { FollowerRecords = followerRecords, FollowerSeconds = followerSeconds };
        }
        finally
        {
            if (leader != null) await leader.DisposeAsync().ConfigureAwait(false);
            store?.Dispose();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
