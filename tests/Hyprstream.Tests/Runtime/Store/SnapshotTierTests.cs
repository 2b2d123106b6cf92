using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// The store's snapshot tier (the GPU tier under the CUDA backend), on the CPU backend: snapshots follow the adapter's
/// changes, the byte budget holds once leases end, eviction is LRU, leased snapshots are never freed, stats add up.
/// </summary>
[TestFixture]
public sealed class SnapshotTierTests
{
    private const string M = "model.layers.0.mlp.up_proj";
    private static readonly StoreOptions NoBackground = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never };

    private static void Create(AdapterStore s, string name, float v) =>
        s.Create(name, null, new AdapterBatch().DefineModule(M, 64, 256).Set(M, [0, 9, 63], [0, 100, 255], [v, -v, 2 * v]));

    [Test]
    public void Snapshots_FollowChanges_AndAgreeWithTheStore()
    {
        using var dir = new TempDir();
        using var store = AdapterStore.Open(dir.Path, NoBackground);
        using var cpu = new CpuApplier();
        using var tier = new SnapshotTier(store, 64 << 20, cpu);
        Create(store, "a", 1f);
        var values = new float[3];
        using (var l = tier.Acquire("a")) cpu.Lookup(l.Snapshot, M, [0, 9, 63], [0, 100, 255], values);
        Assert.That(values, Is.EqualTo(new[] { 1f, -1f, 2f }));
        using (var l = tier.Acquire("a")) Assert.That(l.Snapshot.ActiveCount, Is.EqualTo(3));

        store.Apply("a", new AdapterBatch().Add(M, [0], [0], [0.5f]).Set(M, [1], [1], [7f]));
        using (var l = tier.Acquire("a"))
        {
            cpu.Lookup(l.Snapshot, M, [0, 1], [0, 1], values.AsSpan(0, 2));
            Assert.That(values[..2], Is.EqualTo(new[] { 1.5f, 7f }));
        }
        var st = tier.Stats();
        Assert.That((st.Builds, st.Hits, st.Rebuilds, st.Entries, st.Device), Is.EqualTo((1L, 1L, 1L, 1, "cpu")));
        Assert.That(() => tier.Acquire("nobody"), Throws.InstanceOf<KeyNotFoundException>());
    }

    [Test]
    public void Budget_HoldsAfterLeasesEnd_EvictionIsLru_LeasedSnapshotsSurvive()
    {
        using var dir = new TempDir();
        using var store = AdapterStore.Open(dir.Path, NoBackground);
        for (int i = 0; i < 6; i++) Create(store, $"a{i}", i + 1);
        long one;
        using (var probe = new SnapshotTier(store, long.MaxValue))
        using (var l = probe.Acquire("a0")) one = SnapshotTier.BytesOf(l.Snapshot);
        using var tier = new SnapshotTier(store, 3 * one);

        var held = tier.Acquire("a0");
        for (int i = 1; i < 6; i++) tier.Acquire($"a{i}").Dispose();
        // a0 is leased: never evicted; the budget leaves room for two more, the most recently used.
        Assert.That(tier.LruOrder(), Is.EqualTo(new[] { "a5", "a4", "a0" }));
        Assert.That(tier.Stats().ResidentBytes, Is.LessThanOrEqualTo(3 * one));
        Assert.That(held.Snapshot.ActiveCount, Is.EqualTo(3), "a leased snapshot stays usable");
        Assert.That(tier.Evict("a0"), Is.False);
        held.Dispose();
        Assert.That(tier.Evict("a0"), Is.True);
        Assert.That(() => held.Snapshot, Throws.InstanceOf<ObjectDisposedException>());

        // A rebuild while the old snapshot is leased: the old one lives until its lease ends.
        var old = tier.Acquire("a5");
        store.Apply("a5", new AdapterBatch().Set(M, [2], [2], [3f]));
        using (var fresh = tier.Acquire("a5")) Assert.That(fresh.Snapshot.ActiveCount, Is.EqualTo(4));
        Assert.That(old.Snapshot.ActiveCount, Is.EqualTo(3));
        Assert.That(old.Snapshot.IsDisposed, Is.False);
        var snapshot = old.Snapshot;
        old.Dispose();
        Assert.That(snapshot.IsDisposed, Is.True);

        var st = tier.Stats();
        Assert.That(st.Builds + st.Rebuilds + st.Hits, Is.EqualTo(6 + 1 + 1), "every acquire is a build, a rebuild or a hit");
        Assert.That(st.Evictions, Is.GreaterThanOrEqualTo(4));
        Assert.That(st.Entries, Is.EqualTo(tier.LruOrder().Count));
    }

    [Test]
    public void ConcurrentReadersAndWriters_NeverSeeAFreedOrStaleSnapshot()
    {
        using var dir = new TempDir();
        using var store = AdapterStore.Open(dir.Path, NoBackground);
        using var cpu = new CpuApplier();
        for (int i = 0; i < 3; i++) Create(store, $"a{i}", 1f);
        long one;
        using (var l = new SnapshotTier(store, long.MaxValue).Acquire("a0")) one = SnapshotTier.BytesOf(l.Snapshot);
        using var tier = new SnapshotTier(store, 2 * one, cpu);
        // Counted events, not a time budget: the threads run until the writer has written at least 300 batches, each
        // reader has checked at least 300 snapshots, the tier rebuilt at least 10 stale ones, and at least 50 reads began
        // or ended while a write was in flight (they overlapped). A stuck thread trips the hang guard.
        using var stop = new CancellationTokenSource();
        var counters = new float[3];
        var checks = new long[2];
        int writing = 0;
        long readsDuringWrite = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        // Dedicated threads, not pool tasks: a busy thread pool must not keep the writer from running.
        var writer = new Thread(() =>
        {
            try
            {
                for (int n = 1; !stop.IsCancellationRequested; n++)
                {
                    // (5, 5) counts the batches written to the adapter; the counter moves only after the write returned.
                    Volatile.Write(ref writing, 1);
                    store.Apply($"a{n % 3}", new AdapterBatch().Add(M, [5], [5], [1f]));
                    Volatile.Write(ref writing, 0);
                    lock (counters) counters[n % 3]++;
                }
            }
            catch (Exception e) { errors.Enqueue(e); stop.Cancel(); }
        });
        var readers = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            var v = new float[1];
            var rng = new Random(t);
            while (!stop.IsCancellationRequested)
            {
                int i = rng.Next(3);
                float before;
                lock (counters) before = counters[i];
                try
                {
                    bool during = Volatile.Read(ref writing) == 1;
                    using (var l = tier.Acquire($"a{i}"))
                    {
                        cpu.Lookup(l.Snapshot, M, [5], [5], v);
                        if (v[0] < before) throw new InvalidOperationException($"a{i}: snapshot shows {v[0]} batches, {before} were acknowledged before the call");
                    }
                    if (during | Volatile.Read(ref writing) == 1) Interlocked.Increment(ref readsDuringWrite);
                    Interlocked.Increment(ref checks[t]);
                }
                catch (Exception e) { errors.Enqueue(e); stop.Cancel(); return; }
            }
        })).ToList();
        writer.Start();
        readers.ForEach(r => r.Start());
        float Written() { lock (counters) return counters.Sum(); }
        try
        {
            Overlap.WaitUntil(() => stop.IsCancellationRequested || (Written() >= 300 && checks.All(c => c >= 300)
                    && tier.Stats().Rebuilds >= 10 && Interlocked.Read(ref readsDuringWrite) >= 50),
                () => $"{Written()} batches written, {string.Join(", ", checks)} checks, {tier.Stats().Rebuilds} rebuilds, {readsDuringWrite} reads during a write");
        }
        finally { stop.Cancel(); }
        foreach (var th in readers.Append(writer)) Assert.That(th.Join(TimeSpan.FromSeconds(60)), Is.True, "stuck");
        Assert.That(errors, Is.Empty);
        Assert.That(Written(), Is.GreaterThanOrEqualTo(300), "the writer ran");
        Assert.That(checks, Is.All.GreaterThanOrEqualTo(300), "the readers ran");
        Assert.That(readsDuringWrite, Is.GreaterThanOrEqualTo(50), "reads overlapped writes");
        Assert.That(tier.Stats().Rebuilds, Is.GreaterThanOrEqualTo(10));
    }
}
