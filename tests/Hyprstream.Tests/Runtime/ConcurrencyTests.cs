using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Concurrent writers lose no update; readers never see a torn batch.</summary>
public class ConcurrencyTests
{
    [Test]
    public void ConcurrentAddMany_LosesNoUpdate()
    {
        using var a = new SparseAdapter("c");
        var m = a.AddModule("m", 64, 256);
        const int threads = 8, batches = 200, n = 32;
        // Dedicated threads released together; each keeps adding (at least `batches` batches) until calls have been
        // seen in flight at the same time, so the test cannot pass having run the writers one after another.
        var overlap = new Overlap();
        var start = new Barrier(threads);
        long written = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                var rng = new Random(t);
                start.SignalAndWait();
                for (int b = 0; b < batches || overlap.Overlapped < threads; b++)
                {
                    var rows = new int[n]; var cols = new int[n]; var vals = new float[n];
                    for (int i = 0; i < n; i++) { rows[i] = rng.Next(64); cols[i] = rng.Next(256); vals[i] = 1f; }
                    overlap.Run(() => m.AddMany(rows, cols, vals));
                    Interlocked.Increment(ref written);
                    if (b > 1_000_000) throw new InvalidOperationException($"the writers never overlapped: {overlap}");
                }
            }
            catch (Exception e) { errors.Enqueue(e); }
        })).ToList();
        workers.ForEach(w => w.Start());
        foreach (var w in workers) Assert.That(w.Join(TimeSpan.FromSeconds(120)), Is.True, "a writer is stuck (hang guard)");
        Assert.That(errors, Is.Empty);
        Assert.That(overlap.Overlapped, Is.GreaterThanOrEqualTo(threads), overlap.ToString());
        Assert.That(written, Is.GreaterThanOrEqualTo(threads * batches));
        double sum = m.EnumerateActive().Sum(w => (double)w.Value);
        Assert.That(sum, Is.EqualTo(written * n), "every added 1 is counted once");
    }

    [Test]
    public void Readers_SeeWholeBatches_NeverHalf()
    {
        using var a = new SparseAdapter("r");
        var m = a.AddModule("m", 8, 512);
        int[] rows = Enumerable.Range(0, 512).Select(i => i % 8).ToArray();
        int[] cols = Enumerable.Range(0, 512).ToArray();
        // The writer keeps writing whole batches (all 512 cells = v) until the reader has read at least 300 times,
        // seen at least 20 different batches, and done at least 50 reads that began or ended while a write was in
        // flight: counted events, not a time budget, and proof that reads and writes overlapped.
        int writing = 0, lastWritten = 0;
        long reads = 0, readsDuringWrite = 0;
        var seen = new HashSet<float>();
        int torn = 0;
        var stop = new ManualResetEventSlim();
        Exception? writerError = null;
        var writer = new Thread(() =>
        {
            try
            {
                for (int v = 1; !stop.IsSet; v++)
                {
                    var values = Enumerable.Repeat((float)v, 512).ToArray();
                    Volatile.Write(ref writing, 1);
                    m.SetMany(rows, cols, values);
                    Volatile.Write(ref writing, 0);
                    Volatile.Write(ref lastWritten, v);
                }
            }
            catch (Exception e) { writerError = e; }
        });
        writer.Start();
        var guard = System.Diagnostics.Stopwatch.StartNew();
        var buffer = new float[512];
        try
        {
            while (reads < 300 || seen.Count < 20 || readsDuringWrite < 50)
            {
                if (guard.Elapsed > TimeSpan.FromSeconds(120) || !writer.IsAlive)
                    Assert.Fail($"hang guard: {reads} reads, {seen.Count} batches seen, {readsDuringWrite} during a write; writer alive: {writer.IsAlive} {writerError}");
                bool during = Volatile.Read(ref writing) == 1;
                m.GetMany(rows, cols, buffer);
                during |= Volatile.Read(ref writing) == 1;
                if (during) readsDuringWrite++;
                if (buffer.Distinct().Count() > 1) torn++;
                seen.Add(buffer[0]);
                reads++;
            }
        }
        finally { stop.Set(); writer.Join(); }
        Assert.That(writerError, Is.Null);
        Assert.That(torn, Is.Zero, $"{reads} reads, {readsDuringWrite} during a write");
        Assert.That(m[0, 0], Is.EqualTo((float)lastWritten), "the last write is what stays");
    }

    [Test]
    public void CrossMerges_DoNotDeadlock()
    {
        using var a = Fixtures.Small("a");
        using var b = Fixtures.Small("b");
        // Both directions at once on dedicated threads released by a barrier; each keeps merging (at least 200 times)
        // until the two have been in flight together 20 times: a serial run cannot pass, a lock-order deadlock hangs
        // and trips the guard.
        var overlap = new Overlap();
        var start = new Barrier(2);
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        Thread Merger(SparseAdapter into, SparseAdapter from) => new(() =>
        {
            try
            {
                start.SignalAndWait();
                for (int i = 0; i < 200 || overlap.Overlapped < 20; i++)
                {
                    overlap.Run(() => into.MergeFrom(from, 1e-3f));
                    if (i > 1_000_000) throw new InvalidOperationException($"the merges never overlapped: {overlap}");
                }
            }
            catch (Exception e) { errors.Enqueue(e); }
        });
        var t1 = Merger(a, b);
        var t2 = Merger(b, a);
        t1.Start(); t2.Start();
        Assert.That(t1.Join(TimeSpan.FromSeconds(120)) & t2.Join(TimeSpan.FromSeconds(120)), Is.True, $"deadlock (hang guard): {overlap}");
        Assert.That(errors, Is.Empty);
        Assert.That(overlap.Overlapped, Is.GreaterThanOrEqualTo(20), overlap.ToString());
    }
}
