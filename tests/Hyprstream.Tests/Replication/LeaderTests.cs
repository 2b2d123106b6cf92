using Hyprstream.Replication;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Replication;

/// <summary>The leader in-process against a real Ceph RGW: WAL chunks and checkpoints shipped, the lease, restores.</summary>
[TestFixture]
public sealed class LeaderTests
{
    private readonly List<string> _dirs = [];

    [TearDown]
    public void CleanUp()
    {
        foreach (var d in _dirs) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        _dirs.Clear();
    }

    private string NewDir()
    {
        var d = Path.Combine(Path.GetTempPath(), $"hs-leader-{Guid.NewGuid():N}");
        _dirs.Add(d);
        return d;
    }

    internal static LeaderOptions Options(CephRgw rgw, ObjectStore bucket, TimeSpan? lease = null) => new()
    {
        Root = bucket.Root, Store = Ceph.Settings(rgw), ShipInterval = TimeSpan.FromMilliseconds(100), Lease = lease ?? TimeSpan.FromSeconds(6),
        Log = m => TestContext.Progress.WriteLine("leader: " + m),
    };

    [Test]
    public async Task ShipsWalAndCheckpoints_AndTheBucketAloneRestoresEveryValue()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        var dir = NewDir();
        await using var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket), dir);
        using var store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
        leader.Attach(store);

        var rng = new Random(15);
        Write(store, rng, "alpha", "beta", "gamma");
        await WaitShipped(leader, store);
        var m1 = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        Assert.That(m1.Chunks, Is.Not.Empty, "WAL chunks were committed");
        Assert.That(m1.Store.Adapters, Is.Empty, "no checkpoint yet");

        store.Checkpoint();
        Write(store, rng, "alpha", "delta");
        store.Describe("beta", ["tag-1", "tag-2"], [0.5f, -1f, 2f]);
        store.Delete("gamma");
        await WaitShipped(leader, store);
        var m2 = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        Assert.That(m2.Store.WalSegment, Is.GreaterThan(m1.Store.WalSegment), "the checkpoint was shipped");
        Assert.That(m2.Store.Adapters.Select(a => a.Name), Is.EquivalentTo(new[] { "alpha", "beta", "gamma" }));
        Assert.That(m2.Chunks.All(c => c.Segment >= m2.Store.WalSegment), "chunks the checkpoint holds are dropped from the manifest");
        Assert.That(leader.RetiredObjects, Is.GreaterThan(0), "the dropped chunks wait out their retention");
        foreach (var c in m2.Chunks) Assert.That(await bucket.HeadAsync(c.Key), Is.Not.Null, c.Key);

        var restored = NewDir();
        var report = await BucketRestore.MaterializeAsync(bucket, m2, restored);
        Assert.That(report.LastSequence, Is.EqualTo(store.LastSequence));
        using var copy = AdapterStore.OpenReadOnly(restored);
        AssertSameValues(store, copy);
        Assert.That(copy.Description("beta").Tags, Is.EqualTo(new[] { "tag-1", "tag-2" }));
        Assert.That(copy.Contains("gamma"), Is.False);
    }

    [Test]
    public async Task ASecondLeaderOnTheSamePrefix_IsRefused_NamingTheFirst()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        await using var first = await ReplicationLeader.StartAsync(Options(rgw, bucket), NewDir());
        var e = Assert.ThrowsAsync<LeaseRefusedException>(() => ReplicationLeader.StartAsync(Options(rgw, bucket), NewDir()));
        Assert.That(e!.Message, Does.Contain(first.Id).And.Contain("second leader"));
        await first.DisposeAsync();
        // Stopped, it released the lease: another node leads at once, one epoch on.
        await using var next = await ReplicationLeader.StartAsync(Options(rgw, bucket), NewDir());
        Assert.That(next.Epoch, Is.EqualTo(first.Epoch + 1));
    }

    [Test]
    public async Task ObjectsTheManifestDrops_AreDeletedAfterTheRetention_NamedOnesStay()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        var dir = NewDir();
        await using var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket) with { Retention = TimeSpan.FromSeconds(1) }, dir);
        using var store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
        leader.Attach(store);
        var rng = new Random(3);
        Write(store, rng, "r");
        await WaitShipped(leader, store);
        var before = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest.Chunks.Select(c => c.Key).ToList();
        store.Checkpoint();
        Write(store, rng, "r");
        await WaitShipped(leader, store);
        await WaitCheckpointShipped(bucket);
        var until = DateTime.UtcNow.AddSeconds(30);
        while (leader.RetiredObjects > 0 && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.That(leader.RetiredObjects, Is.EqualTo(0), "the retention passed");
        foreach (var key in before) Assert.That(await bucket.HeadAsync(key), Is.Null, $"{key} was folded into the checkpoint and deleted after the retention");
        var m = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        foreach (var key in m.Chunks.Select(c => c.Key).Concat(m.Store.Adapters.Select(a => BucketLayout.Checkpoint(a.Checkpoint!))))
            Assert.That(await bucket.HeadAsync(key), Is.Not.Null, $"{key} is named by the manifest");
    }

    [Test]
    public async Task UnshippedWalSegments_OutliveALocalCheckpoint_UntilTheGatewayIsBack()
    {
        using var rgw = Ceph.StartPrivate();
        using var bucket = Ceph.NewBucket(rgw);
        var dir = NewDir();
        await using var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket), dir);
        using var store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
        leader.Attach(store);
        var rng = new Random(4);
        Write(store, rng, "w");
        await WaitShipped(leader, store);
        rgw.StopGateway();
        Write(store, rng, "w", "v");
        var walDir = Path.Combine(dir, "wal");
        var unshipped = WriteAheadLog.Segments(walDir).Select(s => s.Segment).Max();
        store.Checkpoint();
        Assert.That(WriteAheadLog.Segments(walDir).Select(s => s.Segment), Does.Contain(unshipped),
            "the checkpoint folded the segment, but it is not shipped: it stays");
        Assert.That(leader.ShippedSequence, Is.LessThan(store.LastSequence));
        Assert.That(leader.Stats().LagRecords, Is.GreaterThan(0UL));

        rgw.StartGateway();
        await WaitShipped(leader, store, 120);
        await WaitCheckpointShipped(bucket);
        var until = DateTime.UtcNow.AddSeconds(30);
        while (WriteAheadLog.Segments(walDir).Any(s => s.Segment <= unshipped) && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.That(WriteAheadLog.Segments(walDir).Select(s => s.Segment), Does.Not.Contain(unshipped), "shipped (in the checkpoint), the segment goes");
        var restored = NewDir();
        await BucketRestore.MaterializeAsync(bucket, (await BucketManifest.ReadAsync(bucket))!.Value.Manifest, restored);
        using var copy = AdapterStore.OpenReadOnly(restored);
        AssertSameValues(store, copy);
    }

    [Test]
    public async Task ADamagedChunkOrCheckpoint_IsNamedInTheError_AndNothingIsRestored()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        var dir = NewDir();
        await using (var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket), dir))
        using (var store = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            leader.Attach(store);
            var rng = new Random(7);
            Write(store, rng, "a", "b");
            store.Checkpoint();
            Write(store, rng, "a");
            await WaitShipped(leader, store);
            await WaitCheckpointShipped(bucket);
        }
        var m = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        var chunk = m.Chunks[^1].Key;
        var checkpoint = BucketLayout.Checkpoint(m.Store.Adapters.First(a => a.Checkpoint != null).Checkpoint!);

        foreach (var key in new[] { chunk, checkpoint })
        {
            var original = await Overwrite(rgw, bucket, key);
            var target = NewDir();
            var e = Assert.CatchAsync<IOException>(() => ReplicationLeader.StartAsync(Options(rgw, bucket), target));
            Assert.That(e, Is.InstanceOf<DamagedObjectException>(), e!.ToString());
            Assert.That(e.Message, Does.Contain(key).And.Contain("damaged"));
            Assert.That(Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any(f => !f.EndsWith(LeaderMarker.FileName)), Is.False,
                "nothing of the damaged bucket is left to serve");
            await bucket.PutAsync(key, original); // repaired for the next round
            // The failed start released its lease: the next one may lead at once.
        }
        var ok = NewDir();
        await using (await ReplicationLeader.StartAsync(Options(rgw, bucket), ok)) { }
        Assert.That(AdapterStore.IsStore(ok), Is.True);
    }

    [Test]
    public async Task ALocalStoreTheBucketMovedPast_IsRefused()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        var first = NewDir();
        await using (var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket), first))
        using (var store = AdapterStore.Open(first, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            leader.Attach(store);
            Write(store, new Random(1), "a");
            await WaitShipped(leader, store);
        }
        var second = NewDir();
        await using (var leader = await ReplicationLeader.StartAsync(Options(rgw, bucket), second))
        using (var store = AdapterStore.Open(second, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            leader.Attach(store);
            Write(store, new Random(2), "a", "b");
            await WaitShipped(leader, store);
        }
        var e = Assert.ThrowsAsync<LeaseRefusedException>(() => ReplicationLeader.StartAsync(Options(rgw, bucket), first));
        Assert.That(e!.Message, Does.Contain("behind the bucket").And.Contain(first));
        // A store from elsewhere is not mixed in either.
        var other = NewDir();
        using (var s = AdapterStore.Open(other)) s.Create("z");
        e = Assert.ThrowsAsync<LeaseRefusedException>(() => ReplicationLeader.StartAsync(Options(rgw, bucket), other));
        Assert.That(e!.Message, Does.Contain("did not come from"));
        // The directory that led last continues.
        await using (await ReplicationLeader.StartAsync(Options(rgw, bucket), second)) { }
    }

    /// <summary>Replaces an object's bytes (same length, one byte flipped) keeping its metadata, as bit rot or a stray tool would; returns the original bytes.</summary>
    internal static async Task<byte[]> Overwrite(CephRgw rgw, ObjectStore bucket, string key)
    {
        var original = (await bucket.GetAsync(key))!.Data;
        using var s3 = ObjectStore.CreateClient(Ceph.Settings(rgw));
        var head = await s3.GetObjectMetadataAsync(bucket.Root.Bucket, bucket.Root.Key(key));
        var bad = original.ToArray();
        bad[bad.Length / 2] ^= 0x5a;
        var put = new Amazon.S3.Model.PutObjectRequest { BucketName = bucket.Root.Bucket, Key = bucket.Root.Key(key), InputStream = new MemoryStream(bad) };
        foreach (var k in head.Metadata.Keys) put.Metadata[k] = head.Metadata[k];
        await s3.PutObjectAsync(put);
        return original;
    }

    private static async Task WaitCheckpointShipped(ObjectStore bucket)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while ((await BucketManifest.ReadAsync(bucket))!.Value.Manifest.Store.Adapters.Count == 0)
        {
            if (DateTime.UtcNow > until) Assert.Fail("the checkpoint was not shipped in 60 s");
            await Task.Delay(100);
        }
    }

    internal static void Write(AdapterStore store, Random rng, params string[] names)
    {
        foreach (var n in names)
        {
            if (!store.Contains(n)) store.Create(n, null, new AdapterBatch().DefineModule("m", 16, 64));
            for (int b = 0; b < 5; b++)
            {
                var rows = Enumerable.Range(0, 12).Select(_ => rng.Next(16)).ToArray();
                var cols = Enumerable.Range(0, 12).Select(_ => rng.Next(64)).ToArray();
                var vals = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
                store.Apply(n, new AdapterBatch().Set("m", rows, cols, vals));
            }
        }
    }

    internal static async Task WaitShipped(ReplicationLeader leader, AdapterStore store, int seconds = 60)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (leader.ShippedSequence < store.LastSequence)
        {
            if (DateTime.UtcNow > until)
                Assert.Fail($"the leader shipped up to {leader.ShippedSequence} of {store.LastSequence} in {seconds} s: {leader.Stats()}");
            await Task.Delay(50);
        }
    }

    internal static void AssertSameValues(AdapterStore expected, AdapterStore actual)
    {
        Assert.That(actual.Names, Is.EqualTo(expected.Names));
        foreach (var n in expected.Names)
        {
            using var a = expected.Get(n);
            using var b = actual.Get(n);
            Assert.That(b.Modules.Select(m => m.Name), Is.EqualTo(a.Modules.Select(m => m.Name)), n);
            foreach (var m in a.Modules)
                Assert.That(b.Modules[m.Name].ToDense(), Is.EqualTo(m.ToDense()), $"{n}/{m.Name}");
        }
    }
}
