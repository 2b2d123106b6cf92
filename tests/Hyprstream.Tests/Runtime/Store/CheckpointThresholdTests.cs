using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// The background checkpointer's trigger scales with what a checkpoint rewrites: it folds the WAL once it holds
/// <c>CheckpointWalBytes</c> and <c>CheckpointWalRatio</c> times the bytes of the changed adapters, and always at
/// <c>CheckpointWalMaxBytes</c>. A stream of writes into a large adapter so does not rewrite it whole every 64 MiB.
/// </summary>
[TestFixture]
public sealed class CheckpointThresholdTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Path.Combine(Path.GetTempPath(), "hs-ckpt-threshold-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private static long DirtyBytes(AdapterStore s, params string[] names) => names.Sum(n => s.Find(n).Cache.Bytes);

    [Test]
    public void Threshold_IsTheFloor_RaisedToRatioTimesTheChangedAdapters_AtMostTheCap()
    {
        var options = new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 64 << 10, CheckpointWalRatio = 3, CheckpointWalMaxBytes = 1L << 40 };
        using var s = AdapterStore.Open(_dir, options);
        Assert.That(s.CheckpointThreshold(), Is.EqualTo(64 << 10), "nothing changed: the floor");

        StoreTestData.CreateWithModule(s, "a", dim: 2048);
        StoreTestData.CreateWithModule(s, "b", dim: 2048);
        for (int n = 0; n < 64; n++) { s.Apply("a", StoreTestData.Batch(n, k: 4096, dim: 2048)); s.Apply("b", StoreTestData.Batch(n, k: 1024, dim: 2048)); }
        long dirty = DirtyBytes(s, "a", "b");
        Assert.That(dirty, Is.GreaterThan(1 << 20), "the adapters hold more than a MiB");
        Assert.That(s.CheckpointThreshold(), Is.EqualTo(3 * dirty), "three times the changed adapters' bytes");

        s.Checkpoint();
        Assert.That(s.CheckpointThreshold(), Is.EqualTo(64 << 10), "after a checkpoint nothing is changed: the floor again");
        s.Apply("b", StoreTestData.Batch(0, dim: 2048));
        Assert.That(s.CheckpointThreshold(), Is.EqualTo(3 * DirtyBytes(s, "b")), "only the changed adapter counts");
    }

    [Test]
    public void Threshold_NeverPassesTheCap_AndRatioZeroKeepsTheFloor()
    {
        using (var s = AdapterStore.Open(_dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 64 << 10, CheckpointWalRatio = 100, CheckpointWalMaxBytes = 1 << 20 }))
        {
            StoreTestData.CreateWithModule(s, "a", dim: 2048);
            s.Apply("a", StoreTestData.Batch(0, k: 4096, dim: 2048));
            Assert.That(100 * DirtyBytes(s, "a"), Is.GreaterThan(1 << 20));
            Assert.That(s.CheckpointThreshold(), Is.EqualTo(1 << 20), "capped");
        }
        Directory.Delete(_dir, true);
        using (var s = AdapterStore.Open(_dir, new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 64 << 10, CheckpointWalRatio = 0 }))
        {
            StoreTestData.CreateWithModule(s, "a", dim: 2048);
            s.Apply("a", StoreTestData.Batch(0, k: 4096, dim: 2048));
            Assert.That(s.CheckpointThreshold(), Is.EqualTo(64 << 10), "ratio 0: the WAL size alone decides");
        }
    }

    [Test]
    public void BackgroundCheckpoint_WaitsForRatioTimesTheAdapter_ThenFolds()
    {
        // Floor 16 KiB: under the old rule every few batches would start a checkpoint of the whole adapter.
        var options = new StoreOptions { Fsync = FsyncPolicy.Never, CheckpointWalBytes = 16 << 10, CheckpointWalRatio = 2 };
        using var s = AdapterStore.Open(_dir, options);
        StoreTestData.CreateWithModule(s, "a", dim: 2048);
        s.Checkpoint();
        long before = s.Stats().Checkpoints;
        // Rewrite the same 64 K weights over and over: the adapter's size stays put while the WAL grows.
        int n = 0;
        while (s.Stats().WalBytes < 4 * options.CheckpointWalBytes) s.Apply("a", StoreTestData.Batch(n++ % 16, k: 4096, dim: 2048));
        long threshold = s.CheckpointThreshold();
        Assert.That(threshold, Is.GreaterThan(s.Stats().WalBytes), "the adapter is larger than the WAL so far");
        Thread.Sleep(300); // the checkpointer looks every 50 ms
        Assert.That(s.Stats().Checkpoints, Is.EqualTo(before), "no checkpoint while the WAL is under twice the adapter");

        while (s.Stats().WalBytes < threshold) s.Apply("a", StoreTestData.Batch(n++ % 16, k: 4096, dim: 2048));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (s.Stats().Checkpoints == before && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.That(s.Stats().Checkpoints, Is.GreaterThan(before), "a checkpoint once the WAL passed the threshold");
        Assert.That(StoreTestData.Present(s, "a", 15, k: 4096, dim: 2048), Is.EqualTo(4096));
    }
}
