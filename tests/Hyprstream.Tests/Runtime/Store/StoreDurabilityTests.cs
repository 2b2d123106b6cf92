using Hyprstream.Runtime.Store;
using D = Hyprstream.Tests.StoreTestData;

namespace Hyprstream.Tests;

/// <summary>The store's WAL, snapshots and recovery: torn and corrupt tails, interrupted snapshot swaps, a full disk.</summary>
[TestFixture]
public sealed class StoreDurabilityTests
{
    private static readonly StoreOptions NoBackground = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always };

    private static string LastSegment(string dir) => WriteAheadLog.Segments(Path.Combine(dir, "wal")).Last().Path;

    [Test]
    public void Reopen_ReplaysEveryBatch_WithoutASnapshot()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            for (int n = 0; n < 20; n++) s.Apply("a", D.Batch(n));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Recovery.RecordsReplayed, Is.EqualTo(22));
        Assert.That(r.Recovery.DroppedBytes, Is.Zero);
        for (int n = 0; n < 20; n++) Assert.That(D.Present(r, "a", n), Is.EqualTo(16), $"batch {n}");
        Assert.That(r.Read("a", a => a.BaseModel), Is.EqualTo("test/base"));
    }

    [Test]
    public void TruncatedWalTail_DropsOnlyTheTornRecord_ReportsIt_AndTheStoreKeepsWorking()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            for (int n = 0; n < 10; n++) s.Apply("a", D.Batch(n));
        }
        var seg = LastSegment(dir.Path);
        long len = new FileInfo(seg).Length;
        using (var f = new FileStream(seg, FileMode.Open)) f.SetLength(len - 7);
        using (var r = AdapterStore.Open(dir.Path, NoBackground))
        {
            Assert.That(r.Recovery.DroppedBytes, Is.GreaterThan(0));
            Assert.That(r.Recovery.DropReason, Does.Contain("torn"));
            for (int n = 0; n < 9; n++) Assert.That(D.Present(r, "a", n), Is.EqualTo(16), $"batch {n}");
            Assert.That(D.Present(r, "a", 9), Is.Zero, "the torn batch is absent, not half applied");
            r.Apply("a", D.Batch(9));
        }
        using var again = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(again.Recovery.DroppedBytes, Is.Zero, "the cut tail was truncated; new records follow intact ones");
        Assert.That(D.Present(again, "a", 9), Is.EqualTo(16));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void BitFlippedRecord_StopsReplayThere_AndDropsEverythingAfter(bool lastRecord)
    {
        using var dir = new TempDir();
        var offsets = new List<long>();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            for (int n = 0; n < 10; n++)
            {
                offsets.Add(new FileInfo(LastSegment(dir.Path)).Length);
                s.Apply("a", D.Batch(n));
            }
        }
        int victim = lastRecord ? 9 : 4;
        var seg = LastSegment(dir.Path);
        var bytes = File.ReadAllBytes(seg);
        bytes[offsets[victim] + 20] ^= 0x10; // inside the record body: the CRC no longer matches
        File.WriteAllBytes(seg, bytes);
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Recovery.DropReason, Does.Contain("CRC"));
        Assert.That(r.Recovery.DroppedBytes, Is.EqualTo(bytes.Length - offsets[victim]));
        for (int n = 0; n < 10; n++) Assert.That(D.Present(r, "a", n), Is.EqualTo(n < victim ? 16 : 0), $"batch {n}");
    }

    [Test]
    public void Checkpoint_FoldsTheWal_AndAddsAreNotReplayedTwice()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            for (int n = 0; n < 5; n++) s.Apply("a", D.Batch(n));
            s.Checkpoint();
            Assert.That(WriteAheadLog.Segments(Path.Combine(dir.Path, "wal")).Select(x => x.Segment), Is.EqualTo(new[] { 2L }));
            var ones = Enumerable.Repeat(1f, 16).ToArray();
            var b = D.Batch(0);
            s.Apply("a", new AdapterBatch().Add(D.Module, b.Ops[0].RowIndex!, b.Ops[0].ColIndex!, ones));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Recovery.RecordsReplayed, Is.EqualTo(1));
        Assert.That(D.Present(r, "a", 0, offset: 1f), Is.EqualTo(16), "snapshot + one replayed add, exactly once");
        for (int n = 1; n < 5; n++) Assert.That(D.Present(r, "a", n), Is.EqualTo(16));
    }

    [Test]
    public void CrashBeforeManifestSwap_LeftoverSnapshotsAreRemoved_AndTheWalStillHoldsEverything()
    {
        using var dir = new TempDir();
        using var before = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            for (int n = 0; n < 5; n++) s.Apply("a", D.Batch(n));
            CopyTree(dir.Path, before.Path);       // the state just before the snapshot
            s.Checkpoint();
        }
        // The crash: the new snapshot files and a half-written manifest exist, the manifest swap never happened.
        foreach (var f in Directory.GetFiles(Path.Combine(dir.Path, AdapterStore.CheckpointFolder)))
            File.Copy(f, Path.Combine(before.Path, AdapterStore.CheckpointFolder, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(before.Path, StoreManifest.FileName + ".tmp"), "{ half a manif");
        using var r = AdapterStore.Open(before.Path, NoBackground);
        Assert.That(r.Recovery.OrphansRemoved, Is.EqualTo(3), "the new checkpoint's .vdb and .nvdb, and the half manifest");
        Assert.That(Directory.GetFiles(Path.Combine(before.Path, AdapterStore.CheckpointFolder)), Is.Empty);
        for (int n = 0; n < 5; n++) Assert.That(D.Present(r, "a", n), Is.EqualTo(16));
    }

    [Test]
    public void CrashAfterManifestSwap_FoldedSegmentsAreIgnored_NotReplayedAgain()
    {
        using var dir = new TempDir();
        string oldSegment;
        byte[] oldBytes;
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            var b = D.Batch(0);
            s.Apply("a", b);
            s.Apply("a", new AdapterBatch().Add(D.Module, b.Ops[0].RowIndex!, b.Ops[0].ColIndex!, Enumerable.Repeat(1f, 16).ToArray()));
            oldSegment = LastSegment(dir.Path);
            oldBytes = File.ReadAllBytes(oldSegment);
            s.Checkpoint();
        }
        // The crash: the manifest names segment 2, but the folded segment 1 was not deleted yet.
        File.WriteAllBytes(oldSegment, oldBytes);
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(File.Exists(oldSegment), Is.False);
        Assert.That(r.Recovery.RecordsReplayed, Is.Zero);
        Assert.That(D.Present(r, "a", 0, offset: 1f), Is.EqualTo(16), "the add is in the snapshot once, not replayed again");
    }

    [Test]
    public void SecondOpen_OfAStoreInUse_IsRefused()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(() => AdapterStore.Open(dir.Path, NoBackground), Throws.InstanceOf<IOException>().With.Message.Contain("open in another process"));
    }

    [Test]
    public void DamagedManifest_IsAnInvalidDataError_NotSilentlyEmpty()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground)) { D.CreateWithModule(s, "a"); s.Checkpoint(); }
        var path = Path.Combine(dir.Path, StoreManifest.FileName);
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        Assert.That(() => AdapterStore.Open(dir.Path, NoBackground), Throws.InstanceOf<InvalidDataException>().With.Message.Contain("checksum"));
    }

    [Test]
    public void MergePruneDescribeDelete_SurviveReopenAndCheckpoint()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            D.CreateWithModule(s, "a");
            D.CreateWithModule(s, "b");
            D.CreateWithModule(s, "gone");
            s.Apply("a", D.Batch(0));
            s.Apply("b", D.Batch(0));
            s.Merge("a", "b", 2f);              // a = 3·v
            s.Checkpoint();
            s.Apply("b", D.Batch(1));           // b changes after the merge: replay must not care
            s.Apply("a", new AdapterBatch().Set(D.Module, [255], [255], [0.001f]).Prune(0.01f));
            s.Describe("a", ["math", "qwen"], [0.5f, -1f, 2f]);
            s.Delete("gone");
        }
        using (var r = AdapterStore.Open(dir.Path, NoBackground))
        {
            Assert.That(r.Names, Is.EqualTo(new[] { "a", "b" }));
            Assert.That(r.Read("a", a => a.Modules[D.Module].Get(0, 3)), Is.EqualTo(3f * D.Value(0, 3)).Within(1e-6));
            Assert.That(r.Read("a", a => a.Modules[D.Module].IsActive(255, 255)), Is.False, "pruned");
            var (tags, emb) = r.Description("a");
            Assert.That(tags, Is.EqualTo(new[] { "math", "qwen" }));
            Assert.That(emb, Is.EqualTo(new[] { 0.5f, -1f, 2f }));
            r.Checkpoint();
        }
        using var r2 = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r2.Description("a").Embedding, Is.EqualTo(new[] { 0.5f, -1f, 2f }));
        Assert.That(D.Present(r2, "b", 1), Is.EqualTo(16));
    }

    [Test]
    public void BadBatches_AreRefusedBeforeLogging_AndLoseNothing()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        D.CreateWithModule(s, "a");
        s.Apply("a", D.Batch(0));
        var seq = s.Stats().LastSequence;
        Assert.That(() => new AdapterBatch().Set(D.Module, [0], [0], [float.NaN]), Throws.ArgumentException.With.Message.Contain("finite"));
        Assert.That(() => s.Apply("a", new AdapterBatch().Set(D.Module, [0], [D.Dim], [1f])), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => s.Apply("a", new AdapterBatch().Set("model.layers.9.mlp.up_proj", [0], [0], [1f])), Throws.InstanceOf<KeyNotFoundException>());
        Assert.That(() => s.Apply("a", new AdapterBatch().DefineModule(D.Module, 3, 3)), Throws.ArgumentException.With.Message.Contain("shape"));
        Assert.That(() => s.Apply("nobody", D.Batch(1)), Throws.InstanceOf<KeyNotFoundException>());
        Assert.That(() => s.Create("../evil"), Throws.ArgumentException);
        Assert.That(() => s.Create("a"), Throws.InvalidOperationException);
        Assert.That(s.Stats().LastSequence, Is.EqualTo(seq), "nothing was logged");
        Assert.That(D.Present(s, "a", 0), Is.EqualTo(16));
        Assert.That(s.Contains("nobody"), Is.False);
    }

    [Test]
    public void FullDisk_FailsTheWriteCleanly_AndEveryAcknowledgedBatchSurvives()
    {
        using var mountPoint = new SmallDisk(1, "the full-disk test");
        var dir = Path.Combine(mountPoint.Path, "store");
        int acked = 0;
        IOException? failure = null;
        using (var s = AdapterStore.Open(dir, NoBackground))
        {
            D.CreateWithModule(s, "a", dim: 4096);
            for (int n = 0; n < 100_000; n++)
            {
                try { s.Apply("a", D.Batch(n, k: 256, dim: 4096)); acked++; }
                catch (IOException e) { failure = e; break; }
            }
            Assert.That(failure, Is.Not.Null, "a 1 MiB disk never filled up");
            Assert.That(failure!.Message, Does.Contain("nothing was logged"));
            Assert.That(D.Present(s, "a", acked - 1, k: 256, dim: 4096), Is.EqualTo(256), "the store still answers reads");
            Assert.That(D.Present(s, "a", acked, k: 256, dim: 4096), Is.Zero, "the failed batch was not applied");
        }
        using var r = AdapterStore.Open(dir, NoBackground);
        Assert.That(r.Recovery.DroppedBytes, Is.Zero, "the failed append left no partial record");
        for (int n = 0; n < acked; n++) Assert.That(D.Present(r, "a", n, k: 256, dim: 4096), Is.EqualTo(256), $"batch {n}");
        TestContext.Out.WriteLine($"disk full after {acked} batches: {failure!.Message}");
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            if (Path.GetFileName(f) != "lock") File.Copy(f, f.Replace(from, to), true);
    }
}
