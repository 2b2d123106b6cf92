using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Tests;

/// <summary>
/// The store operations the Flight service relies on, each checked live and after a replay of the WAL: creation with
/// content, keep-top, provenance, merges on effective deltas, refused overflows, staged updates and their durability.
/// </summary>
[TestFixture]
public sealed class StoreOperationTests
{
    private const string M = "model.layers.0.self_attn.q_proj";
    private static readonly StoreOptions NoBackground = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always };

    private static AdapterBatch Content() => new AdapterBatch()
        .DefineModule(M, 16, 64, 2f)
        .Set(M, [0, 1, 2, 3, 15], [0, 1, 2, 3, 63], [0.1f, -3f, 0.5f, 2f, -0.01f])
        .SetMetadata("task", "math")
        .SetProvenance("source", "test");

    [Test]
    public void CreateWithContent_KeepTop_Merge_ReplayToTheSameState()
    {
        using var dir = new TempDir();
        Dictionary<(string, int, int), float> a, c;
        double energy;
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("a", "test/base", Content());
            var staged = s.Stage("a", new AdapterBatch().KeepTop(2f / (16 * 64), SparsityStructure.Unstructured));
            s.WaitDurable(staged.Seq);
            energy = staged.Outcome.RetainedEnergy!.Value;
            // -3 and 2 are the two largest: sqrt((9 + 4) / (0.01 + 9 + 0.25 + 4 + 0.0001))
            Assert.That(energy, Is.EqualTo(Math.Sqrt(13 / 13.2601)).Within(1e-6));
            s.Create("c", null, new AdapterBatch().DefineModule(M, 16, 64, 0.5f).Set(M, [1], [1], [1f]));
            s.Merge("c", "a", 0.25f); // effective: 0.5·c += 0.25 · 2·a  →  c += a
            using (var x = s.Get("a")) a = Fixtures.Snapshot(x);
            using (var x = s.Get("c")) c = Fixtures.Snapshot(x);
            Assert.That(c[(M, 1, 1)], Is.EqualTo(1f - 3f));
            Assert.That(c[(M, 3, 3)], Is.EqualTo(2f));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Recovery.RecordsReplayed, Is.EqualTo(4));
        using var back = r.Get("a");
        Assert.That(Fixtures.Snapshot(back), Is.EquivalentTo(a));
        Assert.That(back.BaseModel, Is.EqualTo("test/base"));
        Assert.That(back.Metadata["task"], Is.EqualTo("math"));
        Assert.That(back.Provenance["source"], Is.EqualTo("test"));
        Assert.That(back.Modules[M].Scale, Is.EqualTo(2f));
        using var backC = r.Get("c");
        Assert.That(Fixtures.Snapshot(backC), Is.EquivalentTo(c));
    }

    [Test]
    public void AddThatWouldOverflow_IsRefusedBeforeLogging_AndTheStoreStillOpens()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("a", null, new AdapterBatch().DefineModule(M, 16, 64).Set(M, [0], [0], [float.MaxValue]));
            long records = s.Stats().WalRecordsAppended;
            var e = Assert.Throws<ArgumentException>(() => s.Apply("a", new AdapterBatch().Add(M, [0], [0], [float.MaxValue])));
            Assert.That(e!.Message, Does.Contain("overflow"));
            // Within one batch: each add alone is fine, their sum is not.
            Assert.Throws<ArgumentException>(() => s.Apply("a", new AdapterBatch().Set(M, [1], [1], [0f]).Add(M, [1, 1], [1, 1], [float.MaxValue, float.MaxValue])));
            Assert.That(s.Stats().WalRecordsAppended, Is.EqualTo(records), "nothing was logged");
            Assert.That(s.Read("a", x => x.ActiveCount), Is.EqualTo(1));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Recovery.DroppedBytes, Is.Zero);
        Assert.That(r.Read("a", x => x.Modules[M].Get(0, 0)), Is.EqualTo(float.MaxValue));
    }

    [Test]
    public void CreateReplace_SwapsTheWholeAdapter_AsOneRecord()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("a", null, Content());
            Assert.Throws<InvalidOperationException>(() => s.Create("a", null, Content()));
            Assert.That(s.CreateIfMissing("a"), Is.False);
            s.Create("a", "other/base", new AdapterBatch().DefineModule("m.layers.1.x", 8, 8).Set("m.layers.1.x", [7], [7], [7f]), replace: true);
            Assert.That(s.Info("a").Modules.Select(m => m.Name), Is.EqualTo(new[] { "m.layers.1.x" }));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        var info = r.Info("a");
        Assert.That(info.BaseModel, Is.EqualTo("other/base"));
        Assert.That(info.Modules.Single().ActiveCount, Is.EqualTo(1));
    }

    [Test]
    public async Task StagedUpdates_BecomeDurable_InSequenceOrder_UnderEveryPolicy()
    {
        foreach (var policy in new[] { FsyncPolicy.Always, FsyncPolicy.Batch(2), FsyncPolicy.Never })
        {
            using var dir = new TempDir();
            using var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = policy });
            s.Create("a", null, new AdapterBatch().DefineModule(M, 16, 64));
            var seqs = Enumerable.Range(0, 50).Select(i => s.Stage("a", new AdapterBatch().Add(M, [i % 16], [i % 64], [1f])).Seq).ToList();
            Assert.That(seqs, Is.Ordered.Ascending);
            await Task.WhenAll(seqs.Select(q => s.WhenDurableAsync(q)));
            if (policy.Mode != FsyncMode.Never) Assert.That(s.Stats().Fsyncs, Is.GreaterThan(0).And.LessThanOrEqualTo(51), policy.ToString());
            Assert.That(s.Info("a").ActiveCount, Is.EqualTo(50));
        }
    }

    [Test]
    public void Info_IsCachedUntilTheNextChange_EvictAndOpenReadKeepTheAdapterServed()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        s.Create("a", null, Content());
        var first = s.Info("a");
        Assert.That(s.Info("a"), Is.SameAs(first));
        s.Apply("a", new AdapterBatch().Set(M, [5], [5], [5f]));
        Assert.That(s.Info("a").ActiveCount, Is.EqualTo(first.ActiveCount + 1));

        Assert.That(s.Evict("a"), Is.True);
        Assert.That(s.TierOf("a"), Is.Null);
        using (var reader = s.OpenRead("a"))
        {
            // In no tier: served from its mapped snapshot file, no grid built.
            Assert.That(reader.Adapter, Is.Null);
            Assert.That(reader.Snapshot!.IsMapped, Is.True);
            Assert.That(reader.Snapshot[M][5, 5], Is.EqualTo(5f));
            Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L3), "a read maps it (L3) and builds no grid");
            s.Delete("a");
            s.Checkpoint(); // deletes its files: the mapping stays readable
            Assert.That(reader.Snapshot[M][5, 5], Is.EqualTo(5f), "a reader keeps a deleted adapter until it is done");
        }
        Assert.That(s.Contains("a"), Is.False);
    }

    [Test]
    public void CreateDeleteWhileColdLoadsAndWriteBacks_NeverDeadlock()
    {
        // A tiny L1/L2 budget: every read is a cold load from a snapshot, every write evicts (and writes back) another
        // adapter, all under the cache's lock, while other threads create and delete adapters.
        using var dir = new TempDir();
        var options = new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never, Budgets = new CacheBudgets(4 << 10, 1 << 10, 0) };
        using var s = AdapterStore.Open(dir.Path, options);
        for (int i = 0; i < 8; i++) s.Create($"warm-{i}", null, new AdapterBatch().DefineModule(M, 16, 64).Set(M, [i], [i], [i + 1f]));
        // Counted events, not a time budget: the threads run until each has done at least 200 operations, cold loads
        // and write-backs both happened, and at least 100 operations began while another was in flight (they really
        // ran at the same time). A deadlock trips the hang guard.
        using var stop = new CancellationTokenSource();
        var overlap = new Overlap();
        var done = new long[4];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    overlap.Run(() =>
                    {
                        if (t == 0)
                        {
                            var name = $"churn-{n++ % 4}";
                            if (s.Contains(name)) s.Delete(name);
                            else s.Create(name, null, new AdapterBatch().DefineModule(M, 16, 64).Set(M, [1], [1], [1f]));
                        }
                        else if (t == 1) s.Apply($"warm-{rng.Next(8)}", new AdapterBatch().Add(M, [rng.Next(16)], [rng.Next(64)], [1f]));
                        else Assert.That(s.Read($"warm-{rng.Next(8)}", a => a.ActiveCount), Is.GreaterThan(0));
                    });
                    Interlocked.Increment(ref done[t]);
                }
                catch (Exception e) { errors.Enqueue(e); stop.Cancel(); return; }
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        try
        {
            Overlap.WaitUntil(() => stop.IsCancellationRequested || (done.All(d => d >= 200) && overlap.Overlapped >= 100
                    && s.Stats().Cache.ColdLoads > 0 && s.Stats().Cache.WriteBacks > 0),
                () => $"operations per thread {string.Join(", ", done)}; {overlap}; {s.Stats().Cache.ColdLoads} cold loads, {s.Stats().Cache.WriteBacks} write-backs");
        }
        finally { stop.Cancel(); }
        foreach (var th in threads) Assert.That(th.Join(TimeSpan.FromSeconds(60)), Is.True, "a thread is stuck: deadlock");
        Assert.That(errors, Is.Empty);
        Assert.That(overlap.Overlapped, Is.GreaterThanOrEqualTo(100), overlap.ToString());
        Assert.That(done, Is.All.GreaterThanOrEqualTo(200));
        Assert.That(s.Stats().Cache.ColdLoads, Is.GreaterThan(0));
        Assert.That(s.Stats().Cache.WriteBacks, Is.GreaterThan(0));
    }

    [Test]
    public void BatchCodec_EveryTruncationAndRandomDamage_IsInvalidData_OrDecodes()
    {
        var batch = Content().Add(M, [1, 2], [3, 4], [0.5f, 0.25f]).KeepTop(0.5f, SparsityStructure.Tile, M).Prune(0.01f).RemoveModule(M);
        var bytes = BatchCodec.Encode(batch);
        var back = BatchCodec.Decode(bytes);
        Assert.That(back.Ops.Select(o => (o.Kind, o.Module, o.Key, o.Text, o.Rows, o.Scalar)), Is.EqualTo(batch.Ops.Select(o => (o.Kind, o.Module, o.Key, o.Text, o.Rows, o.Scalar))));
        Assert.That(BatchCodec.Encode(back), Is.EqualTo(bytes));
        for (int cut = 0; cut < bytes.Length; cut++)
            Assert.That(() => BatchCodec.Decode(bytes.AsSpan(0, cut)), Throws.InstanceOf<InvalidDataException>(), $"cut at {cut}");
        var rng = new Random(5);
        for (int k = 0; k < 2000; k++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[rng.Next(damaged.Length)] ^= (byte)(1 << rng.Next(8));
            try { BatchCodec.Decode(damaged); }
            catch (InvalidDataException) { }
        }
    }

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(37)]
    [TestCase(4099)]
    public void ByteShuffle_IsExactlyBytePlanes(int length)
    {
        var data = Enumerable.Range(0, length).Select(i => (byte)(i * 7 + i / 5)).ToArray();
        var planes = new byte[length];
        ByteShuffle.Shuffle(data, planes, 4);
        int n = length / 4;
        for (int b = 0; b < 4; b++)
            for (int i = 0; i < n; i++)
                Assert.That(planes[b * n + i], Is.EqualTo(data[i * 4 + b]), $"plane {b}, value {i}");
        for (int i = n * 4; i < length; i++) Assert.That(planes[i], Is.EqualTo(data[i]), "tail");
        var back = new byte[length];
        ByteShuffle.Unshuffle(planes, back, 4);
        Assert.That(back, Is.EqualTo(data));
    }
}
