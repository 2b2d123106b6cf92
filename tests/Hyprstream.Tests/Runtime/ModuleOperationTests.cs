using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Each adapter operation, checked against values computed independently in the test.</summary>
public class ModuleOperationTests
{
    [Test]
    public void SetGetAdd_AndIndexer()
    {
        using var a = new SparseAdapter("ops");
        var m = a.AddModule("model.layers.3.self_attn.q_proj", 100, 300);
        Assert.That(m.Layer, Is.EqualTo(3));
        m[5, 299] = 1.5f;
        m.Add(5, 299, 0.25f);
        m.Add(99, 0, -2f);             // add to an empty weight stores it
        Assert.That(m[5, 299], Is.EqualTo(1.75f));
        Assert.That(m.Get(99, 0), Is.EqualTo(-2f));
        Assert.That(m.Get(0, 0), Is.EqualTo(0f));
        Assert.That(m.IsActive(0, 0), Is.False);
        Assert.That(m.ActiveCount, Is.EqualTo(2));
        Assert.That(a.ActiveCount, Is.EqualTo(2));
        Assert.That(m.Density, Is.EqualTo(2.0 / 30000).Within(1e-12));
        Assert.That(a.Sparsity, Is.EqualTo(1 - 2.0 / 30000).Within(1e-12));
        m.Set(7, 7, 0f);
        Assert.That(m.IsActive(7, 7), Is.True, "an explicit 0 is stored until pruned");
    }

    [Test]
    public void Modules_DoNotOverlap()
    {
        using var a = new SparseAdapter("iso");
        var m1 = a.AddModule("a", 9, 65);
        var m2 = a.AddModule("b", 9, 65);
        Assert.That(m2.SlotBase, Is.EqualTo(TileMapping.TileCount(9, 65)));
        for (int r = 0; r < 9; r++)
            for (int c = 0; c < 65; c++)
                m1[r, c] = r * 100 + c + 1;
        Assert.That(m2.ActiveCount, Is.Zero);
        Assert.That(m1.ActiveCount, Is.EqualTo(9 * 65));
        Assert.That(m1[8, 64], Is.EqualTo(865f));
    }

    [Test]
    public void SetMany_AddMany_GetMany()
    {
        using var a = new SparseAdapter("batch");
        var m = a.AddModule("m", 50, 70);
        int[] rows = [0, 1, 49, 1], cols = [0, 69, 3, 69];
        m.SetMany(rows, cols, [1f, 2f, 3f, 4f]);  // duplicates: last write wins
        m.AddMany(rows, cols, [1f, 1f, 1f, 1f]);  // duplicates accumulate
        var got = new float[4];
        m.GetMany(rows, cols, got);
        Assert.That(got, Is.EqualTo(new[] { 2f, 6f, 4f, 6f }));
        Assert.That(m.ActiveCount, Is.EqualTo(3));
        m.SetMany(ReadOnlySpan<int>.Empty, ReadOnlySpan<int>.Empty, ReadOnlySpan<float>.Empty);
        Assert.Throws<ArgumentException>(() => m.SetMany(rows, cols, [1f]));
    }

    [Test]
    public void EnumerateActive_ReturnsEveryStoredWeight_InChunks()
    {
        using var a = Fixtures.Small(count: 900);
        var expected = new Dictionary<(string, int, int), float>();
        foreach (var m in a.Modules)
        {
            var dense = m.ToDense();
            for (int i = 0; i < dense.Length; i++)
                if (m.IsActive(i / m.Cols, i % m.Cols)) expected[(m.Name, i / m.Cols, i % m.Cols)] = dense[i];
        }
        foreach (int chunk in new[] { 1, 7, 512, 100000 })
        {
            var seen = a.Modules.SelectMany(m => m.EnumerateActive(chunk)).ToDictionary(w => (w.Module, w.Row, w.Col), w => w.Value);
            Assert.That(seen, Is.EquivalentTo(expected), $"chunk {chunk}");
        }
        Assert.That(a.EnumerateActive().Count(), Is.EqualTo(a.ActiveCount));
    }

    [Test]
    public void Prune_RemovesSmallWeights_AndFreesEmptyTiles()
    {
        using var a = new SparseAdapter("p");
        var m = a.AddModule("m", 16, 128);
        m[0, 0] = 1e-5f; m[0, 1] = -2e-5f; m[9, 100] = 0.5f; m[15, 127] = -1e-6f;
        Assert.That(m.TileCount, Is.EqualTo(2));
        long removed = m.Prune(1e-4f);
        Assert.That(removed, Is.EqualTo(3));
        Assert.That(m.ActiveCount, Is.EqualTo(1));
        Assert.That(m[9, 100], Is.EqualTo(0.5f));
        Assert.That(m.TileCount, Is.EqualTo(1), "the emptied tile is freed");
        Assert.Throws<ArgumentException>(() => m.Prune(float.NaN));
        Assert.Throws<ArgumentException>(() => m.Prune(-1f));
    }

    [Test]
    public void KeepTopFraction_Unstructured_KeepsLargestMagnitudes_AndReportsEnergy()
    {
        using var a = new SparseAdapter("k");
        var m = a.AddModule("m", 10, 10);
        var dense = Enumerable.Range(0, 100).Select(i => (i % 2 == 0 ? 1 : -1) * (float)(i + 1)).ToArray();
        m.FromDense(dense);
        double energy = m.KeepTopFraction(0.1, SparsityStructure.Unstructured);
        Assert.That(m.ActiveCount, Is.EqualTo(10));
        var kept = m.EnumerateActive().Select(w => Math.Abs(w.Value)).Order().ToArray();
        Assert.That(kept, Is.EqualTo(Enumerable.Range(91, 10).Select(i => (float)i).ToArray()));
        double expected = Math.Sqrt(Enumerable.Range(91, 10).Sum(i => (double)i * i) / Enumerable.Range(1, 100).Sum(i => (double)i * i));
        Assert.That(energy, Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void KeepTopFraction_Tile_KeepsWholeHighestEnergyTiles()
    {
        using var a = new SparseAdapter("t");
        var m = a.AddModule("m", 16, 256); // 2 x 4 = 8 tiles
        var rng = new Random(3);
        var dense = new float[16 * 256];
        for (int i = 0; i < dense.Length; i++)
        {
            int tile = (i / 256 / 8) * 4 + (i % 256) / 64;
            dense[i] = (float)(rng.NextDouble() + 1) * (tile + 1); // tile 7 strongest, then 6, ...
        }
        m.FromDense(dense);
        Assert.That(m.KeepTopFraction(1.0, SparsityStructure.Tile), Is.EqualTo(1.0));
        double energy = m.KeepTopFraction(0.25, SparsityStructure.Tile); // 1024 weights = 2 tiles
        Assert.That(m.TileCount, Is.EqualTo(2));
        Assert.That(m.ActiveCount, Is.EqualTo(1024));
        Assert.That(m.IsActive(15, 255) && m.IsActive(15, 192) && m.IsActive(8, 128), Is.True, "tiles 7 and 6 (rows 8-15, cols 128-255)");
        Assert.That(m.IsActive(0, 0), Is.False);
        double all = dense.Sum(v => (double)v * v);
        double keep = 0;
        for (int r = 8; r < 16; r++) for (int c = 128; c < 256; c++) keep += (double)dense[r * 256 + c] * dense[r * 256 + c];
        Assert.That(energy, Is.EqualTo(Math.Sqrt(keep / all)).Within(1e-9));
    }

    [Test]
    public void KeepTopFraction_OnAdapter_AppliesPerModule()
    {
        using var a = new SparseAdapter("ka");
        var m1 = a.AddModuleFromDense("a", 8, 64, Enumerable.Range(1, 512).Select(i => (float)i).ToArray());
        var m2 = a.AddModuleFromDense("b", 8, 64, Enumerable.Range(1, 512).Select(i => (float)-i).ToArray());
        double e = a.KeepTopFraction(0.5, SparsityStructure.Unstructured);
        Assert.That(m1.ActiveCount, Is.EqualTo(256));
        Assert.That(m2.ActiveCount, Is.EqualTo(256));
        double expected = Math.Sqrt(Enumerable.Range(257, 256).Sum(i => (double)i * i) / Enumerable.Range(1, 512).Sum(i => (double)i * i));
        Assert.That(e, Is.EqualTo(expected).Within(1e-12));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.KeepTopFraction(1.5));
    }

    [Test]
    public void MergeFrom_AddsScaledEffectiveDeltas()
    {
        using var a = new SparseAdapter("a");
        using var b = new SparseAdapter("b");
        var ma = a.AddModule("m", 20, 20, scale: 2f);
        var mb = b.AddModule("m", 20, 20, scale: 0.5f);
        b.AddModule("only-in-b", 3, 3, scale: 4f)[1, 1] = 3f;
        ma[0, 0] = 1f;
        mb[0, 0] = 4f; mb[19, 19] = 8f;
        a.MergeFrom(b, 3f);
        // effective: 2*1 + 3*0.5*4 = 8 → stored 4;  3*0.5*8 = 12 → stored 6
        Assert.That(ma[0, 0], Is.EqualTo(4f));
        Assert.That(ma[19, 19], Is.EqualTo(6f));
        Assert.That(a.Modules["only-in-b"].Scale, Is.EqualTo(4f));
        Assert.That(a.Modules["only-in-b"][1, 1], Is.EqualTo(9f)); // 3 * 4*3 / 4
        Assert.That(mb[0, 0], Is.EqualTo(4f), "the source is unchanged");
    }

    [Test]
    public void MergeFrom_Self_DoublesTheModule()
    {
        using var a = new SparseAdapter("self");
        var m = a.AddModule("m", 8, 8);
        m[1, 2] = 3f;
        m.MergeFrom(m, 1f);
        Assert.That(m[1, 2], Is.EqualTo(6f));
        a.MergeFrom(a, 0.5f);
        Assert.That(m[1, 2], Is.EqualTo(9f));
    }

    [Test]
    public void Fuse_IsTheWeightedSumOfEffectiveDeltas()
    {
        using var a = new SparseAdapter("a");
        using var b = new SparseAdapter("b");
        a.AddModule("x", 4, 4, scale: 2f)[0, 0] = 1f;
        b.AddModule("x", 4, 4)[0, 0] = 10f;
        b.AddModule("y", 2, 2)[1, 1] = 5f;
        using var f = SparseAdapter.Fuse("f", [a, b], [1f, 0.5f]);
        Assert.That(f.Modules["x"][0, 0], Is.EqualTo(2f + 5f));
        Assert.That(f.Modules["y"][1, 1], Is.EqualTo(2.5f));
        Assert.That(f.Modules["x"].Scale, Is.EqualTo(1f));
        Assert.That(f.Provenance["source"], Is.EqualTo("fuse"));
    }

    [Test]
    public void Clone_IsIndependent()
    {
        using var a = Fixtures.Small();
        using var c = a.Clone("copy");
        Assert.That(Fixtures.Snapshot(c), Is.EquivalentTo(Fixtures.Snapshot(a)));
        Assert.That(c.Provenance["source"], Is.EqualTo("test"));
        c.Modules[0][0, 0] = 42f;
        Assert.That(a.Modules[0][0, 0], Is.Not.EqualTo(42f));
        var added = c.AddModule("new", 8, 8);
        Assert.That(added.SlotBase, Is.GreaterThanOrEqualTo(a.Modules[1].SlotBase + TileMapping.TileCount(37, 203)));
    }

    [Test]
    public void ContentHash_FollowsTheStoredWeights()
    {
        using var a = Fixtures.Small();
        using var c = a.Clone();
        Assert.That(c.ContentHash(), Is.EqualTo(a.ContentHash()));
        var w = c.Modules[0].EnumerateActive().First();
        c.Modules[0][w.Row, w.Col] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(w.Value) ^ 1);
        Assert.That(c.ContentHash(), Is.Not.EqualTo(a.ContentHash()), "one flipped mantissa bit changes the hash");
        c.Modules[0][w.Row, w.Col] = w.Value;
        Assert.That(c.ContentHash(), Is.EqualTo(a.ContentHash()));
    }

    [Test]
    public void FromDense_ToDense_RoundTrip_WithTolerance()
    {
        using var a = new SparseAdapter("d");
        var rng = new Random(5);
        var dense = Enumerable.Range(0, 37 * 203).Select(_ => rng.NextDouble() < 0.3 ? (float)(rng.NextDouble() - 0.5) : 0f).ToArray();
        var m = a.AddModuleFromDense("m", 37, 203, dense, scale: 3f);
        Assert.That(m.ToDense(), Is.EqualTo(dense));
        Assert.That(m.ActiveCount, Is.EqualTo(dense.Count(v => v != 0)));
        Assert.That(m.ToDense(applyScale: true), Is.EqualTo(dense.Select(v => v * 3f).ToArray()));
        m.FromDense(dense, tolerance: 0.25f);
        Assert.That(m.ActiveCount, Is.EqualTo(dense.Count(v => Math.Abs(v) > 0.25f)));
        Assert.That(m.FrobeniusNorm, Is.EqualTo(Math.Sqrt(dense.Where(v => Math.Abs(v) > 0.25f).Sum(v => (double)v * v))).Within(1e-9));
    }

    [Test]
    public void RemoveModule_ClearsItsWeights_AndTheModuleCannotBeUsedAgain()
    {
        using var a = Fixtures.Small();
        var m = a.Modules[0];
        long other = a.Modules[1].ActiveCount;
        Assert.That(a.RemoveModule(m.Name), Is.True);
        Assert.That(a.ActiveCount, Is.EqualTo(other));
        Assert.Throws<InvalidOperationException>(() => m.Get(0, 0));
        Assert.That(a.RemoveModule("nope"), Is.False);
    }

    [Test]
    public void MemoryBytes_GrowsWithTiles()
    {
        using var a = new SparseAdapter("mem");
        var m = a.AddModule("m", 64, 64 * 8);
        long empty = a.MemoryBytes;
        m.FromDense(Enumerable.Repeat(1f, 64 * 512).ToArray());
        Assert.That(m.TileCount, Is.EqualTo(64));
        Assert.That(a.MemoryBytes - empty, Is.GreaterThan(64 * 2048L));
    }
}
