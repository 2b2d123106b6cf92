using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests.Hardening;

/// <summary>`info --store` looks and never writes: a directory that is not a store is refused and left as it was.</summary>
[TestFixture]
public sealed class ReadOnlyInfoTests
{
    [Test]
    public void InfoStore_OnAnOrdinaryDirectory_FailsAndCreatesNothing()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("notes.txt"), "hello");
        var r = Cli.Run("info", "--store", dir.Path);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Err, Does.Contain("not a hyprstream store"));
        Assert.That(Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
        var repair = Cli.Run("store", "repair", dir.Path);
        Assert.That(repair.ExitCode, Is.Not.EqualTo(0));
        Assert.That(Directory.EnumerateFileSystemEntries(dir.Path).Count(), Is.EqualTo(1));
    }

    [Test]
    public void InfoStore_OnAStoreWithATornTail_ReportsIt_AndChangesNoByte()
    {
        using var dir = new TempDir();
        using (var store = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 }))
        {
            store.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64));
            store.Apply("a", new AdapterBatch().Set("m", [1], [1], [1f]));
            store.Checkpoint();
            store.Apply("a", new AdapterBatch().Set("m", [2], [2], [2f]));
        }
        var (_, seg) = WriteAheadLog.Segments(Path.Combine(dir.Path, "wal")).Last();
        File.AppendAllText(seg, "torn"); // half a record, as a crash mid-append leaves it
        var before = StoreQuarantineTests.Snapshot(dir.Path);
        var outText = Cli.Ok("info", "--store", dir.Path);
        Assert.That(outText, Does.Contain("1 adapters").And.Contain("torn"));
        Assert.That(StoreQuarantineTests.Snapshot(dir.Path), Is.EqualTo(before), "a read-only command wrote to the store");
    }

    [Test]
    public void InfoStore_WhileAServerHoldsTheStore_StillReads()
    {
        using var dir = new TempDir();
        using var live = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 });
        live.Create("a", null, new AdapterBatch().DefineModule("m", 8, 64));
        var outText = Cli.Ok("info", "--store", dir.Path);
        Assert.That(outText, Does.Contain("1 adapters"));
        live.Apply("a", new AdapterBatch().Set("m", [1], [1], [1f])); // the live store was not disturbed
    }
}
