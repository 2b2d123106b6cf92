using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>Checkpoints live in checkpoints/; a store written when the folder was snapshots/ opens and moves it.</summary>
[TestFixture]
public sealed class CheckpointFolderTests
{
    [Test]
    public void StoreWithTheOldSnapshotsFolder_OpensWithEveryAdapter_AndMovesTheFolder()
    {
        using var dir = new TempDir();
        using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [1], [2], [3f]));
            store.Checkpoint();
        }
        Directory.Move(Path.Combine(dir.Path, AdapterStore.CheckpointFolder), Path.Combine(dir.Path, "snapshots"));

        using (var ro = AdapterStore.OpenReadOnly(dir.Path))
            Assert.That(ro.Read("a", a => a.Modules["m"].Get(1, 2)), Is.EqualTo(3f), "read-only: read where it is");
        Assert.That(Directory.Exists(Path.Combine(dir.Path, "snapshots")), Is.True, "a read-only open moves nothing");

        using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
            Assert.That(store.Read("a", a => a.Modules["m"].Get(1, 2)), Is.EqualTo(3f));
        Assert.That(Directory.Exists(Path.Combine(dir.Path, "snapshots")), Is.False);
        Assert.That(Directory.GetFiles(Path.Combine(dir.Path, AdapterStore.CheckpointFolder), "*.vdb"), Has.Length.EqualTo(1));
    }

    [Test]
    public void CheckpointFilesOfDeletedOrReplacedAdapters_GoWithTheNextCheckpoint()
    {
        using var dir = new TempDir();
        var folder = Path.Combine(dir.Path, AdapterStore.CheckpointFolder);
        using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            foreach (var n in new[] { "a", "b", "c" })
                store.Create(n, null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [0], [0], [1f]));
            store.Checkpoint();
            Assert.That(Directory.GetFiles(folder, "*.vdb"), Has.Length.EqualTo(3));
            Assert.That(Directory.GetFiles(folder, "*.nvdb"), Has.Length.EqualTo(3), "each checkpoint has its snapshot file");
            store.Delete("a");
            store.Create("b", null, new AdapterBatch().DefineModule("m", 8, 64).Set("m", [0], [0], [2f]), replace: true);
            Assert.That(Directory.GetFiles(folder), Has.Length.EqualTo(6), "kept until a manifest stops naming them");
            store.Checkpoint();
            // Only the live adapters' current checkpoints are left: nothing a deleted adapter could come back from.
            Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName).Select(f => f![..1] + Path.GetExtension(f)).Order(),
                Is.EqualTo(new[] { "b.nvdb", "b.vdb", "c.nvdb", "c.vdb" }));
        }
        using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            Assert.That(store.Names, Is.EqualTo(new[] { "b", "c" }));
            Assert.That(store.Read("b", a => a.Modules["m"].Get(0, 0)), Is.EqualTo(2f));
            Assert.That(store.Recovery.OrphansRemoved, Is.EqualTo(0), "nothing was left behind for recovery to clean up");
        }
    }
}
