using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>
/// Property-style: random sequences of tile writes (set, add, duplicates, all-zero tiles, refused tiles) mixed with
/// per-weight writes, prunes and save/load must agree with a plain dictionary model, read back weight by weight and
/// tile by tile. Each seed is a separate, reproducible case.
/// </summary>
public class TilePropertyTests
{
    private const int T = TileMapping.TileSize;

    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 12);

    [TestCaseSource(nameof(Seeds))]
    public void RandomTileOperations_MatchADictionaryModel(int seed)
    {
        var rng = new Random(seed);
        using var dir = new TempDir();
        var shapes = new[] { ("m0", 1 + rng.Next(40), 1 + rng.Next(300)), ("m1", 1 + rng.Next(20), 1 + rng.Next(70)) };
        var adapter = new SparseAdapter($"tprop{seed}");
        var model = new Dictionary<(string, int, int), float>();
        foreach (var (n, r, c) in shapes) adapter.AddModule(n, r, c);
        try
        {
            for (int step = 0; step < 150; step++)
            {
                var (name, rows, cols) = shapes[rng.Next(shapes.Length)];
                var m = adapter.Modules[name];
                int rowTiles = (int)TileMapping.TileRowCount(rows), colTiles = (int)TileMapping.TilesPerRow(cols);
                switch (rng.Next(9))
                {
                    case 0 or 1 or 2 or 3:
                    {
                        int k = rng.Next(1, 5);
                        var trs = new int[k]; var tcs = new int[k]; var vs = new float[k * T];
                        for (int i = 0; i < k; i++)
                        {
                            trs[i] = rng.Next(rowTiles); tcs[i] = rng.Next(colTiles); // duplicates happen on small shapes
                            double zeros = rng.Next(5) switch { 0 => 1.0, 1 => 0.0, _ => rng.NextDouble() };
                            TileOperationTests.RandomTile(rng, m, trs[i], tcs[i], zeros).CopyTo(vs, i * T);
                        }
                        bool add = rng.Next(2) == 0;
                        if (add) m.AddTiles(trs, tcs, vs); else m.SetTiles(trs, tcs, vs);
                        for (int i = 0; i < k; i++)
                        {
                            if (!add)
                                foreach (var key in model.Keys.Where(x => x.Item1 == name && x.Item2 >> 3 == trs[i] && x.Item3 >> 6 == tcs[i]).ToList())
                                    model.Remove(key);
                            for (int j = 0; j < T; j++)
                            {
                                float v = vs[i * T + j];
                                if (v == 0f) continue;
                                var key = (name, trs[i] * 8 + j / 64, tcs[i] * 64 + j % 64);
                                model[key] = add ? model.GetValueOrDefault(key) + v : v;
                            }
                        }
                        break;
                    }
                    case 4:
                    {
                        int r = rng.Next(rows), c = rng.Next(cols);
                        float v = rng.Next(4) == 0 ? 0f : (float)(rng.NextDouble() - 0.5);
                        m.Set(r, c, v);
                        model[(name, r, c)] = v;
                        break;
                    }
                    case 5:
                    {
                        float tol = (float)(rng.NextDouble() * 0.2);
                        long removed = m.Prune(tol);
                        var drop = model.Where(kv => kv.Key.Item1 == name && Math.Abs(kv.Value) <= tol).Select(kv => kv.Key).ToList();
                        Assert.That(removed, Is.EqualTo(drop.Count));
                        foreach (var k in drop) model.Remove(k);
                        break;
                    }
                    case 6:
                    {
                        // A refused call (its second tile is bad) changes nothing, its good first tile included.
                        var good = TileOperationTests.RandomTile(rng, m, 0, 0, 0.1);
                        var bad = new float[T];
                        int kind = rng.Next(3);
                        // kind 0: a tile row past the shape; 1: a NaN; 2: nonzero padding of the last (edge) tile, or
                        // an infinity where the shape has no padding.
                        int badRow = kind == 0 ? rowTiles : rowTiles - 1, badCol = kind == 0 ? 0 : colTiles - 1;
                        if (kind == 1) bad[rng.Next(T)] = float.NaN;
                        if (kind == 2)
                        {
                            if (rows % 8 == 0 && cols % 64 == 0) bad[0] = float.PositiveInfinity;
                            else bad[rows % 8 != 0 ? 7 * 64 : 63] = 1f;
                        }
                        Exception e = Assert.Catch(() => m.SetTiles([0, badRow], [0, badCol], [.. good, .. bad]))!;
                        Assert.That(e, Is.InstanceOf<ArgumentException>());
                        Assert.Catch<ArgumentException>(() => m.AddTiles([0, badRow], [0, badCol], [.. good, .. bad]));
                        break;
                    }
                    case 7:
                    {
                        var path = dir.File("t.vdb");
                        adapter.Save(path);
                        adapter.Dispose();
                        adapter = SparseAdapter.Load(path);
                        break;
                    }
                    case 8:
                        CheckTiles(adapter, model);
                        break;
                }
            }
            TileOperationTests.AssertSameWeights(model, Fixtures.Snapshot(adapter));
            CheckTiles(adapter, model);
        }
        finally { adapter.Dispose(); }
    }

    /// <summary>The tile cursor returns exactly the tiles holding a model weight, with the model's values and 0 elsewhere.</summary>
    private static void CheckTiles(SparseAdapter adapter, Dictionary<(string, int, int), float> model)
    {
        foreach (var m in adapter.Modules)
        {
            var tiles = TileOperationTests.ReadAll(m, 3);
            var want = model.Keys.Where(k => k.Item1 == m.Name).Select(k => (k.Item2 >> 3, k.Item3 >> 6)).Distinct().Order();
            Assert.That(tiles.Select(t => (t.Row, t.Col)), Is.EqualTo(want), m.Name);
            foreach (var (tr, tc, v) in tiles)
                Assert.That(v, Is.EqualTo(TileOperationTests.Expected(model, m.Name, tr, tc)), $"{m.Name} tile ({tr}, {tc})");
        }
    }
}
