using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// Failing checkpoints are visible: on a real full disk (a small tmpfs mounted by the test, as root) each failure is
/// logged and counted in the stats, and after a few in a row writes are refused with the reason instead of the WAL
/// growing; once space is freed a checkpoint succeeds, writes resume, and nothing acknowledged was lost.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class CheckpointFailureTests
{
    [Test]
    public void CheckpointsFailingOnAFullDisk_AreLoggedAndCounted_ThenWritesAreRefusedWithTheReason_UntilOneSucceeds()
    {
        using var mountPoint = new SmallDisk(4, "the full-disk checkpoint test");
        var dir = Path.Combine(mountPoint.Path, "store");
        var log = new List<string>();
        var options = new StoreOptions
        {
            // The WAL size alone starts checkpoints here (ratio 0): the 4 MiB disk must fill with WAL records past the trigger.
            Fsync = FsyncPolicy.Always, CheckpointWalBytes = 8 << 10, CheckpointWalRatio = 0, CheckpointFailuresBeforeRefusing = 2,
            Log = m => { lock (log) log.Add(m); },
        };
        int acked = 0;
        StoreUnavailableException? refused = null;
        var filler = Path.Combine(mountPoint.Path, "filler");
        using (var s = AdapterStore.Open(dir, options))
        {
            StoreTestData.CreateWithModule(s, "a", dim: 2048);
            s.Checkpoint();
            // Fill the disk, then leave ~160 KiB: room for WAL records, not for a checkpoint (its snapshot alone is ~300 KiB).
            FillDisk(filler);
            using (var f = new FileStream(filler, FileMode.Open)) f.SetLength(Math.Max(0, f.Length - (160 << 10)));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (refused == null && DateTime.UtcNow < deadline)
            {
                try { s.Apply("a", StoreTestData.Batch(acked, dim: 2048)); acked++; }
                catch (StoreUnavailableException e) { refused = e; }
                catch (IOException e) when (e.Message.Contains("nothing was logged"))
                {
                    // A slow machine can fill the last KiB with WAL records before the checkpointer has failed
                    // often enough to refuse writes: that write failed cleanly (not acknowledged, not counted);
                    // keep going until the refusal comes.
                    Thread.Sleep(50);
                }
                Thread.Sleep(5);
            }
            Assert.That(refused, Is.Not.Null, $"writes were never refused ({acked} acknowledged)");
            TestContext.Out.WriteLine($"refused after {acked} batches: {refused!.Message}");
            Assert.That(refused.Message, Does.Contain("checkpoints").And.Contain("failed").And.Contain("No space left on device").IgnoreCase);
            var health = s.Stats().CheckpointHealth!;
            Assert.That(health.FailuresInARow, Is.GreaterThanOrEqualTo(2));
            Assert.That(health.WritesRefused, Is.Not.Null);
            Assert.That(health.LastError, Does.Contain("space").IgnoreCase);
            lock (log) Assert.That(log.Count(m => m.StartsWith("CHECKPOINT FAILED")), Is.GreaterThanOrEqualTo(2));
            Assert.That(StoreTestData.Present(s, "a", acked - 1, dim: 2048), Is.EqualTo(16), "reads go on");
            Assert.Throws<StoreUnavailableException>(() => s.Create("b"), "creating is refused too");

            // Space again: the checkpointer's next try succeeds and writes resume.
            File.Delete(filler);
            var until = DateTime.UtcNow.AddSeconds(30);
            while (s.CheckpointHealth.FailuresInARow > 0 && DateTime.UtcNow < until) Thread.Sleep(50);
            Assert.That(s.CheckpointHealth.FailuresInARow, Is.Zero, "a checkpoint succeeded once there was space");
            s.Apply("a", StoreTestData.Batch(acked, dim: 2048));
            acked++;
            lock (log) Assert.That(log, Has.Some.Contains("writes are accepted again"));
        }
        using var r = AdapterStore.Open(dir, options with { Log = null, CheckpointWalBytes = 0 });
        for (int n = 0; n < acked; n++) Assert.That(StoreTestData.Present(r, "a", n, dim: 2048), Is.EqualTo(16), $"batch {n}");
        Assert.That(Directory.GetFiles(Path.Combine(dir, AdapterStore.CheckpointFolder)), Has.Length.EqualTo(2), "no leftovers of the failed attempts");
    }

    private static void FillDisk(string path)
    {
        var chunk = new byte[64 << 10];
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        try { while (true) f.Write(chunk); }
        catch (IOException) { }
    }
}
