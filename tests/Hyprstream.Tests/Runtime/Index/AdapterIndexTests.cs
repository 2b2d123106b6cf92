using Hyprstream.Runtime.Index;

namespace Hyprstream.Tests;

/// <summary>HNSW search against brute-force ground truth, metrics, deletes, filters, quantization and bad input.</summary>
public class AdapterIndexTests
{
    private static AdapterIndex Build(double[][] data, DistanceMetric metric, HnswParameters? p = null, Func<int, string[]>? tags = null)
    {
        var index = AdapterIndex.CreateInMemory(data[0].Length, metric, p);
        for (int i = 0; i < data.Length; i++) index.Upsert($"a{i}", data[i], tags?.Invoke(i));
        return index;
    }

    private static double Recall(AdapterIndex index, double[][] queries, int k, IndexFilter? filter = null, int? ef = null)
    {
        int hit = 0, total = 0;
        foreach (var q in queries)
        {
            var truth = index.SearchExact(q, k, filter).Select(h => h.Adapter).ToHashSet();
            var got = index.Search(q, k, filter, ef).Select(h => h.Adapter);
            hit += got.Count(truth.Contains);
            total += truth.Count;
        }
        return (double)hit / total;
    }

    [TestCase(DistanceMetric.L2, false)]
    [TestCase(DistanceMetric.L2, true)]
    [TestCase(DistanceMetric.Cosine, false)]
    [TestCase(DistanceMetric.Cosine, true)]
    public void Recall10_AtDefaults_IsAtLeast95Percent(DistanceMetric metric, bool clustered)
    {
        var data = clustered ? IndexData.Clustered(3000, 32, 20, 1) : IndexData.Random(3000, 32, 1);
        var queries = clustered ? IndexData.Clustered(100, 32, 20, 2) : IndexData.Random(100, 32, 2);
        using var index = Build(data, metric);
        Assert.That(Recall(index, queries, 10), Is.GreaterThanOrEqualTo(0.95));
    }

    [Test]
    public void Search_ReturnsNearestFirst_WithExactDistances()
    {
        var data = IndexData.Random(500, 16, 3);
        using var index = Build(data, DistanceMetric.L2);
        var q = IndexData.Random(1, 16, 4)[0];
        var hits = index.Search(q, 5);
        Assert.That(hits.Select(h => h.Distance), Is.Ordered);
        foreach (var h in hits)
        {
            var v = data[int.Parse(h.Adapter[1..])];
            double d2 = v.Zip(q, (a, b) => (double)((float)a - (float)b) * ((float)a - (float)b)).Sum();
            Assert.That(h.Distance, Is.EqualTo(d2).Within(1e-4));
        }
    }

    [Test]
    public void PoincareDistance_MatchesTheFloat64Formula()
    {
        var data = IndexData.Ball(400, 8, 5, maxNorm: 0.999);
        using var index = Build(data, DistanceMetric.Poincare, new HnswParameters { M = 24, EfSearch = 200 });
        var q = IndexData.Ball(1, 8, 6, maxNorm: 0.999)[0];
        foreach (var h in index.SearchExact(q, 20))
        {
            var v = data[int.Parse(h.Adapter[1..])];
            double u2 = q.Sum(x => x * x), v2 = v.Sum(x => x * x), d2 = q.Zip(v, (a, b) => (a - b) * (a - b)).Sum();
            double reference = Math.Acosh(1 + 2 * d2 / ((1 - u2) * (1 - v2)));
            Assert.That(h.Distance, Is.EqualTo(reference).Within(1e-9 * Math.Max(1, reference)));
        }
    }

    [Test]
    public void PoincareDistance_StaysAccurate_WhereArcoshOfFloat32RoundsToZero()
    {
        using var index = AdapterIndex.CreateInMemory(2, DistanceMetric.Poincare);
        index.Upsert("p", new[] { 0.5, 0.0 });
        var q = new[] { 0.5 + 1e-9, 0.0 };
        double d = index.Search(q, 1)[0].Distance;
        // δ = (1e-9)² / (0.75 · 0.75…) → d = 2·asinh(√δ) ≈ 2.667e-9; float32 arcosh(1 + 2δ) is exactly 0.
        Assert.That((double)MathF.Acosh((float)(1 + 2 * 1e-18 / 0.5625)), Is.EqualTo(0));
        Assert.That(d, Is.EqualTo(2e-9 / 0.75).Within(1e-15));
    }

    [Test]
    public void PoincareRecall_NeedsLargerEf_AndReachesIt()
    {
        var data = IndexData.Ball(3000, 16, 7);
        var queries = IndexData.Ball(100, 16, 8);
        using var index = Build(data, DistanceMetric.Poincare, new HnswParameters { M = 24, EfConstruction = 200 });
        Assert.That(Recall(index, queries, 10, ef: 200), Is.GreaterThanOrEqualTo(0.95));
    }

    [Test]
    public void DeletedAdapters_AreNeverReturned_AndRecallHolds()
    {
        var data = IndexData.Clustered(3000, 32, 20, 9);
        var queries = IndexData.Clustered(100, 32, 20, 10);
        using var index = Build(data, DistanceMetric.L2);
        var removed = Enumerable.Range(0, 3000).Where(i => i % 3 == 0).Select(i => $"a{i}").ToHashSet();
        foreach (var r in removed) Assert.That(index.Remove(r), Is.True);
        Assert.That(index.Remove("a0"), Is.False);
        Assert.That(index.Count, Is.EqualTo(2000));
        foreach (var q in queries)
            Assert.That(index.Search(q, 10, ef: 100).Select(h => h.Adapter), Has.None.AnyOf(removed.ToArray()));
        Assert.That(Recall(index, queries, 10), Is.GreaterThanOrEqualTo(0.95));
    }

    [Test]
    public void Upsert_ReplacesTheVectorAndTags()
    {
        using var index = AdapterIndex.CreateInMemory(2, DistanceMetric.L2);
        index.Upsert("x", new[] { 0.0, 0.0 }, ["old"]);
        index.Upsert("y", new[] { 5.0, 5.0 });
        index.Upsert("x", new[] { 10.0, 10.0 }, ["new"]);
        Assert.That(index.Count, Is.EqualTo(2));
        Assert.That(index.Search(new[] { 0.0, 0.0 }, 1)[0].Adapter, Is.EqualTo("y"));
        Assert.That(index.Search(new[] { 0.0, 0.0 }, 2, new IndexFilter { AllOf = ["new"] }).Single().Adapter, Is.EqualTo("x"));
        Assert.That(index.Search(new[] { 0.0, 0.0 }, 2, new IndexFilter { AllOf = ["old"] }), Is.Empty);
    }

    [Test]
    public void FilteredSearch_ReturnsOnlyMatches_AndKeepsRecall()
    {
        var data = IndexData.Clustered(3000, 32, 20, 11);
        var queries = IndexData.Clustered(100, 32, 20, 12);
        using var index = Build(data, DistanceMetric.L2, tags: i => [$"tenant={i % 10}", i % 2 == 0 ? "even" : "odd"]);
        var filter = new IndexFilter { Tenant = "3" };  // 10% of the adapters
        foreach (var q in queries.Take(20))
        {
            var hits = index.Search(q, 10, filter);
            Assert.That(hits, Has.Count.EqualTo(10));
            Assert.That(hits.All(h => int.Parse(h.Adapter[1..]) % 10 == 3), Is.True);
        }
        Assert.That(Recall(index, queries, 10, filter, ef: 100), Is.GreaterThanOrEqualTo(0.95));
        var any = new IndexFilter { AnyOf = ["tenant=1", "tenant=2"], AllOf = ["odd"] };
        Assert.That(index.Search(queries[0], 10, any).All(h => int.Parse(h.Adapter[1..]) % 10 == 1), Is.True);
    }

    [TestCase(DistanceMetric.L2)]
    [TestCase(DistanceMetric.Cosine)]
    public void Int8Quantization_UsesAQuarterOfTheMemory_AndReranksToGoodRecall(DistanceMetric metric)
    {
        var data = IndexData.Clustered(3000, 64, 20, 13);
        var queries = IndexData.Clustered(100, 64, 20, 14);
        using var index = Build(data, metric, new HnswParameters { QuantizeInt8 = true });
        var stats = index.Stats();
        Assert.That(stats.VectorBytesHot * 3.5, Is.LessThan(stats.VectorBytesExact));
        Assert.That(Recall(index, queries, 10, ef: 128), Is.GreaterThanOrEqualTo(0.9));
    }

    [Test]
    public void Parameters_ChangeAtRunTime_AndANewMRebuilds()
    {
        var data = IndexData.Random(1000, 16, 15);
        using var index = Build(data, DistanceMetric.L2);
        index.Parameters = index.Parameters with { EfSearch = 10 };
        Assert.That(index.Stats().EfSearch, Is.EqualTo(10));
        index.Parameters = index.Parameters with { M = 8 };
        Assert.That(index.Stats().M, Is.EqualTo(8));
        Assert.That(index.Count, Is.EqualTo(1000));
        Assert.That(Recall(index, IndexData.Random(50, 16, 16), 10, ef: 200), Is.GreaterThanOrEqualTo(0.95));
    }

    [Test]
    public void BadInput_IsRefusedWithClearErrors_AndChangesNothing()
    {
        using var index = AdapterIndex.CreateInMemory(3, DistanceMetric.L2);
        index.Upsert("ok", new[] { 1.0, 2.0, 3.0 });
        Assert.Throws<ArgumentException>(() => index.Upsert("x", new[] { 1.0, 2.0 }));
        Assert.Throws<ArgumentException>(() => index.Upsert("x", new[] { 1.0, double.NaN, 3.0 }));
        Assert.Throws<ArgumentException>(() => index.Upsert("../x", new[] { 1.0, 2.0, 3.0 }));
        Assert.Throws<ArgumentException>(() => index.Upsert("x", new[] { 1.0, 2.0, 3.0 }, ["bad\0tag"]));
        Assert.Throws<ArgumentException>(() => index.Search(new[] { 1.0 }, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(new[] { 1.0, 2.0, 3.0 }, 0));
        Assert.That(index.Count, Is.EqualTo(1));

        using var ball = AdapterIndex.CreateInMemory(2, DistanceMetric.Poincare);
        var e = Assert.Throws<ArgumentException>(() => ball.Upsert("rim", new[] { 0.6, 0.8 }));
        Assert.That(e!.Message, Does.Contain("Poincaré ball"));
        using var cos = AdapterIndex.CreateInMemory(2, DistanceMetric.Cosine);
        Assert.Throws<ArgumentException>(() => cos.Upsert("zero", new[] { 0.0, 0.0 }));
        Assert.Throws<ArgumentException>(() => AdapterIndex.CreateInMemory(2, DistanceMetric.Poincare, new HnswParameters { QuantizeInt8 = true }));
    }
}
