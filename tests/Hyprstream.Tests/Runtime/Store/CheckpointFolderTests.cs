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
}
