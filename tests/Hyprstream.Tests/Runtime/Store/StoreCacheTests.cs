using Hyprstream.Runtime.Store;
using D = Hyprstream.Tests.StoreTestData;

namespace Hyprstream.Tests;

/// <summary>The store's tiered cache: byte budgets, LRU order, promotion, pinning, prefetch, spill and write-back.</summary>
[TestFixture]
public sealed class StoreCacheTests
{
    private static long AdapterBytes()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never });
        D.CreateWithModule(s, "probe");
        s.Apply("probe", D.Batch(0, k: 64));
        return s.Read("probe", a => a.MemoryBytes);
    }

    private static AdapterStore OpenWith(TempDir dir, CacheBudgets budgets) =>
        AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never, Budgets = budgets, PromoteAfter = 2 });

    private static void AssertWithinBudgets(AdapterStore s)
    {
        var st = s.Stats().Cache;
        foreach (var t in st.Tiers) Assert.That(t.ResidentBytes, Is.LessThanOrEqualTo(t.BudgetBytes), $"{t.Tier} over budget");
        Assert.That(st.Tiers.Sum(t => t.Entries), Is.LessThanOrEqualTo(st.Adapters));
        Assert.That(st.Lookups, Is.EqualTo(st.Hits + st.Misses), "every lookup is a hit in one tier or a miss");
    }

    [Test]
    public void Eviction_IsLeastRecentlyUsedFirst_AndRepeatedL2HitsPromote()
    {
        long m = AdapterBytes();
        using var dir = new TempDir();
        using var s = OpenWith(dir, new CacheBudgets(m * 5 / 2, 64L << 20, 64L << 20));
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            D.CreateWithModule(s, name);
            s.Apply(name, D.Batch(0, k: 64));
            AssertWithinBudgets(s);
        }
        Assert.That(s.LruOrder(CacheTier.L1), Is.EqualTo(new[] { "d", "c" }));
        Assert.That(s.LruOrder(CacheTier.L2), Is.EqualTo(new[] { "b", "a" }), "a was evicted first, then b");

        Assert.That(D.Present(s, "a", 0, k: 64), Is.EqualTo(64));
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L2), "one L2 hit decodes a private copy, no promotion");
        Assert.That(D.Present(s, "a", 0, k: 64), Is.EqualTo(64));
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L1), "the second hit promotes");
        Assert.That(s.LruOrder(CacheTier.L1), Is.EqualTo(new[] { "a", "d" }), "c, the least recently used, made room");
        Assert.That(s.LruOrder(CacheTier.L2), Is.EqualTo(new[] { "c", "b" }));
        var st = s.Stats().Cache;
        Assert.That(st[CacheTier.L2].Hits, Is.EqualTo(2));
        Assert.That(st[CacheTier.L2].Promotions, Is.EqualTo(1));
        Assert.That(st[CacheTier.L1].Evictions, Is.EqualTo(3));
        AssertWithinBudgets(s);
    }

    [Test]
    public void PinnedAdapter_StaysInL1_UnderPressure_AndUnpinLetsItGo()
    {
        long m = AdapterBytes();
        using var dir = new TempDir();
        using var s = OpenWith(dir, new CacheBudgets(m * 5 / 2, 64L << 20, 64L << 20));
        D.CreateWithModule(s, "pinned");
        s.Pin("pinned");
        for (int i = 0; i < 8; i++)
        {
            D.CreateWithModule(s, $"x{i}");
            s.Apply($"x{i}", D.Batch(i, k: 64));
            AssertWithinBudgets(s);
            Assert.That(s.TierOf("pinned"), Is.EqualTo(CacheTier.L1), $"after x{i}");
        }
        Assert.That(s.Stats().Cache.Pinned, Is.EqualTo(1));
        s.Unpin("pinned");
        for (int i = 0; i < 3; i++) s.Read($"x{i}", a => a.ActiveCount);
        for (int i = 0; i < 3; i++) s.Read($"x{i}", a => a.ActiveCount);
        Assert.That(s.TierOf("pinned"), Is.Not.EqualTo(CacheTier.L1));
        AssertWithinBudgets(s);
    }

    [Test]
    public void Pin_BeyondTheL1Budget_IsRefused()
    {
        long m = AdapterBytes();
        using var dir = new TempDir();
        using var s = OpenWith(dir, new CacheBudgets(m * 3 / 2, 64L << 20, 64L << 20));
        foreach (var n in new[] { "a", "b" }) { D.CreateWithModule(s, n); s.Apply(n, D.Batch(0, k: 64)); }
        s.Pin("a");
        Assert.That(() => s.Pin("b"), Throws.InvalidOperationException.With.Message.Contain("L1 budget"));
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L1));
    }

    [Test]
    public void Prefetch_MovesAnAdapterIntoL1()
    {
        long m = AdapterBytes();
        using var dir = new TempDir();
        using var s = OpenWith(dir, new CacheBudgets(m * 3 / 2, 64L << 20, 64L << 20));
        foreach (var n in new[] { "a", "b" }) { D.CreateWithModule(s, n); s.Apply(n, D.Batch(0, k: 64)); }
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L2));
        s.Prefetch("a");
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L1));
        Assert.That(s.TierOf("b"), Is.EqualTo(CacheTier.L2));
    }

    /// <summary>The bytes of the probe adapter's NanoVDB snapshot (what it takes in L2 or L3).</summary>
    private static long SnapshotBytes()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never });
        D.CreateWithModule(s, "probe");
        s.Apply("probe", D.Batch(0, k: 64));
        var (snap, _) = s.OpenSnapshot("probe");
        using (snap) return snap.ByteSize;
    }

    [Test]
    public void AdaptersLeavingEveryTier_AreWrittenBack_ThenReadFromSnapshotsAndL3Files()
    {
        long m = AdapterBytes(), snapshot = SnapshotBytes();
        using var dir = new TempDir();
        // L1 holds one adapter, L2 none, L3 (mapped snapshot files) one: most adapters must leave the cache.
        var budgets = new CacheBudgets(m * 3 / 2, 1, snapshot * 3 / 2);
        using (var s = OpenWith(dir, budgets))
        {
            for (int i = 0; i < 6; i++)
            {
                D.CreateWithModule(s, $"a{i}");
                s.Apply($"a{i}", D.Batch(i, k: 64));
                AssertWithinBudgets(s);
            }
            var st = s.Stats().Cache;
            Assert.That(st.WriteBacks, Is.GreaterThan(0));
            Assert.That(st[CacheTier.L3].Entries, Is.GreaterThan(0));
            Assert.That(st.Spills, Is.GreaterThan(0), "changed adapters leaving RAM were spilled to L3 files first");
            Assert.That(Directory.GetFiles(Path.Combine(dir.Path, "cache"), "*.nvdb"), Has.Length.EqualTo(st[CacheTier.L3].Entries),
                "each adapter in L3 is a changed one, in its own spill file (the others' went with them)");
            for (int i = 5; i >= 0; i--) Assert.That(D.Present(s, $"a{i}", i, k: 64), Is.EqualTo(64), $"a{i} read back");
            st = s.Stats().Cache;
            Assert.That(st.ColdLoads, Is.GreaterThan(0), "some adapters came back from their snapshots");
            Assert.That(st[CacheTier.L3].Hits, Is.GreaterThan(0), "some came back from L3 files");
            AssertWithinBudgets(s);
        }
        using var r = OpenWith(dir, budgets);
        for (int i = 0; i < 6; i++) Assert.That(D.Present(r, $"a{i}", i, k: 64), Is.EqualTo(64), $"a{i} after reopen");
    }

    [Test]
    public void Contains_AnswersFromTheNameTable_WithoutACacheLookup_AndFollowsCreateAndDelete()
    {
        using var dir = new TempDir();
        using var s = OpenWith(dir, CacheBudgets.Default);
        D.CreateWithModule(s, "known");
        long lookups = s.Stats().Cache.Lookups;
        int rejects = 0;
        for (int i = 0; i < 100; i++) if (!s.Contains($"unknown-{i}")) rejects++;
        Assert.That(rejects, Is.EqualTo(100));
        Assert.That(s.Contains("known"), Is.True);
        Assert.That(s.Stats().Cache.Lookups, Is.EqualTo(lookups), "no cache lookup happened for any name");
        Assert.That(() => s.Read("unknown-1", a => 0), Throws.InstanceOf<KeyNotFoundException>().With.Message.Contain("no adapter named 'unknown-1'"));
        s.Delete("known");
        Assert.That(s.Contains("known"), Is.False, "a deleted name is gone at once (no filter keeps it as a false positive)");
        Assert.That(() => s.Contains(null!), Throws.ArgumentNullException);
    }

    private static Thread Run(Action body)
    {
        var t = new Thread(() => body()) { IsBackground = true };
        t.Start();
        return t;
    }

    [Test]
    public void ReadersDuringSnapshots_SeeWholeBatches_NeverATornAdapter()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Batch(1) });
        D.CreateWithModule(s, "a");
        const int k = 256;
        var rows = Enumerable.Range(0, k).Select(i => i / 16).ToArray();
        var cols = Enumerable.Range(0, k).Select(i => i % 16 * 16).ToArray();
        s.Apply("a", new AdapterBatch().Set(D.Module, rows, cols, Enumerable.Repeat(1f, k).ToArray()));
        // Counted events, not a time budget: everything runs until at least 5 checkpoints are done, the readers have
        // seen at least 5 different batches, and at least 20 reads and 5 writes began or ended while a checkpoint was
        // in flight (proof that they overlapped). A stuck thread trips the hang guard.
        var stop = new ManualResetEventSlim();
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<float, bool>();
        var torn = new System.Collections.Concurrent.ConcurrentBag<string>();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        int checkpoints = 0, checkpointing = 0;
        long readsDuringCheckpoint = 0, writesDuringCheckpoint = 0;
        bool During(Action op)
        {
            bool during = Volatile.Read(ref checkpointing) == 1;
            op();
            return during | Volatile.Read(ref checkpointing) == 1;
        }
        void Guarded(Action body) { try { body(); } catch (Exception e) { errors.Enqueue(e); stop.Set(); } }
        // Dedicated threads: on a 2-core machine the thread pool would start the snapshotter late.
        var writer = Run(() => Guarded(() =>
        {
            for (int v = 2; !stop.IsSet; v++)
                if (During(() => s.Apply("a", new AdapterBatch().Set(D.Module, rows, cols, Enumerable.Repeat((float)v, k).ToArray()))))
                    Interlocked.Increment(ref writesDuringCheckpoint);
        }));
        var snapshotter = Run(() => Guarded(() =>
        {
            while (!stop.IsSet)
            {
                Volatile.Write(ref checkpointing, 1);
                s.Checkpoint();
                Volatile.Write(ref checkpointing, 0);
                Interlocked.Increment(ref checkpoints);
            }
        }));
        var readers = Enumerable.Range(0, 2).Select(_ => Run(() => Guarded(() =>
        {
            var values = new float[k];
            while (!stop.IsSet)
            {
                if (During(() => s.Read("a", a => { a.Modules[D.Module].GetMany(rows, cols, values); return 0; })))
                    Interlocked.Increment(ref readsDuringCheckpoint);
                if (values.Distinct().Count() != 1) torn.Add(string.Join(",", values.Distinct()));
                seen[values[0]] = true;
            }
        }))).ToArray();
        try
        {
            Overlap.WaitUntil(() => stop.IsSet || (Volatile.Read(ref checkpoints) >= 5 && seen.Count >= 5
                    && Interlocked.Read(ref readsDuringCheckpoint) >= 20 && Interlocked.Read(ref writesDuringCheckpoint) >= 5),
                () => $"{checkpoints} checkpoints, {seen.Count} batches seen, {readsDuringCheckpoint} reads and {writesDuringCheckpoint} writes during a checkpoint");
        }
        finally { stop.Set(); }
        foreach (var t in new[] { writer, snapshotter }.Concat(readers)) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, "a thread is stuck (hang guard)");
        Assert.That(errors, Is.Empty);
        Assert.That(torn, Is.Empty);
        Assert.That(checkpoints, Is.GreaterThanOrEqualTo(5));
        Assert.That(seen.Count, Is.GreaterThanOrEqualTo(5), "readers saw the adapter change while snapshots ran");
        Assert.That(readsDuringCheckpoint, Is.GreaterThanOrEqualTo(20), "reads overlapped checkpoints");
        Assert.That(writesDuringCheckpoint, Is.GreaterThanOrEqualTo(5), "writes overlapped checkpoints");
    }
}
