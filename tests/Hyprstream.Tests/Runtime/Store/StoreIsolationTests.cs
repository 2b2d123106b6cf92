using System.Diagnostics;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// No disk I/O under a lock that unrelated adapters share: a cold load (a read mapping a snapshot file, a write
/// promoting one) or an evicted adapter's write-back, held blocked by a test hook, stalls no read, write or checkpoint
/// of another adapter.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class StoreIsolationTests
{
    private const string M = StoreTestData.Module;

    [Test]
    public void ABlockedColdLoad_OfOneAdapter_StallsNoReadWriteOrCheckpointOfAnother()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always });
        foreach (var n in new[] { "slow", "hot", "cold" })
        {
            StoreTestData.CreateWithModule(s, n);
            s.Apply(n, StoreTestData.Batch(0));
        }
        Assert.That(s.Evict("slow") && s.Evict("cold"), Is.True);
        using var release = new ManualResetEventSlim(false);
        using var entered = new CountdownEvent(2);
        AdapterStore.ColdLoadHook = name =>
        {
            if (name != "slow") return;
            entered.Signal();
            release.Wait(TimeSpan.FromSeconds(30));
        };
        try
        {
            // A reader (maps the snapshot file) and a writer (promotes it) of "slow", both held inside their cold load.
            // (If the write finishes first, the read finds the promoted grid instead.)
            var reader = Task.Run(() => { using var r = s.OpenRead("slow"); return r.Adapter?.Modules[M].Get(0, 3) ?? r.Snapshot![M][0, 3]; });
            var writer = Task.Run(() => s.Apply("slow", StoreTestData.Batch(1)));
            Assert.That(entered.Wait(TimeSpan.FromSeconds(10)), Is.True, "both loads of 'slow' reached the hook");

            var sw = Stopwatch.StartNew();
            var others = Task.Run(() =>
            {
                Assert.That(StoreTestData.Present(s, "hot", 0), Is.EqualTo(16), "read of a resident adapter");
                s.Apply("hot", StoreTestData.Batch(1));
                Assert.That(StoreTestData.Present(s, "hot", 1), Is.EqualTo(16), "write to a resident adapter");
                using (var r = s.OpenRead("cold")) Assert.That(r.Snapshot![M][0, 3], Is.EqualTo(StoreTestData.Value(0, 3)), "cold read of another adapter");
                Assert.That(s.Info("hot").ActiveCount, Is.EqualTo(32));
                s.Checkpoint();
                s.Stats();
            });
            Assert.That(others.Wait(TimeSpan.FromSeconds(20)), Is.True, "the other adapters' calls finished while 'slow' was held");
            TestContext.Out.WriteLine($"other adapters' reads, writes and a checkpoint: {sw.ElapsedMilliseconds} ms while 'slow' was held");
            Assert.That(reader.IsCompleted || writer.IsCompleted, Is.False, "'slow' was still held meanwhile");

            release.Set();
            Assert.That(reader.Wait(TimeSpan.FromSeconds(10)) && writer.Wait(TimeSpan.FromSeconds(10)), Is.True);
            Assert.That(reader.Result, Is.EqualTo(StoreTestData.Value(0, 3)));
            Assert.That(StoreTestData.Present(s, "slow", 1), Is.EqualTo(16), "the held write went through after");
        }
        finally
        {
            AdapterStore.ColdLoadHook = null;
            release.Set();
        }
    }

    [Test]
    public void ABlockedWriteBack_OfOneEvictedAdapter_StallsNoReadWriteOrCheckpointOfAnother()
    {
        long m;
        using (var probeDir = new TempDir())
        using (var probe = AdapterStore.Open(probeDir.Path, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never }))
        {
            StoreTestData.CreateWithModule(probe, "p");
            probe.Apply("p", StoreTestData.Batch(0));
            m = probe.Read("p", a => a.MemoryBytes);
        }
        using var dir = new TempDir();
        // L1 holds two adapters, L2 and L3 none: an adapter pushed out of L1 with changes is written back at once.
        using var s = AdapterStore.Open(dir.Path, new StoreOptions
        {
            CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always, Budgets = new CacheBudgets(m * 5 / 2, 1, 1),
        });
        foreach (var n in new[] { "cold", "hot", "victim" })
        {
            StoreTestData.CreateWithModule(s, n);
            s.Apply(n, StoreTestData.Batch(0));
        }
        Assert.That(s.Evict("cold"), Is.True);
        s.Pin("hot");
        s.Apply("victim", StoreTestData.Batch(1)); // changed since its checkpoint: leaving L1 means a write-back
        Assert.That(s.TierOf("victim"), Is.EqualTo(CacheTier.L1));
        long writeBacks = s.Stats().Cache.WriteBacks;
        using var release = new ManualResetEventSlim(false);
        using var entered = new ManualResetEventSlim(false);
        TieredCache.WriteBackHook = name =>
        {
            if (name != "victim") return;
            entered.Set();
            release.Wait(TimeSpan.FromSeconds(30));
        };
        try
        {
            // A third adapter pushes "victim" out of L1; its write-back is held inside the hook.
            var trigger = Task.Run(() =>
            {
                StoreTestData.CreateWithModule(s, "new");
                s.Apply("new", StoreTestData.Batch(0));
            });
            Assert.That(entered.Wait(TimeSpan.FromSeconds(10)), Is.True, "the write-back of 'victim' reached the hook");

            var sw = Stopwatch.StartNew();
            var others = Task.Run(() =>
            {
                Assert.That(StoreTestData.Present(s, "hot", 0), Is.EqualTo(16), "read of a resident adapter");
                s.Apply("hot", StoreTestData.Batch(2));
                Assert.That(StoreTestData.Present(s, "hot", 2), Is.EqualTo(16), "write to a resident adapter");
                using (var r = s.OpenRead("cold")) Assert.That(r.Snapshot![M][0, 3], Is.EqualTo(StoreTestData.Value(0, 3)), "cold read of another adapter");
                Assert.That(s.Info("hot").ActiveCount, Is.EqualTo(32));
                Assert.That(StoreTestData.Present(s, "victim", 1), Is.EqualTo(16), "even the adapter being written back reads meanwhile");
                s.Checkpoint();
                s.Stats();
            });
            Assert.That(others.Wait(TimeSpan.FromSeconds(20)), Is.True, "the other adapters' calls finished while the write-back was held");
            TestContext.Out.WriteLine($"other adapters' reads, writes and a checkpoint: {sw.ElapsedMilliseconds} ms while a write-back was held");
            Assert.That(trigger.IsCompleted, Is.False, "the write-back was still held meanwhile");

            release.Set();
            Assert.That(trigger.Wait(TimeSpan.FromSeconds(10)), Is.True);
            Assert.That(s.Stats().Cache.WriteBacks, Is.GreaterThan(writeBacks));
        }
        finally
        {
            TieredCache.WriteBackHook = null;
            release.Set();
        }
        Assert.That(StoreTestData.Present(s, "victim", 1), Is.EqualTo(16), "the written-back state reads back");
        s.Dispose();
        using var reopened = AdapterStore.Open(dir.Path, new StoreOptions { CheckpointWalBytes = 0 });
        Assert.That(StoreTestData.Present(reopened, "victim", 1), Is.EqualTo(16), "and after a reopen");
        Assert.That(StoreTestData.Present(reopened, "hot", 2), Is.EqualTo(16));
    }
}
