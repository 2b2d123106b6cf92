using System.Collections.Concurrent;
using System.Diagnostics;
using Hyprstream.Runtime.Store;
using Child = Hyprstream.TestChild.Program;

namespace Hyprstream.Tests;

/// <summary>
/// Crash safety of <see cref="AdapterStore"/>: a child process streams acknowledged batches from several threads
/// (with background snapshots) and is SIGKILLed at random points, again and again. After every kill the store must
/// open without repair, hold every acknowledged batch exactly once, and hold any other batch whole or not at all.
/// </summary>
[TestFixture]
public sealed class StoreCrashTests
{
    private const int Threads = 3;

    private sealed class StreamChild : IDisposable
    {
        private readonly Process _p;
        private readonly ConcurrentQueue<string> _stderr = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly ConcurrentBag<(int Thread, long Batch)> Acks = [];

        public StreamChild(params string[] args)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "Hyprstream.TestChild.dll");
            var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            psi.ArgumentList.Add("store-stream");
            foreach (var a in args) psi.ArgumentList.Add(a);
            _p = new Process { StartInfo = psi };
            _p.OutputDataReceived += (_, e) =>
            {
                if (e.Data == null) { _ready.TrySetException(new InvalidOperationException("child closed stdout before 'ready'")); return; }
                if (e.Data == "ready") _ready.TrySetResult();
                else if (e.Data.StartsWith("ack ", StringComparison.Ordinal))
                {
                    var parts = e.Data.Split(' ');
                    Acks.Add((int.Parse(parts[1]), long.Parse(parts[2])));
                }
            };
            _p.ErrorDataReceived += (_, e) => { if (e.Data != null) _stderr.Enqueue(e.Data); };
            _p.Start();
            _p.BeginOutputReadLine();
            _p.BeginErrorReadLine();
        }

        public string Errors => string.Join('\n', _stderr);
        public bool HasExited => _p.HasExited;

        public void WaitReady()
        {
            try { Assert.That(_ready.Task.Wait(TimeSpan.FromSeconds(60)), Is.True, "child not ready in 60 s\n" + Errors); }
            catch (AggregateException e) { _p.WaitForExit(5000); Assert.Fail($"child failed before 'ready': {e.InnerException?.Message}\n{Errors}"); }
        }

        public void Kill()
        {
            Assert.That(_p.HasExited, Is.False, "child died on its own:\n" + Errors);
            _p.Kill(entireProcessTree: true);
            Assert.That(_p.WaitForExit(30_000), Is.True);
            _p.WaitForExit(); // drain the stdout reader: every "ack" line printed before the kill is now in Acks
        }

        public void Dispose()
        {
            try { if (!_p.HasExited) _p.Kill(true); } catch (InvalidOperationException) { }
            _p.Dispose();
        }

        private static string DotnetHost()
        {
            var self = Environment.ProcessPath;
            if (self != null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
        }
    }

    [Test]
    public void SigkillDuringStreamingUpdates_LosesNoAcknowledgedBatch_AndNeverHalfABatch()
    {
        using var dir = new TempDir();
        var rng = new Random(20261121);
        var acked = Enumerable.Range(0, Threads).Select(_ => new HashSet<long>()).ToArray();
        int kills = 0, dropped = 0;
        var sw = Stopwatch.StartNew();
        for (int round = 0; round < 22; round++)
        {
            // Alternate the fsync policy and a tiny L1 budget (evictions + write-back snapshots) with roomy ones.
            var fsync = round % 3 == 0 ? "always" : "batch(2)";
            var l1 = round % 2 == 0 ? (4L << 20).ToString() : (256L << 20).ToString();
            using (var child = new StreamChild(dir.Path, Threads.ToString(), fsync, (96 << 10).ToString(), l1, round.ToString()))
            {
                child.WaitReady();
                // The kill point is random in acknowledged batches, not in milliseconds: a loaded machine that streams
                // slowly still kills mid-stream with work done. The 60 s limit only guards against a stuck child.
                int killAfter = rng.Next(20, 200);
                var guard = Stopwatch.StartNew();
                while (child.Acks.Count < killAfter)
                {
                    if (child.HasExited || guard.Elapsed > TimeSpan.FromSeconds(60))
                        Assert.Fail($"round {round}: {child.Acks.Count} of {killAfter} batches acknowledged before the hang guard; exited: {child.HasExited}\n{child.Errors}");
                    Thread.Sleep(1);
                }
                // Every fourth round also waits for a checkpoint the child completed (a loaded machine may otherwise
                // kill every round before its background checkpointer finishes one), so the rounds after it recover
                // from a checkpoint plus the WAL, not only from the WAL.
                if (round % 4 == 3)
                    while (!CheckpointCompleted(dir.Path))
                    {
                        if (child.HasExited || guard.Elapsed > TimeSpan.FromSeconds(60))
                            Assert.Fail($"round {round}: no checkpoint completed before the hang guard; exited: {child.HasExited}\n{child.Errors}");
                        Thread.Sleep(5);
                    }
                child.Kill();
                kills++;
                foreach (var (t, n) in child.Acks) acked[t].Add(n);
            }
            using var store = AdapterStore.Open(dir.Path);
            if (store.Recovery.DroppedBytes > 0) dropped++;
            for (int t = 0; t < Threads; t++) Verify(store, t, acked[t]);
        }
        TestContext.Out.WriteLine($"{kills} kills, {acked.Sum(a => a.Count)} acknowledged batches, {dropped} recoveries cut a torn tail, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.That(kills, Is.GreaterThanOrEqualTo(20));
        // The background snapshotter ran while the child was being killed: snapshots exist and the manifest names them.
        Assert.That(Directory.GetFiles(Path.Combine(dir.Path, AdapterStore.CheckpointFolder), "*.vdb"), Is.Not.Empty);
        Assert.That(StoreManifest.Read(dir.Path).WalSegment, Is.GreaterThan(1), "no checkpoint ever completed");
        Assert.That(acked.Sum(a => a.Count), Is.GreaterThan(100), "the child acknowledged too few batches for the test to mean anything");
    }

    private static bool CheckpointCompleted(string dir)
    {
        try
        {
            return Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder), "*.vdb").Length > 0
                && StoreManifest.Read(dir).WalSegment > 1;
        }
        catch (IOException) { return false; }   // the manifest is being replaced, or the folder made
    }

    private static void Verify(AdapterStore store, int thread, HashSet<long> acked)
    {
        long max = acked.Count == 0 ? 0 : acked.Max();
        var problems = store.Read(Child.StreamAdapter(thread), a =>
        {
            var m = a.Modules[Child.StreamModule];
            var found = new List<string>();
            for (long n = 0; n <= max + 2; n++)
            {
                int present = 0;
                for (int i = 0; i < Child.StreamBatchWeights; i++)
                {
                    var (r, c) = Child.StreamCoord(n, i);
                    if (!m.IsActive(r, c)) continue;
                    float want = Child.StreamValue(thread, n, i) + 0.5f;
                    if (m.Get(r, c) != want) found.Add($"thread {thread} batch {n} weight {i}: {m.Get(r, c)} != {want} (applied twice or torn)");
                    present++;
                }
                if (acked.Contains(n) && present != Child.StreamBatchWeights) found.Add($"thread {thread} batch {n} was acknowledged but {present}/{Child.StreamBatchWeights} weights are present");
                else if (present != 0 && present != Child.StreamBatchWeights) found.Add($"thread {thread} batch {n} is half present ({present})");
                if (found.Count > 5) break;
            }
            return found;
        });
        Assert.That(problems, Is.Empty);
    }
}
