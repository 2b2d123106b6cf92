using System.Diagnostics.Metrics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// The Runtime's instruments read through a plain MeterListener (no exporter): a store's gauges and counters agree
/// with its own Stats(), fsyncs and checkpoints are timed, nothing is published unless asked for, and the CPU apply
/// kernels are counted by kernel and backend.
/// </summary>
public class StoreMetricsTests
{
    /// <summary>Every measurement of the meter's instruments: name → (labels → value), observable ones collected once.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        public readonly Dictionary<string, Dictionary<string, double>> Values = new();

        public Recorder(string meter)
        {
            _listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == meter) l.EnableMeasurementEvents(i); };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var key = string.Join(",", tags.ToArray().OrderBy(t => t.Key).Select(t => $"{t.Key}={t.Value}"));
            lock (Values)
            {
                var d = Values.TryGetValue(i.Name, out var x) ? x : Values[i.Name] = new();
                // Observable instruments report totals; others are summed here (histograms: their count).
                d[key] = i.GetType().Name.StartsWith("Observable", StringComparison.Ordinal) ? v : d.GetValueOrDefault(key) + (i is Histogram<double> ? 1 : v);
            }
        }

        public Dictionary<string, Dictionary<string, double>> Collect()
        {
            _listener.RecordObservableInstruments();
            return Values;
        }

        public void Dispose() => _listener.Dispose();
    }

    [Test]
    public void StoreInstruments_AgreeWithStats_AndTimeFsyncsAndCheckpoints()
    {
        using var dir = new TempDir();
        using var rec = new Recorder(StoreMetrics.MeterName);
        using var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always, Metrics = true });
        store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [1, 2, 3], [2, 3, 4], [3f, 4f, 5f]));
        store.Apply("a", new AdapterBatch().Set("m", [5], [6], [1f]));
        store.Info("a");
        store.Checkpoint();
        var st = store.Stats();
        var v = rec.Collect();
        Assert.Multiple(() =>
        {
            Assert.That(v["hyprstream.store.adapters"][""], Is.EqualTo(1));
            Assert.That(v["hyprstream.store.active_weights"][""], Is.EqualTo(4));
            Assert.That(v["hyprstream.store.sparsity.ratio"][""], Is.EqualTo(1 - 4.0 / 512).Within(1e-12));
            Assert.That(v["hyprstream.wal.appends"][""], Is.EqualTo(st.WalRecordsAppended));
            Assert.That(v["hyprstream.wal.appended"][""], Is.EqualTo(st.WalBytesAppended));
            Assert.That(v["hyprstream.wal.fsyncs"][""], Is.EqualTo(st.Fsyncs).And.GreaterThanOrEqualTo(2));
            Assert.That(v["hyprstream.wal.fsync.duration"][""], Is.EqualTo(st.Fsyncs), "one latency per fsync");
            Assert.That(v["hyprstream.checkpoints"][""], Is.EqualTo(1));
            Assert.That(v["hyprstream.checkpoint.duration"]["outcome=ok"], Is.EqualTo(1));
            Assert.That(v["hyprstream.cache.lookups"][""], Is.EqualTo(st.Cache.Lookups));
            Assert.That(v["hyprstream.cache.resident"]["tier=L1"], Is.EqualTo(st.Cache[CacheTier.L1].ResidentBytes));
            Assert.That(v["hyprstream.cache.budget"]["tier=L3"], Is.EqualTo(st.Cache[CacheTier.L3].BudgetBytes));
            Assert.That(v["hyprstream.store.disk"]["kind=checkpoint"], Is.EqualTo(st.CheckpointBytes).And.GreaterThan(0));
            Assert.That(v.Keys.SelectMany(k => v[k].Keys).Any(labels => labels.Contains('a') && labels.Contains("=a")), Is.False, "no adapter name as a label");
        });
    }

    [Test]
    public void Checkpoints_AreReported_FailuresWithTheirCountInARow_AndWhetherWritesAreRefused_LoggedOnceNotTwice()
    {
        using var dir = new TempDir();
        var reports = new List<CheckpointReport>();
        var logged = new List<string>();
        using var store = AdapterStore.Open(dir.Path, new StoreOptions
        {
            CheckpointWalBytes = 0, CheckpointFailuresBeforeRefusing = 2,
            Checkpointed = r => { lock (reports) reports.Add(r); },
            Log = m => { lock (logged) logged.Add(m); },
        });
        store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [1], [2], [3f]));
        // A real failure: the checkpoints folder replaced by a file.
        var folder = System.IO.Path.Combine(dir.Path, AdapterStore.CheckpointFolder);
        Directory.Delete(folder);
        File.WriteAllText(folder, "not a folder");
        Assert.Throws(Is.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>(), store.Checkpoint);
        Assert.Catch(store.Checkpoint);
        Assert.That(store.CheckpointFailuresInARow, Is.EqualTo(2));
        File.Delete(folder);
        Directory.CreateDirectory(folder);
        store.Checkpoint();
        Assert.That(reports.Select(r => (r.Ok, r.FailuresInARow)), Is.EqualTo(new[] { (false, 1), (false, 2), (true, 0) }));
        Assert.That(reports[2].Adapters, Is.EqualTo(1));
        Assert.That(reports[2].Checkpoints, Is.EqualTo(1));
        Assert.That(store.CheckpointFailuresInARow, Is.Zero);
        Assert.That(reports.Select(r => (r.WritesRefused, r.StartsRefusing)), Is.EqualTo(new[] { (false, false), (true, true), (false, false) }));
        Assert.That((reports[2].FailuresBefore, reports[2].WritesAcceptedAgain), Is.EqualTo((2, true)));
        Assert.That(logged, Has.None.Contains("CHECKPOINT FAILED").And.None.Contains("accepted again"),
            "with a Checkpointed callback (the service's log), the store writes no line of its own for checkpoints");
    }

    [Test]
    public void StoreWithoutMetrics_PublishesNothing()
    {
        using var dir = new TempDir();
        using var rec = new Recorder(StoreMetrics.MeterName);
        using var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 });
        store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [1], [2], [3f]));
        store.Checkpoint();
        Assert.That(rec.Collect(), Is.Empty);
    }

    [Test]
    public void CpuApply_IsCountedByKernelAndBackend()
    {
        using var rec = new Recorder(ApplyMetrics.MeterName);
        using var a = ApplyFixtures.Random(3);
        using var s = AdapterSnapshot.Create(a);
        using var cpu = new CpuApplier();
        var m = a.Modules.First();
        cpu.Gemm(s, m.Name, new float[2 * m.Cols], new float[2 * m.Rows], 2);
        cpu.Gemm(s, m.Name, new float[m.Cols], new float[m.Rows], 1);
        cpu.Scatter(s, m.Name, new float[m.Rows * m.Cols]);
        var v = rec.Collect();
        Assert.That(v["hyprstream.apply.duration"]["backend=cpu,kernel=gemm"], Is.EqualTo(2));
        Assert.That(v["hyprstream.apply.duration"]["backend=cpu,kernel=scatter"], Is.EqualTo(1));
    }
}
