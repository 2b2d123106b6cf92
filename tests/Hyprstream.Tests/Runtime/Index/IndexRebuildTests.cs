using Hyprstream.Runtime.Index;

namespace Hyprstream.Tests;

/// <summary>Background rebuilds: tombstones are compacted away, and a new M is built while the old graph serves.</summary>
public class IndexRebuildTests
{
    [Test]
    public void RemovingManyEmbeddings_IsCompactedInTheBackground()
    {
        var data = IndexData.Clustered(600, 16, 6, 1);
        using var index = AdapterIndex.CreateInMemory(16, DistanceMetric.L2);
        for (int i = 0; i < data.Length; i++) index.Upsert($"a{i}", data[i]);
        for (int i = 0; i < 300; i++) index.Remove($"a{i}");
        Assert.That(index.WaitForRebuild(TimeSpan.FromSeconds(60)), Is.True);
        var stats = index.Stats();
        Assert.That(stats.Compactions, Is.GreaterThanOrEqualTo(1));
        Assert.That(stats.Rebuilds, Is.GreaterThanOrEqualTo(1));
        Assert.That(stats.Count, Is.EqualTo(300));
        // Compactions reclaim tombstones until fewer than CompactWhenDeleted (25%) of the nodes are tombstones.
        Assert.That(stats.Deleted, Is.LessThan(0.25 * (stats.Count + stats.Deleted)), "the tombstones were reclaimed");
        Assert.That(index.RebuildError, Is.Null);
        foreach (var q in IndexData.Clustered(20, 16, 6, 2))
            Assert.That(index.Search(q, 10, ef: 200).Select(h => h.Adapter), Is.EqualTo(index.SearchExact(q, 10).Select(h => h.Adapter)));
    }

    [Test]
    public void NewM_IsBuiltInTheBackground_WritesDuringItAreKept()
    {
        var data = IndexData.Clustered(3000, 32, 10, 3);
        using var index = AdapterIndex.CreateInMemory(32, DistanceMetric.Cosine);
        for (int i = 0; i < 2500; i++) index.Upsert($"a{i}", data[i]);
        index.Parameters = index.Parameters with { M = 8, EfSearch = 80 };
        Assert.That(index.Stats().Rebuilding, Is.True, "2,500 inserts take longer than this line");
        // The old graph serves and takes writes meanwhile.
        for (int i = 2500; i < 3000; i++) index.Upsert($"a{i}", data[i]);
        for (int i = 0; i < 100; i++) index.Remove($"a{i}");
        Assert.That(index.Search(data[2600], 1)[0].Adapter, Is.EqualTo("a2600"));
        Assert.That(index.WaitForRebuild(TimeSpan.FromSeconds(120)), Is.True);
        var stats = index.Stats();
        Assert.That((stats.M, stats.EfSearch, stats.Rebuilding, stats.Count), Is.EqualTo((8, 80, false, 2900)));
        Assert.That(stats.Rebuilds, Is.GreaterThanOrEqualTo(1));
        Assert.That(index.Contains("a50"), Is.False);
        Assert.That(index.Search(data[2999], 1)[0].Adapter, Is.EqualTo("a2999"));
        int hit = 0;
        var queries = IndexData.Clustered(50, 32, 10, 4);
        foreach (var q in queries) hit += index.Search(q, 10).Select(h => h.Adapter).Intersect(index.SearchExact(q, 10).Select(h => h.Adapter)).Count();
        Assert.That(hit / 500.0, Is.GreaterThan(0.9));
    }

    [Test]
    public void ParallelBulkBuild_FindsWhatASequentialOneFinds([Values(DistanceMetric.L2, DistanceMetric.Cosine, DistanceMetric.Poincare)] DistanceMetric metric)
    {
        var data = metric == DistanceMetric.Poincare ? IndexData.Ball(4000, 8, 5) : IndexData.Clustered(4000, 24, 12, 5);
        var queries = metric == DistanceMetric.Poincare ? IndexData.Ball(50, 8, 6) : IndexData.Clustered(50, 24, 12, 6);
        var p = new HnswParameters { M = metric == DistanceMetric.Poincare ? 24 : 16 };
        var entries = data.Select((v, i) => ($"a{i}", v)).ToList();
        (double Recall, double Self) Quality(AdapterIndex index)
        {
            int hit = 0;
            foreach (var q in queries) hit += index.Search(q, 10, ef: 100).Select(h => h.Adapter).Intersect(index.SearchExact(q, 10).Select(h => h.Adapter)).Count();
            // HNSW (hnswlib too) leaves some nodes hard to reach, most on the Poincaré ball's rim: count those found.
            int self = Enumerable.Range(0, data.Length).Count(i => index.Search(data[i], 1, ef: 100)[0].Adapter == $"a{i}");
            return (hit / 500.0, self / (double)data.Length);
        }
        using var sequential = AdapterIndex.BuildInMemory(data[0].Length, metric, p, entries, threads: 1);
        using var parallel = AdapterIndex.BuildInMemory(data[0].Length, metric, p, entries, threads: 4);
        Assert.That(parallel.Count, Is.EqualTo(4000));
        var (seqRecall, seqSelf) = Quality(sequential);
        var (parRecall, parSelf) = Quality(parallel);
        TestContext.Out.WriteLine($"{metric}: recall@10 {seqRecall:F3} sequential, {parRecall:F3} parallel; found themselves {seqSelf:F3}, {parSelf:F3}");
        Assert.That(parRecall, Is.GreaterThan(0.95), "recall@10 at ef = 100");
        Assert.That(parRecall, Is.GreaterThanOrEqualTo(seqRecall - 0.02));
        Assert.That(parSelf, Is.GreaterThanOrEqualTo(seqSelf - 0.02));
        Assert.That(parSelf, Is.GreaterThan(metric == DistanceMetric.Poincare ? 0.9 : 0.99));
        Assert.Throws<ArgumentException>(() => AdapterIndex.BuildInMemory(2, metric, p, [("x", new[] { 0.1, 0 }), ("x", new[] { 0.2, 0 })], 2));
    }
}
