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
        const int threads = 8, batches = 200;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var rng = new Random(t);
            for (int b = 0; b < batches; b++)
            {
                int n = 32;
                var rows = new int[n]; var cols = new int[n]; var vals = new float[n];
                for (int i = 0; i < n; i++) { rows[i] = rng.Next(64); cols[i] = rng.Next(256); vals[i] = 1f; }
                m.AddMany(rows, cols, vals);
            }
        });
        double sum = m.EnumerateActive().Sum(w => (double)w.Value);
        Assert.That(sum, Is.EqualTo(threads * batches * 32));
    }

    [Test]
    public void Readers_SeeWholeBatches_NeverHalf()
    {
        using var a = new SparseAdapter("r");
        var m = a.AddModule("m", 8, 512);
        int[] rows = Enumerable.Range(0, 512).Select(i => i % 8).ToArray();
        int[] cols = Enumerable.Range(0, 512).ToArray();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            for (int v = 1; v <= 300; v++) m.SetMany(rows, cols, Enumerable.Repeat((float)v, 512).ToArray());
            stop.Cancel();
        });
        int torn = 0, reads = 0;
        var buffer = new float[512];
        while (!stop.IsCancellationRequested)
        {
            m.GetMany(rows, cols, buffer);
            if (buffer.Distinct().Count() > 1) torn++;
            reads++;
        }
        writer.Wait();
        Assert.That(torn, Is.Zero, $"{reads} reads");
        Assert.That(m[0, 0], Is.EqualTo(300f));
    }

    [Test]
    public void CrossMerges_DoNotDeadlock()
    {
        using var a = Fixtures.Small("a");
        using var b = Fixtures.Small("b");
        var t1 = Task.Run(() => { for (int i = 0; i < 200; i++) a.MergeFrom(b, 1e-3f); });
        var t2 = Task.Run(() => { for (int i = 0; i < 200; i++) b.MergeFrom(a, 1e-3f); });
        Assert.That(Task.WaitAll([t1, t2], TimeSpan.FromSeconds(60)), Is.True);
    }
}
