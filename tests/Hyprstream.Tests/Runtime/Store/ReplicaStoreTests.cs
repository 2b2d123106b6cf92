using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// A replica store (<see cref="AdapterStore.OpenReplica"/>) fed a real store's WAL records: it ends equal to the
/// store value by value, readers never see half a record, gaps and changing calls are refused.
/// </summary>
[TestFixture]
public sealed class ReplicaStoreTests
{
    private static readonly StoreOptions NoAutoCheckpoint = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Parse("never") };

    /// <summary>Everything a client can read of a store: per adapter its base model, tags, embedding, module scales and every active weight.</summary>
    internal static SortedDictionary<string, string> Contents(AdapterStore store)
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in store.Names)
        {
            var (tags, emb) = store.Description(name);
            var text = store.Read(name, a =>
                $"base={a.BaseModel}; scales={string.Join(",", a.Modules.Select(m => $"{m.Name}:{m.Scale:R}:{m.Rows}x{m.Cols}"))}; " +
                string.Join(";", a.EnumerateActive().OrderBy(w => w.Module, StringComparer.Ordinal).ThenBy(w => w.Row).ThenBy(w => w.Col)
                    .Select(w => $"{w.Module}[{w.Row},{w.Col}]={w.Value:R}")));
            all[name] = $"tags={string.Join(",", tags)}; emb={(emb == null ? "none" : string.Join(",", emb.Select(f => f.ToString("R"))))}; {text}";
        }
        return all;
    }

    /// <summary>Copies a store's checkpoint state (manifest + checkpoint files, no WAL) as a replica's bootstrap directory.</summary>
    private static void CopyCheckpointState(string from, string to)
    {
        Directory.CreateDirectory(Path.Combine(to, AdapterStore.CheckpointFolder));
        foreach (var f in Directory.EnumerateFiles(Path.Combine(from, AdapterStore.CheckpointFolder)))
            File.Copy(f, Path.Combine(to, AdapterStore.CheckpointFolder, Path.GetFileName(f)));
        File.Copy(Path.Combine(from, StoreManifest.FileName), Path.Combine(to, StoreManifest.FileName));
    }

    private static List<WalRecord> WalRecords(string storeDir) =>
        WriteAheadLog.Segments(Path.Combine(storeDir, "wal")).SelectMany(s => WriteAheadLog.ReadSegment(s.Path, cut: false).Records).ToList();

    [Test]
    public void ReplayedWal_MakesTheReplicaEqualValueByValue_WhileReadersSeeWholeRecords()
    {
        using var dir = new TempDir();
        var leaderDir = dir.File("leader");
        var replicaDir = dir.File("replica");
        using var leader = AdapterStore.Open(leaderDir, NoAutoCheckpoint);
        StoreTestData.CreateWithModule(leader, "a");
        StoreTestData.CreateWithModule(leader, "gone");
        for (int n = 0; n < 20; n++) leader.Apply("a", StoreTestData.Batch(n));
        leader.Describe("a", ["x", "y"], new float[] { 1, 2, 3 });
        leader.Checkpoint();
        CopyCheckpointState(leader.Directory, replicaDir);
        using var replica = AdapterStore.OpenReplica(replicaDir);
        Assert.That(replica.AppliedSequence, Is.EqualTo(leader.SequenceOf("a")));
        Assert.That(Contents(replica), Is.EqualTo(Contents(leader)));
        var bootstrapped = replica.AppliedSequence;

        // Changes after the bootstrap: updates, a new adapter, a replaced one, a deleted one, descriptions.
        for (int n = 20; n < 200; n++) leader.Apply("a", StoreTestData.Batch(n));
        StoreTestData.CreateWithModule(leader, "b");
        for (int n = 0; n < 50; n++) leader.Apply("b", StoreTestData.Batch(n, offset: 3f));
        leader.Create("a2", "other/base", new AdapterBatch().DefineModule(StoreTestData.Module, 64, 64, 0.5f).Set(StoreTestData.Module, [1, 2], [3, 4], [0.25f, -1f]));
        leader.Create("a2", "other/base", new AdapterBatch().DefineModule(StoreTestData.Module, 32, 32).Set(StoreTestData.Module, [5], [6], [7f]), replace: true);
        leader.Describe("b", ["t"], new float[] { 0.5f, 0.25f, 0.125f });
        leader.Describe("a", ["x"], ReadOnlySpan<float>.Empty);
        leader.Delete("gone");

        var records = WalRecords(leader.Directory);
        var dropped = new List<string>();
        var described = new List<(string, float[]?)>();
        replica.Dropped += (name, _) => { lock (dropped) dropped.Add(name); };
        replica.DescriptionApplied += (name, _, _, emb) => { lock (described) described.Add((name, emb)); };

        // Readers race the applier: every batch's 16 weights are all there or none (a record is applied whole).
        using var stop = new CancellationTokenSource();
        var torn = 0;
        long reads = 0;
        var readers = Enumerable.Range(0, 2).Select(reader => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (int n = 0; n < 200; n += 7)
                {
                    int present = StoreTestData.Present(replica, "a", n);
                    if (present is not (0 or 16)) Interlocked.Increment(ref torn);
                    Interlocked.Increment(ref reads);
                }
                try { _ = Contents(replica); } catch (KeyNotFoundException) { } // an adapter dropped between Names and Read
            }
        })).ToList();
        // In small groups, as a follower gets them chunk by chunk; the records the bootstrap held are skipped.
        int applied = 0;
        foreach (var group in records.Chunk(7)) applied += replica.ApplyReplicated(group);
        stop.Cancel();
        Task.WaitAll(readers.ToArray());

        Assert.That(torn, Is.Zero, $"a reader saw part of a batch ({reads} reads)");
        Assert.That(reads, Is.GreaterThan(0));
        Assert.That(applied, Is.EqualTo(records.Count(r => r.Seq > bootstrapped)));
        Assert.That(replica.AppliedSequence, Is.EqualTo(records[^1].Seq));
        Assert.That(Contents(replica), Is.EqualTo(Contents(leader)));
        Assert.That(dropped, Is.EquivalentTo(new[] { "a2", "gone" }));
        Assert.That(described.Select(d => d.Item1), Is.EqualTo(new[] { "b", "a" }));
        Assert.That(described[0].Item2, Is.EqualTo(new float[] { 0.5f, 0.25f, 0.125f }));
        Assert.That(described[1].Item2, Is.Null);

        // Applying the same records again changes nothing.
        Assert.That(replica.ApplyReplicated(records), Is.Zero);
        Assert.That(Contents(replica), Is.EqualTo(Contents(leader)));
    }

    [Test]
    public void AGap_IsRefused_AndNothingFromItOnIsApplied()
    {
        using var dir = new TempDir();
        using var leader = AdapterStore.Open(dir.File("leader"), NoAutoCheckpoint);
        StoreTestData.CreateWithModule(leader, "a");
        leader.Checkpoint();
        CopyCheckpointState(leader.Directory, dir.File("replica"));
        using var replica = AdapterStore.OpenReplica(dir.File("replica"));
        var before = replica.AppliedSequence;
        for (int n = 0; n < 5; n++) leader.Apply("a", StoreTestData.Batch(n));
        var records = WalRecords(leader.Directory);
        Assert.That(records, Has.Count.EqualTo(5));

        var gap = Assert.Throws<InvalidDataException>(() => replica.ApplyReplicated([records[0], records[2], records[3]]));
        Assert.That(gap!.Message, Does.Contain($"records {records[1].Seq}..{records[1].Seq} are missing"));
        Assert.That(replica.AppliedSequence, Is.EqualTo(before + 1));
        Assert.That(StoreTestData.Present(replica, "a", 0), Is.EqualTo(16));
        Assert.That(StoreTestData.Present(replica, "a", 2), Is.Zero);

        Assert.That(replica.ApplyReplicated(records), Is.EqualTo(4));
        Assert.That(Contents(replica), Is.EqualTo(Contents(leader)));
    }

    [Test]
    public void AReplica_RefusesEveryChangingCall_AndAWritableStoreRefusesRecords()
    {
        using var dir = new TempDir();
        using (var leader = AdapterStore.Open(dir.File("leader"), NoAutoCheckpoint))
        {
            StoreTestData.CreateWithModule(leader, "a");
            Assert.That(Assert.Throws<InvalidOperationException>(() => leader.ApplyReplicated([]))!.Message, Does.Contain("not a replica"));
        }
        using var replica = AdapterStore.OpenReplica(dir.File("leader"));
        Assert.That(replica.IsReplica && replica.IsReadOnly, Is.True);
        Assert.Throws<InvalidOperationException>(() => replica.Apply("a", StoreTestData.Batch(0)));
        Assert.Throws<InvalidOperationException>(() => replica.Create("new"));
        Assert.Throws<InvalidOperationException>(() => replica.Delete("a"));
        Assert.Throws<InvalidOperationException>(() => replica.Describe("a", [], new float[] { 1 }));
        Assert.That(replica.Names, Is.EqualTo(new[] { "a" }));
        Assert.That(replica.Stats().LastSequence, Is.EqualTo(replica.AppliedSequence));
    }
}
