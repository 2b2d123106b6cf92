using Hyprstream.Replication;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// Fp16 snapshot files and replication, against a real Ceph RGW: the leader ships a checkpoint's .vdb and float32
/// .nvdb, not its Fp16 file (derived data, 3.8 B/weight more in the bucket); a store restored from the bucket with
/// SnapshotFp16 rebuilds each Fp16 file from the .vdb the first time an Fp16 tier asks for it.
/// </summary>
[TestFixture]
public sealed class Fp16SnapshotReplicationTests
{
    private const string M = "model.layers.0.mlp.up_proj";

    [Test]
    public async Task TheLeaderShipsNoFp16File_AndARestoredStoreRebuildsItFromTheVdb()
    {
        var rgw = Ceph.Cluster;
        using var bucket = Ceph.NewBucket(rgw);
        using var scratch = new TempDir();
        var dir = scratch.File("leader");
        var options = new StoreOptions { CheckpointWalBytes = 0, SnapshotFp16 = true };
        var values = Enumerable.Range(0, 512).Select(i => (float)Math.Sin(i) * 0.01f).ToArray();
        float[] expected;
        ManifestEntry entry;
        await using (var leader = await ReplicationLeader.StartAsync(LeaderTests.Options(rgw, bucket), dir))
        {
            using var store = AdapterStore.Open(dir, options);
            leader.Attach(store);
            store.Create("a", "test/base", new AdapterBatch().DefineModule(M, 64, 256).SetTiles(M, [3], [2], values));
            store.Checkpoint();
            await LeaderTests.WaitShipped(leader, store);
            // The records may be shipped (as WAL chunks) before the checkpoint: wait for the manifest that names it.
            var until = DateTime.UtcNow.AddSeconds(60);
            BucketManifest shipped;
            while ((shipped = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest).Store.Adapters.Count == 0)
            {
                if (DateTime.UtcNow > until) Assert.Fail($"the checkpoint was not shipped within 60 s: {leader.Stats()}");
                await Task.Delay(50);
            }
            Assert.That(shipped.Store.Adapters.Select(x => x.Name), Is.EqualTo(new[] { "a" }), "the checkpoint was shipped");
            entry = shipped.Store.Adapters.Single();
            var fp16 = AdapterStore.SnapshotFileOf(entry.Checkpoint!, SnapshotPrecision.Fp16);
            Assert.That(File.Exists(Path.Combine(dir, AdapterStore.CheckpointFolder, fp16)), Is.True, "the leader's own store keeps it");
            Assert.That(await bucket.HeadAsync(BucketLayout.Checkpoint(entry.Checkpoint!)), Is.Not.Null, ".vdb shipped");
            Assert.That(await bucket.HeadAsync(BucketLayout.Checkpoint(AdapterStore.SnapshotFileOf(entry.Checkpoint!))), Is.Not.Null, "float32 .nvdb shipped");
            Assert.That(await bucket.HeadAsync(BucketLayout.Checkpoint(fp16)), Is.Null, "the Fp16 file is not shipped");
            using var tier = new SnapshotTier(store, 1L << 30, precision: SnapshotPrecision.Fp16);
            using var lease = tier.Acquire("a");
            Assert.That(lease.Snapshot.IsMapped, Is.True);
            expected = lease.Snapshot.ToDense(M);
        }

        var restored = scratch.File("restored");
        await BucketRestore.MaterializeAsync(bucket, (await BucketManifest.ReadAsync(bucket))!.Value.Manifest, restored);
        var folder = Path.Combine(restored, AdapterStore.CheckpointFolder);
        Assert.That(Directory.GetFiles(folder, "*.fp16.nvdb"), Is.Empty, "restored: .vdb and float32 .nvdb only");
        var log = new List<string>();
        using var copy = AdapterStore.Open(restored, options with { Log = m => { lock (log) log.Add(m); } });
        using (var tier = new SnapshotTier(copy, 1L << 30, precision: SnapshotPrecision.Fp16))
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True, "the rebuilt file, mapped");
            Assert.That(lease.Snapshot.ToDense(M), Is.EqualTo(expected), "the same Fp16 values as on the leader");
            Assert.That(tier.Stats().FileLoads, Is.EqualTo(1));
        }
        Assert.That(copy.Stats().SnapshotRebuilds, Is.EqualTo(1));
        Assert.That(log.Single(), Does.Contain(".fp16.nvdb").And.Contain("rebuilt from its checkpoint"));
        Assert.That(File.Exists(Path.Combine(folder, AdapterStore.SnapshotFileOf(entry.Checkpoint!, SnapshotPrecision.Fp16))), Is.True);
    }
}
