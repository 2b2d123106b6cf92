using System.Buffers.Binary;
using Hyprstream.Replication;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// <see cref="BucketFollower"/> against a real Ceph RGW, following a bucket filled from a real local store's files
/// (its checkpoints, its manifest, chunks cut verbatim from its WAL segments) in the bucket's layout: it bootstraps
/// with no local state, converges value by value, resyncs when the leader trimmed what it needed, and a damaged
/// chunk changes nothing.
/// </summary>
[TestFixture]
public sealed class BucketFollowerTests
{
    private static readonly StoreOptions Manual = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Parse("never") };

    /// <summary>
    /// Puts a local store's state into the bucket the way the layout describes it: the checkpoint files its manifest
    /// names, then the records past <see cref="Shipped"/> as one chunk per segment (whole records, verbatim), then the
    /// bucket manifest. A checkpoint trims the chunks of older segments.
    /// </summary>
    private sealed class HandShipper(ObjectStore bucket, AdapterStore local)
    {
        public ulong Shipped;
        private readonly List<WalChunk> _chunks = [];
        private StoreManifest _store = new();
        private string? _etag;

        public async Task ShipAsync()
        {
            var m = StoreManifest.Read(local.Directory);
            if (m.MaxSeq != _store.MaxSeq || m.WalSegment != _store.WalSegment || _etag == null)
            {
                foreach (var a in m.Adapters.Where(a => a.Checkpoint != null))
                    foreach (var f in new[] { a.Checkpoint!, AdapterStore.SnapshotFileOf(a.Checkpoint!) })
                    {
                        var path = Path.Combine(local.Directory, AdapterStore.CheckpointFolder, f);
                        if (File.Exists(path)) await bucket.PutFileAsync(BucketLayout.Checkpoint(f), path);
                    }
                _store = m;
                _chunks.RemoveAll(c => c.Segment < m.WalSegment);
                Shipped = Math.Max(Shipped, m.MaxSeq);
            }
            foreach (var (segment, path) in WriteAheadLog.Segments(Path.Combine(local.Directory, "wal")).Where(s => s.Segment >= m.WalSegment))
            {
                var bytes = File.ReadAllBytes(path);
                var (first, last, from, to) = Cut(bytes, Shipped);
                if (first == 0) continue;
                var chunk = new WalChunk(BucketLayout.Chunk(segment, first, last), segment, first, last, to - from);
                await bucket.PutAsync(chunk.Key, bytes.AsMemory((int)from, (int)(to - from)));
                _chunks.Add(chunk);
                Shipped = last;
            }
            var manifest = new BucketManifest
            {
                Leader = new LeaderLease { Id = "hand", Host = "test", Endpoint = "grpc://127.0.0.1:1", Epoch = 1, Until = DateTime.UtcNow.AddMinutes(1) },
                Store = _store, Chunks = [.. _chunks], ShippedSeq = Shipped, ShippedAt = DateTime.UtcNow,
            };
            _etag = _etag == null
                ? await bucket.PutAsync(BucketLayout.Manifest, manifest.Encode(), ifNoneMatch: true)
                : await bucket.PutAsync(BucketLayout.Manifest, manifest.Encode(), ifMatch: _etag);
        }

        /// <summary>The byte range of the whole records after sequence <paramref name="after"/>, and their first and last sequences (0: none).</summary>
        private static (ulong First, ulong Last, long From, long To) Cut(byte[] segment, ulong after)
        {
            ulong first = 0, last = 0;
            long at = 0, from = -1;
            while (at + WalRecord.HeaderBytes <= segment.Length)
            {
                long size = WalRecord.HeaderBytes + BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)at));
                if (at + size > segment.Length) break;
                var seq = BinaryPrimitives.ReadUInt64LittleEndian(segment.AsSpan((int)at + WalRecord.HeaderBytes));
                if (seq > after)
                {
                    if (from < 0) { from = at; first = seq; }
                    last = seq;
                }
                at += size;
            }
            return (first, last, from < 0 ? 0 : from, at);
        }
    }

    private static void Write(AdapterStore s, string name, int from, int to)
    {
        if (!s.Contains(name)) StoreTestData.CreateWithModule(s, name);
        for (int n = from; n < to; n++) s.Apply(name, StoreTestData.Batch(n));
    }

    [Test]
    public async Task AFollower_BootstrapsFromTheBucket_AndConvergesValueByValue()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        using var dir = new TempDir();
        using var leader = AdapterStore.Open(dir.File("leader"), Manual);
        var ship = new HandShipper(bucket, leader);
        Write(leader, "a", 0, 30);
        leader.Describe("a", ["t"], new float[] { 1, 0, 0 });
        leader.Checkpoint();
        Write(leader, "a", 30, 40);
        Write(leader, "b", 0, 10);
        await ship.ShipAsync();

        await using var follower = await BucketFollower.StartAsync(bucket, dir.File("replica"));
        Assert.That(follower.Store.IsReplica, Is.True);
        Assert.That(follower.Store.AppliedSequence, Is.EqualTo(ship.Shipped));
        Assert.That(ReplicaStoreTests.Contents(follower.Store), Is.EqualTo(ReplicaStoreTests.Contents(leader)));
        Assert.That(follower.Leader!.Endpoint, Is.EqualTo("grpc://127.0.0.1:1"));

        // More writes in several shipments, a delete and a replacement among them.
        for (int round = 0; round < 3; round++)
        {
            Write(leader, "a", 40 + round * 20, 60 + round * 20);
            Write(leader, $"c{round}", 0, 5);
            if (round == 1) leader.Delete("b");
            if (round == 2) leader.Create("c0", "x/base", new AdapterBatch().DefineModule(StoreTestData.Module, 8, 8).Set(StoreTestData.Module, [1], [1], [2f]), replace: true);
            await ship.ShipAsync();
        }
        Assert.That(follower.LagRecords, Is.Zero, "the follower has not read the new manifest yet");
        await follower.PollOnceAsync();
        Assert.That(follower.LeaderSequence, Is.EqualTo(ship.Shipped));
        Assert.That(follower.Store.AppliedSequence, Is.EqualTo(ship.Shipped));
        Assert.That(follower.LagRecords, Is.Zero);
        Assert.That(ReplicaStoreTests.Contents(follower.Store), Is.EqualTo(ReplicaStoreTests.Contents(leader)));
        Assert.That(follower.Resyncs, Is.Zero);
    }

    [Test]
    public async Task AFollowerBehindATrimmedCheckpoint_Resyncs_WhileItsReadersKeepReading()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        using var dir = new TempDir();
        using var leader = AdapterStore.Open(dir.File("leader"), Manual);
        var ship = new HandShipper(bucket, leader);
        Write(leader, "a", 0, 10);
        Write(leader, "old", 0, 3);
        await ship.ShipAsync();
        await using var follower = await BucketFollower.StartAsync(bucket, dir.File("replica"));

        // The leader goes on, checkpoints twice and ships: the chunks the follower needed are no longer named.
        Write(leader, "a", 10, 50);
        leader.Delete("old");
        await ship.ShipAsync();
        leader.Checkpoint();
        Write(leader, "b", 0, 5);
        leader.Checkpoint();
        Write(leader, "a", 50, 60);
        await ship.ShipAsync();

        using var stop = new CancellationTokenSource();
        long reads = 0, bad = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                // A lookup that races the swap of its adapter may be told it was deleted (as with a replacement on
                // the leader): it looks again; what it reads is always whole.
                try { for (int n = 0; n < 10; n++) if (StoreTestData.Present(follower.Store, "a", n) != 16) Interlocked.Increment(ref bad); }
                catch (KeyNotFoundException) { continue; }
                Interlocked.Increment(ref reads);
            }
        });
        await follower.PollOnceAsync();
        stop.Cancel();
        await reader;
        Assert.That(bad, Is.Zero, "a reader lost weights the follower had during the resync");
        Assert.That(follower.Resyncs, Is.EqualTo(1));
        Assert.That(follower.Store.AppliedSequence, Is.EqualTo(ship.Shipped));
        Assert.That(ReplicaStoreTests.Contents(follower.Store), Is.EqualTo(ReplicaStoreTests.Contents(leader)));
        Assert.That(follower.Store.Names, Does.Not.Contain("old"));
        // No directory of the resync is left behind.
        Assert.That(Directory.EnumerateDirectories(dir.Path).Select(Path.GetFileName), Is.EquivalentTo(new[] { "leader", "replica" }));
    }

    [Test]
    public async Task ADamagedChunk_ChangesNothing_AndTheNextGoodPollConverges()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        using var dir = new TempDir();
        using var leader = AdapterStore.Open(dir.File("leader"), Manual);
        var ship = new HandShipper(bucket, leader);
        Write(leader, "a", 0, 5);
        await ship.ShipAsync();
        await using var follower = await BucketFollower.StartAsync(bucket, dir.File("replica"));
        var before = follower.Store.AppliedSequence;

        Write(leader, "a", 5, 10);
        await ship.ShipAsync();
        var m = (await BucketManifest.ReadAsync(bucket))!.Value.Manifest;
        var last = m.Chunks[^1];
        var good = (await bucket.GetAsync(last.Key))!.Data;
        var bad = (byte[])good.Clone();
        bad[^3] ^= 0x40;
        await bucket.PutAsync(last.Key, bad); // checksummed as written: only the record CRCs can tell

        var e = Assert.ThrowsAsync<DamagedObjectException>(() => follower.PollOnceAsync());
        Assert.That(e!.Message, Does.Contain(last.Key).And.Contain("CRC"));
        Assert.That(follower.Store.AppliedSequence, Is.EqualTo(before));
        Assert.That(StoreTestData.Present(follower.Store, "a", 5), Is.Zero);

        await bucket.PutAsync(last.Key, good);
        await follower.PollOnceAsync();
        Assert.That(ReplicaStoreTests.Contents(follower.Store), Is.EqualTo(ReplicaStoreTests.Contents(leader)));
    }

    [Test]
    public async Task FollowingAPrefixWithNoStore_IsAClearError()
    {
        using var bucket = Ceph.NewBucket(Ceph.Cluster);
        using var dir = new TempDir();
        var e = Assert.ThrowsAsync<InvalidOperationException>(() => BucketFollower.StartAsync(bucket, dir.File("replica")));
        Assert.That(e!.Message, Does.Contain("holds no store yet").And.Contain(bucket.Root.ToString()));
        Assert.That(Directory.Exists(dir.File("replica")), Is.False);
    }
}
