using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// A store whose WAL holds a record that cannot be replayed still opens: that adapter is quarantined (listed with the
/// reason, refused to readers and writers), the rest is served, and repair restores it to its state just before the
/// bad record — or drops it.
/// </summary>
[TestFixture]
public sealed class StoreQuarantineTests
{
    private const string M = StoreTestData.Module;
    private static readonly StoreOptions Manual = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never };

    /// <summary>Appends a record to the store's newest WAL segment as a buggy writer would have (unchecked).</summary>
    private static void AppendRaw(string storeDir, WalRecord r)
    {
        var (_, path) = WriteAheadLog.Segments(Path.Combine(storeDir, "wal")).Last();
        using var f = new FileStream(path, FileMode.Append);
        f.Write(r.Encode());
    }

    /// <summary>"good" and "bad" with weights; "bad" gets an out-of-range set, then a valid one that must not be applied.</summary>
    private static void Seed(string dir, bool checkpointFirst)
    {
        using (var store = AdapterStore.Open(dir, Manual))
        {
            foreach (var n in new[] { "good", "bad" })
            {
                store.Create(n, "base", new AdapterBatch().DefineModule(M, 64, 64));
                store.Apply(n, new AdapterBatch().Set(M, [1, 2], [1, 2], [1f, 2f]));
            }
            if (checkpointFirst) store.Checkpoint();
            store.Apply("bad", new AdapterBatch().Set(M, [3], [3], [3f]));
            store.Describe("bad", ["t1"], [1f, 0f]);
        }
        var next = 1000UL;
        AppendRaw(dir, new WalRecord(next, WalOp.Update, "bad", BatchCodec.Encode(new AdapterBatch().Set(M, [640], [0], [9f]))));
        AppendRaw(dir, new WalRecord(next + 1, WalOp.Update, "bad", BatchCodec.Encode(new AdapterBatch().Set(M, [4], [4], [4f]))));
        AppendRaw(dir, new WalRecord(next + 2, WalOp.Update, "good", BatchCodec.Encode(new AdapterBatch().Set(M, [5], [5], [5f]))));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void UnreplayableRecord_QuarantinesOnlyItsAdapter_AndRepairRestoresTheStateBeforeIt(bool checkpointFirst)
    {
        using var dir = new TempDir();
        Seed(dir.Path, checkpointFirst);
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Names, Is.EqualTo(new[] { "good" }));
            Assert.That(store.Read("good", a => a.Modules[M].Get(5, 5)), Is.EqualTo(5f), "records after the bad one are still replayed for other adapters");
            var q = store.Quarantined.Single();
            Assert.That(q.Name, Is.EqualTo("bad"));
            Assert.That(q.FailedSequence, Is.EqualTo(1000UL));
            Assert.That(q.Reason, Does.Contain("(640, 0) is outside module"));
            Assert.That(q.RecordsFile, Does.Exist);
            Assert.That(store.Recovery.QuarantinedAdapters, Is.EqualTo(1));
            Assert.That(store.Recovery.Clean, Is.False);
            Assert.That(store.Stats().Quarantined.Single().Name, Is.EqualTo("bad"));
            var e = Assert.Throws<AdapterQuarantinedException>(() => store.Info("bad"));
            Assert.That(e!.Message, Does.Contain("store repair").And.Contain("640"));
            Assert.Throws<AdapterQuarantinedException>(() => store.Apply("bad", new AdapterBatch().Set(M, [0], [0], [1f])));
            Assert.Throws<AdapterQuarantinedException>(() => store.Create("bad"));
            Assert.That(store.Contains("bad"), Is.False);
            // The service keeps going: checkpoints fold the WAL, and the quarantine (with its records) survives them.
            store.Apply("good", new AdapterBatch().Set(M, [6], [6], [6f]));
            store.Checkpoint();
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Quarantined.Select(q => q.Name), Is.EqualTo(new[] { "bad" }), "still quarantined after a checkpoint and a reopen");
            Assert.That(store.Read("good", a => a.Modules[M].Get(6, 6)), Is.EqualTo(6f));
            var report = store.Repair("bad");
            Assert.That(report.Restored, Is.True);
            Assert.That(report.RecordsDropped, Is.EqualTo(2), "the bad record and the one after it");
            Assert.That(report.FirstFailure, Does.Contain("1000"));
            Assert.That(report.KeptAt, Does.Exist);
            Assert.That(store.Quarantined, Is.Empty);
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Recovery.QuarantinedAdapters, Is.EqualTo(0));
            Assert.That(store.Names, Is.EqualTo(new[] { "bad", "good" }));
            store.Read("bad", a =>
            {
                Assert.That(a.Modules[M].Get(1, 1), Is.EqualTo(1f));
                Assert.That(a.Modules[M].Get(3, 3), Is.EqualTo(3f), "acknowledged before the bad record: kept");
                Assert.That(a.Modules[M].Get(4, 4), Is.EqualTo(0f), "after the bad record: dropped");
                Assert.That(a.BaseModel, Is.EqualTo("base"));
                return 0;
            });
            Assert.That(store.Description("bad").Tags, Is.EqualTo(new[] { "t1" }));
            store.Apply("bad", new AdapterBatch().Set(M, [7], [7], [7f])); // writable again
        }
    }

    [Test]
    public void Repair_WithDrop_RemovesTheAdapter()
    {
        using var dir = new TempDir();
        Seed(dir.Path, checkpointFirst: true);
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            var report = store.Repair("bad", drop: true);
            Assert.That(report.Restored, Is.False);
            Assert.Throws<KeyNotFoundException>(() => store.Repair("bad"));
        }
        using (var store = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(store.Names, Is.EqualTo(new[] { "good" }));
            Assert.That(store.Quarantined, Is.Empty);
            store.Create("bad"); // the name is free again
        }
    }

    [Test]
    public void StoreRepairCommand_RestoresEveryQuarantinedAdapter_AndInfoShowsThemBefore()
    {
        using var dir = new TempDir();
        var storeDir = Path.Combine(dir.Path, ".store");
        Directory.CreateDirectory(storeDir);
        Seed(storeDir, checkpointFirst: false);
        var info = Cli.Ok("info", "--store", dir.Path);
        Assert.That(info, Does.Contain("QUARANTINED").And.Contain("bad"));
        var outText = Cli.Ok("store", "repair", dir.Path);
        Assert.That(outText, Does.Contain("restored").And.Contain("1 dropped").Or.Contain("2 dropped"));
        Assert.That(Cli.Ok("store", "repair", dir.Path), Does.Contain("nothing to do"));
        using var store = AdapterStore.OpenReadOnly(storeDir);
        Assert.That(store.Names, Is.EqualTo(new[] { "bad", "good" }));
    }

    [Test]
    public void ReadOnlyOpen_OfAStoreWithABadRecord_ReportsTheQuarantine_AndWritesNothing()
    {
        using var dir = new TempDir();
        Seed(dir.Path, checkpointFirst: false);
        var before = Snapshot(dir.Path);
        using (var store = AdapterStore.OpenReadOnly(dir.Path))
        {
            Assert.That(store.Quarantined.Single().Name, Is.EqualTo("bad"));
            Assert.That(store.Quarantined.Single().RecordsFile, Is.Null, "a read-only open keeps nothing on disk");
            Assert.Throws<InvalidOperationException>(() => store.Apply("good", new AdapterBatch().Set(M, [0], [0], [1f])));
            Assert.Throws<InvalidOperationException>(() => store.Checkpoint());
            Assert.That(store.Stats().Fsync, Is.EqualTo("read-only"));
        }
        Assert.That(Snapshot(dir.Path), Is.EqualTo(before));
    }

    /// <summary>Every file under <paramref name="dir"/> with its length and content hash.</summary>
    internal static string[] Snapshot(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => File.Exists(p) ? $"{Path.GetRelativePath(dir, p)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p)))}" : Path.GetRelativePath(dir, p) + "/")
            .ToArray();
}
