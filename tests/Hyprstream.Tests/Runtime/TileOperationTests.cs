using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>
/// Whole-tile I/O (<see cref="AdapterModule.OpenTileCursor"/>, GetTiles, SetTiles, AddTiles): reads against a dense
/// matrix rebuilt independently from EnumerateActive/GetMany, write semantics against the per-weight operations, and
/// every refusal leaving the module unchanged. Shapes include ones that are not multiples of 8×64 (edge tiles).
/// </summary>
public class TileOperationTests
{
    private const int T = TileMapping.TileSize;

    /// <summary>Tiles of a module read through the cursor with buffers of <paramref name="chunk"/> tiles.</summary>
    internal static List<(int Row, int Col, float[] Values)> ReadAll(AdapterModule m, int chunk = 5)
    {
        var list = new List<(int, int, float[])>();
        var rows = new int[chunk];
        var cols = new int[chunk];
        var values = new float[chunk * T];
        using var cur = m.OpenTileCursor();
        int n;
        while ((n = cur.Read(rows, cols, values)) > 0)
        {
            Assert.That(n, Is.LessThanOrEqualTo(chunk));
            for (int i = 0; i < n; i++) list.Add((rows[i], cols[i], values.AsSpan(i * T, T).ToArray()));
        }
        Assert.That(cur.Read(rows, cols, values), Is.Zero, "a finished cursor stays finished");
        return list;
    }

    /// <summary>
    /// Same keys and bit-identical values (and says which differ). Linear time: NUnit's EquivalentTo on collections is
    /// quadratic, minutes for the ~10 K weights these tests hold.
    /// </summary>
    internal static void AssertSameWeights<TKey>(IReadOnlyDictionary<TKey, float> want, IReadOnlyDictionary<TKey, float> got, string what = "") where TKey : notnull
    {
        var wrong = want.Where(kv => !got.TryGetValue(kv.Key, out var v) || BitConverter.SingleToInt32Bits(v) != BitConverter.SingleToInt32Bits(kv.Value))
            .Select(kv => $"{kv.Key}: want {kv.Value}, got {(got.TryGetValue(kv.Key, out var v) ? v.ToString() : "nothing")}").Take(5).ToList();
        var extra = got.Keys.Where(k => !want.ContainsKey(k)).Take(5).Select(k => $"{k}: unexpected {got[k]}").ToList();
        Assert.That(wrong.Concat(extra), Is.Empty, what);
    }

    /// <summary>The 512 values a tile of a module should read as, from a weight dictionary (0 where nothing is stored).</summary>
    internal static float[] Expected(IReadOnlyDictionary<(string, int, int), float> weights, string module, int tr, int tc)
    {
        var t = new float[T];
        for (int j = 0; j < T; j++) t[j] = weights.GetValueOrDefault((module, tr * 8 + j / 64, tc * 64 + j % 64));
        return t;
    }

    /// <summary>A random tile of m at (tr, tc): about <paramref name="zeros"/> of its values exactly 0, padding 0.</summary>
    internal static float[] RandomTile(Random rng, AdapterModule m, int tr, int tc, double zeros = 0.3)
    {
        var t = new float[T];
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 64; c++)
                if (tr * 8 + r < m.Rows && tc * 64 + c < m.Cols && rng.NextDouble() >= zeros)
                    t[r * 64 + c] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    private static SparseAdapter Mixed(out AdapterModule[] modules)
    {
        var a = new SparseAdapter("tiles");
        var rng = new Random(11);
        modules = [a.AddModule("model.layers.0.mlp.down_proj", 37, 203), a.AddModule("model.layers.0.self_attn.q_proj", 64, 192),
                   a.AddModule("model.layers.1.x", 1, 1), a.AddModule("model.layers.1.y", 9, 65)];
        foreach (var m in modules)
        {
            // A full tile (every weight of tile (0, 0) that lies in the shape), scattered weights, explicit zeros.
            for (int r = 0; r < Math.Min(8, m.Rows); r++)
                for (int c = 0; c < Math.Min(64, m.Cols); c++) m.Set(r, c, r * 64 + c + 1);
            for (int i = 0; i < 60; i++) m.Set(rng.Next(m.Rows), rng.Next(m.Cols), (float)(rng.NextDouble() - 0.5));
            m.Set(m.Rows - 1, m.Cols - 1, 0f); // an active zero in the last (edge) tile
        }
        return a;
    }

    [Test]
    public void TileRead_EqualsADenseReconstruction_FullPartialAndEdgeTiles()
    {
        using var a = Mixed(out var modules);
        foreach (var m in modules)
        {
            var dense = new Dictionary<(int, int), float>();
            foreach (var w in m.EnumerateActive()) dense[(w.Row, w.Col)] = w.Value;
            var expectedTiles = dense.Keys.Select(k => (k.Item1 >> 3, k.Item2 >> 6)).Distinct().Order().ToList();

            foreach (int chunk in new[] { 1, 3, 1000 })
            {
                var tiles = ReadAll(m, chunk);
                Assert.That(tiles.Select(t => (t.Row, t.Col)).ToList(), Is.EqualTo(expectedTiles), $"{m.Name}: stored tiles in row-major order");
                Assert.That(tiles, Has.Count.EqualTo(m.StoredTileCount));
                foreach (var (tr, tc, v) in tiles)
                {
                    var want = new float[T];
                    var rs = new List<int>(); var cs = new List<int>(); var inside = new List<int>();
                    for (int j = 0; j < T; j++)
                    {
                        int row = tr * 8 + j / 64, col = tc * 64 + j % 64;
                        if (row >= m.Rows || col >= m.Cols) continue; // padding reads as 0
                        want[j] = dense.GetValueOrDefault((row, col));
                        rs.Add(row); cs.Add(col); inside.Add(j);
                    }
                    Assert.That(v, Is.EqualTo(want), $"{m.Name} tile ({tr}, {tc}), chunk {chunk}");
                    var got = new float[rs.Count];
                    m.GetMany(rs.ToArray(), cs.ToArray(), got);
                    Assert.That(inside.Select(j => v[j]), Is.EqualTo(got), "GetMany agrees");
                }
            }
            var (trs, tcs) = (expectedTiles.Select(t => t.Item1).ToArray(), expectedTiles.Select(t => t.Item2).ToArray());
            var byGet = new float[trs.Length * T];
            m.GetTiles(trs, tcs, byGet);
            Assert.That(byGet, Is.EqualTo(ReadAll(m).SelectMany(t => t.Values).ToArray()), "GetTiles agrees with the cursor");
        }
    }

    [Test]
    public void TileCursor_EmptyModule_SmallBuffers_AndTheSmallestSpanLimits()
    {
        using var a = new SparseAdapter("c");
        var m = a.AddModule("m", 64, 640);
        using (var cur = m.OpenTileCursor()) Assert.That(cur.Read(new int[4], new int[4], new float[4 * T]), Is.Zero);
        for (int tr = 0; tr < 8; tr++) m.Set(tr * 8, 0, 1f);
        using (var cur = m.OpenTileCursor())
        {
            Assert.That(cur.Read(new int[4], new int[4], new float[T - 1]), Is.Zero, "no room for one tile");
            Assert.That(cur.Read(new int[4], new int[2], new float[4 * T]), Is.EqualTo(2));
            Assert.That(cur.Read(new int[4], new int[4], new float[2 * T + 100]), Is.EqualTo(2));
            var rows = new int[10];
            Assert.That(cur.Read(rows, new int[10], new float[10 * T]), Is.EqualTo(4));
            Assert.That(rows[..4], Is.EqualTo(new[] { 4, 5, 6, 7 }));
        }
        Assert.That(m.StoredTileCount, Is.EqualTo(8));
    }

    [Test]
    public void TileCursor_OfARemovedModule_Throws_AndDisposedAdapterThrows()
    {
        var a = new SparseAdapter("r");
        var m = a.AddModule("m", 8, 64);
        m.Set(0, 0, 1f);
        var cur = m.OpenTileCursor();
        a.RemoveModule("m");
        Assert.That(() => cur.Read(new int[1], new int[1], new float[T]), Throws.InstanceOf<InvalidOperationException>());
        cur.Dispose();
        a.Dispose();
        Assert.That(() => m.OpenTileCursor(), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void SetTiles_StoresNonzeros_ZerosAreInactive_AndReplacesTheWholeTile()
    {
        using var a = new SparseAdapter("s");
        var m = a.AddModule("m", 16, 128);
        m.Set(0, 5, 9f);   // in tile (0, 0): replaced away
        m.Set(8, 64, 7f);  // tile (1, 1): untouched
        var t = new float[T];
        t[0] = 1.5f; t[63] = -2f; t[64] = float.Epsilon; t[511] = 3f; t[1] = -0f;
        m.SetTiles([0], [0], t);
        Assert.That(m.ActiveCount, Is.EqualTo(5), "four nonzeros + the untouched weight");
        Assert.That(m.Get(0, 0), Is.EqualTo(1.5f));
        Assert.That(m.Get(0, 63), Is.EqualTo(-2f));
        Assert.That(m.Get(1, 0), Is.EqualTo(float.Epsilon));
        Assert.That(m.Get(7, 63), Is.EqualTo(3f));
        Assert.That(m.IsActive(0, 5), Is.False, "set replaces the stored tile");
        Assert.That(m.IsActive(0, 1), Is.False, "-0 is exactly zero");
        Assert.That(m.IsActive(0, 2), Is.False);
        Assert.That(m.Get(8, 64), Is.EqualTo(7f));
        Assert.That(ReadAll(m).Single(x => x.Row == 0 && x.Col == 0).Values, Is.EqualTo(t.Select(v => v + 0f)));
    }

    [Test]
    public void SetTiles_AllZeroTile_RemovesIt_AndFreesItsMemory()
    {
        using var a = new SparseAdapter("z");
        var m = a.AddModule("m", 16, 128);
        var rng = new Random(1);
        m.SetTiles([0, 1, 1], [0, 0, 1], [.. RandomTile(rng, m, 0, 0), .. RandomTile(rng, m, 1, 0), .. RandomTile(rng, m, 1, 1)]);
        Assert.That(m.StoredTileCount, Is.EqualTo(3));
        long before = a.MemoryBytes;
        m.SetTiles([1, 0], [0, 1], new float[2 * T]); // one stored, one absent: both end up absent
        Assert.That(m.StoredTileCount, Is.EqualTo(2));
        Assert.That(ReadAll(m).Select(x => (x.Row, x.Col)), Is.EqualTo(new[] { (0, 0), (1, 1) }));
        Assert.That(m.EnumerateActive().Any(w => w.Row >= 8 && w.Col < 64), Is.False);
        Assert.That(a.MemoryBytes, Is.LessThan(before));
        m.SetTiles([0, 1], [0, 1], new float[2 * T]);
        Assert.That(m.StoredTileCount, Is.Zero);
        Assert.That(m.ActiveCount, Is.Zero);
    }

    [Test]
    public void SetTiles_DuplicateTile_TheLaterWins()
    {
        using var a = new SparseAdapter("d");
        var m = a.AddModule("m", 8, 64);
        var rng = new Random(2);
        var first = RandomTile(rng, m, 0, 0, zeros: 0);
        var second = RandomTile(rng, m, 0, 0, zeros: 0.5);
        m.SetTiles([0, 0], [0, 0], [.. first, .. second]);
        Assert.That(ReadAll(m).Single().Values, Is.EqualTo(second));
        Assert.That(m.ActiveCount, Is.EqualTo(second.Count(v => v != 0)));
        m.SetTiles([0, 0], [0, 0], [.. first, .. new float[T]]);
        Assert.That(m.StoredTileCount, Is.Zero, "a later all-zero duplicate removes what the earlier one set");
    }

    [Test]
    public void AddTiles_IsAddManyOfTheNonzeroAddends()
    {
        var rng = new Random(3);
        using var a = new SparseAdapter("a");
        using var b = new SparseAdapter("b");
        var ma = a.AddModule("m", 37, 203);
        var mb = b.AddModule("m", 37, 203);
        // Both start with the same scattered weights, some explicit zeros among them.
        for (int i = 0; i < 300; i++)
        {
            int r = rng.Next(37), c = rng.Next(203);
            float v = i % 10 == 0 ? 0f : (float)(rng.NextDouble() - 0.5);
            ma.Set(r, c, v); mb.Set(r, c, v);
        }
        // Tiles (0,0) twice (duplicates add twice), an edge tile, and a tile nobody stored yet.
        int[] trs = [0, 4, 0, 2], tcs = [0, 3, 0, 1];
        var values = trs.SelectMany((tr, i) => RandomTile(rng, ma, tr, tcs[i], zeros: 0.4)).ToArray();
        mb.Set(17, 100, 0f); ma.Set(17, 100, 0f); // tile (2, 1) holds one active zero only
        ma.AddTiles(trs, tcs, values);
        var rs = new List<int>(); var cs = new List<int>(); var vs = new List<float>();
        for (int i = 0; i < trs.Length; i++)
            for (int j = 0; j < T; j++)
                if (values[i * T + j] != 0f) { rs.Add(trs[i] * 8 + j / 64); cs.Add(tcs[i] * 64 + j % 64); vs.Add(values[i * T + j]); }
        mb.AddMany(rs.ToArray(), cs.ToArray(), vs.ToArray());
        AssertSameWeights(Fixtures.Snapshot(b), Fixtures.Snapshot(a), "same weights and the same active set");
        Assert.That(ma.ActiveCount, Is.EqualTo(mb.ActiveCount));
    }

    [Test]
    public void AddTiles_ZeroAddends_ChangeNothing_NotEvenActivity()
    {
        using var a = new SparseAdapter("z");
        var m = a.AddModule("m", 8, 64);
        m.Set(0, 0, 2f);
        var t = new float[T];
        t[1] = 0.5f;
        m.AddTiles([0], [0], t);
        Assert.That(m.ActiveCount, Is.EqualTo(2));
        Assert.That(m.Get(0, 0), Is.EqualTo(2f));
        Assert.That(m.Get(0, 1), Is.EqualTo(0.5f));
        m.AddTiles([0], [0], new float[T]);
        Assert.That(m.ActiveCount, Is.EqualTo(2));
        using var b = new SparseAdapter("e");
        var e = b.AddModule("m", 8, 64);
        e.AddTiles([0], [0], new float[T]);
        Assert.That(e.StoredTileCount, Is.Zero, "adding zeros creates no tile");
    }

    [Test]
    public void AddTiles_Overflow_RollsTheWholeCallBack()
    {
        using var a = new SparseAdapter("o");
        var m = a.AddModule("m", 16, 64);
        m.Set(8, 3, float.MaxValue);
        m.Set(0, 0, 1f);
        var before = Fixtures.Snapshot(a);
        var ok = new float[T]; ok[0] = 5f; ok[7] = 1f;
        var bad = new float[T]; bad[3] = float.MaxValue;
        var e = Assert.Throws<ArgumentException>(() => m.AddTiles([0, 1], [0, 0], [.. ok, .. bad]));
        Assert.That(e!.Message, Does.Contain("overflow").And.Contain("tile (1, 0) at batch index 1"));
        AssertSameWeights(before, Fixtures.Snapshot(a), "the first tile's add was not kept");
        // Each alone is fine; the duplicate's running sum is not.
        var half = new float[T]; half[5] = float.MaxValue;
        Assert.Throws<ArgumentException>(() => m.AddTiles([0, 0], [0, 0], [.. half, .. half]));
        AssertSameWeights(before, Fixtures.Snapshot(a));
        // Duplicates are summed in call order: MaxValue - MaxValue = 0, then + MaxValue, is fine; the other order is not.
        var neg = new float[T]; neg[3] = -float.MaxValue;
        Assert.Throws<ArgumentException>(() => m.AddTiles([1, 1], [0, 0], [.. bad, .. neg]));
        AssertSameWeights(before, Fixtures.Snapshot(a));
        m.AddTiles([1, 1], [0, 0], [.. neg, .. bad]);
        Assert.That(m.Get(8, 3), Is.EqualTo(float.MaxValue));
    }

    [Test]
    public void BadCoordinates_AreRefused_NamingTheTile_AndChangeNothing()
    {
        using var a = new SparseAdapter("b");
        var m = a.AddModule("m", 37, 203); // 5 x 4 tiles
        var rng = new Random(4);
        m.SetTiles([0], [0], RandomTile(rng, m, 0, 0));
        var before = Fixtures.Snapshot(a);
        foreach (var (tr, tc) in new[] { (5, 0), (0, 4), (-1, 0), (0, -1), (int.MaxValue, 0) })
        {
            var good = RandomTile(rng, m, 1, 1);
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.SetTiles([1, tr], [1, tc], [.. good, .. new float[T]]));
            Assert.That(e!.Message, Does.Contain($"tile ({tr}, {tc}) at batch index 1").And.Contain("37x203"));
            Assert.Throws<ArgumentOutOfRangeException>(() => m.AddTiles([1, tr], [1, tc], [.. good, .. new float[T]]));
            Assert.Throws<ArgumentOutOfRangeException>(() => m.GetTiles([tr], [tc], new float[T]));
        }
        AssertSameWeights(before, Fixtures.Snapshot(a));
        Assert.Throws<ArgumentException>(() => m.SetTiles([0, 1], [0], new float[2 * T]));
        Assert.Throws<ArgumentException>(() => m.SetTiles([0], [0], new float[T - 1]));
        Assert.Throws<ArgumentException>(() => m.AddTiles([0], [0], new float[2 * T]));
    }

    [TestCase(5, 0)]   // row 37 of a 37-row module
    [TestCase(7, 63)]
    [TestCase(0, 11)]  // col 203 of a 203-col module
    [TestCase(4, 11)]
    public void NonzeroPadding_IsRefused_NamingTheTile(int r, int c)
    {
        using var a = new SparseAdapter("p");
        var m = a.AddModule("m", 37, 203); // edge tile (4, 3) holds rows 32..36, cols 192..202
        var t = new float[T];
        t[4 * 64 + 10] = 1f;  // the last weight inside the shape: fine
        t[0] = -0f;
        m.SetTiles([4], [3], t);
        Assert.That(m.Get(36, 202), Is.EqualTo(1f));
        t[r * 64 + c] = 0.25f;
        foreach (var write in new Action[] { () => m.SetTiles([4], [3], t), () => m.AddTiles([4], [3], t) })
        {
            var e = Assert.Throws<ArgumentException>(() => write());
            Assert.That(e!.Message, Does.Contain("tile (4, 3) at batch index 0").And.Contain("padding").And.Contain($"({r}, {c})"));
        }
        Assert.That(m.ActiveCount, Is.EqualTo(1));
        // The same position is not padding in an inner tile.
        m.SetTiles([0], [0], t);
        Assert.That(m.Get(r, c), Is.EqualTo(0.25f));
    }

    [Test]
    public void NaNAndInfinity_AreRefused_NamingTheTile()
    {
        using var a = new SparseAdapter("n");
        var m = a.AddModule("m", 16, 128);
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var t = new float[2 * T];
            t[3] = 1f;
            t[T + 70] = bad;
            var e = Assert.Throws<ArgumentException>(() => m.SetTiles([0, 1], [0, 1], t));
            Assert.That(e!.Message, Does.Contain(float.IsNaN(bad) ? "NaN" : "infinite").And.Contain("tile (1, 1) at batch index 1").And.Contain("(1, 6)"));
            Assert.Throws<ArgumentException>(() => m.AddTiles([0, 1], [0, 1], t));
        }
        Assert.That(m.ActiveCount, Is.Zero);
    }

    [Test]
    public void Cursor_ResumesAfterItsLastTile_AndSeesLaterChanges()
    {
        using var a = new SparseAdapter("k");
        var m = a.AddModule("m", 32, 64);
        var one = new float[T]; one[0] = 1f;
        m.SetTiles([0, 2], [0, 0], [.. one, .. one]);
        using var cur = m.OpenTileCursor();
        var rows = new int[1]; var cols = new int[1]; var vals = new float[T];
        Assert.That(cur.Read(rows, cols, vals), Is.EqualTo(1));
        Assert.That(rows[0], Is.Zero);
        m.SetTiles([1, 3], [0, 0], [.. one, .. one]); // tile 1 lies after the cursor; tile 2 is removed below
        m.SetTiles([2], [0], new float[T]);
        var seen = new List<int>();
        while (cur.Read(rows, cols, vals) > 0) seen.Add(rows[0]);
        Assert.That(seen, Is.EqualTo(new[] { 1, 3 }));
    }

    [Test]
    public void WritesAndReads_AgreeAcrossManyModulesOfOneGrid()
    {
        // Modules share one grid: tile writes to one must never touch another's leaves.
        using var a = new SparseAdapter("g");
        var rng = new Random(9);
        var mods = Enumerable.Range(0, 6).Select(i => a.AddModule($"model.layers.{i}.x", 8 + i * 13, 64 + i * 100)).ToArray();
        var expect = new Dictionary<(string, int, int), float[]>();
        foreach (var m in mods)
        {
            var coords = Enumerable.Range(0, (int)TileMapping.TileCount(m.Rows, m.Cols)).Where(_ => rng.Next(2) == 0)
                .Select(t => (t / (int)TileMapping.TilesPerRow(m.Cols), t % (int)TileMapping.TilesPerRow(m.Cols))).ToArray();
            var values = coords.SelectMany(c => RandomTile(rng, m, c.Item1, c.Item2, zeros: 0.2)).ToArray();
            m.SetTiles(coords.Select(c => c.Item1).ToArray(), coords.Select(c => c.Item2).ToArray(), values);
            for (int i = 0; i < coords.Length; i++) expect[(m.Name, coords[i].Item1, coords[i].Item2)] = values.AsSpan(i * T, T).ToArray();
        }
        foreach (var m in mods)
        {
            var got = ReadAll(m, 7).ToDictionary(t => (m.Name, t.Row, t.Col), t => t.Values);
            var want = expect.Where(kv => kv.Key.Item1 == m.Name).ToDictionary();
            Assert.That(got.Keys, Is.EquivalentTo(want.Keys), m.Name);
            foreach (var (k, v) in want) Assert.That(got[k], Is.EqualTo(v), $"{k}");
            Assert.That(m.ActiveCount, Is.EqualTo(want.Values.Sum(v => v.Count(x => x != 0))));
        }
    }
}
