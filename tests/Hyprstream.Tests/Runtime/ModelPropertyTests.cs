using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>
/// Property-style: random sequences of operations on an adapter and on a plain dictionary model must agree,
/// including after save/load. Each seed is a separate, reproducible case.
/// </summary>
public class ModelPropertyTests
{
    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 12);

    [TestCaseSource(nameof(Seeds))]
    public void RandomOperations_MatchADictionaryModel(int seed)
    {
        var rng = new Random(seed);
        using var dir = new TempDir();
        var shapes = new[] { ("m0", 1 + rng.Next(40), 1 + rng.Next(300)), ("m1", 1 + rng.Next(20), 1 + rng.Next(70)) };
        var adapter = new SparseAdapter($"prop{seed}");
        var model = new Dictionary<(string, int, int), float>();
        foreach (var (n, r, c) in shapes) adapter.AddModule(n, r, c);
        try
        {
            for (int step = 0; step < 200; step++)
            {
                var (name, rows, cols) = shapes[rng.Next(shapes.Length)];
                var m = adapter.Modules[name];
                switch (rng.Next(8))
                {
                    case 0 or 1:
                    {
                        int r = rng.Next(rows), c = rng.Next(cols);
                        float v = (float)(rng.NextDouble() * 2 - 1);
                        m.Set(r, c, v);
                        model[(name, r, c)] = v;
                        break;
                    }
                    case 2:
                    {
                        int r = rng.Next(rows), c = rng.Next(cols);
                        float v = (float)(rng.NextDouble() - 0.5);
                        m.Add(r, c, v);
                        model[(name, r, c)] = model.GetValueOrDefault((name, r, c)) + v;
                        break;
                    }
                    case 3 or 4:
                    {
                        int n = rng.Next(1, 64);
                        var rs = new int[n]; var cs = new int[n]; var vs = new float[n];
                        for (int i = 0; i < n; i++) { rs[i] = rng.Next(rows); cs[i] = rng.Next(cols); vs[i] = (float)(rng.NextDouble() - 0.5); }
                        bool add = rng.Next(2) == 0;
                        if (add) m.AddMany(rs, cs, vs); else m.SetMany(rs, cs, vs);
                        for (int i = 0; i < n; i++)
                            model[(name, rs[i], cs[i])] = add ? model.GetValueOrDefault((name, rs[i], cs[i])) + vs[i] : vs[i];
                        break;
                    }
                    case 5:
                    {
                        float tol = (float)(rng.NextDouble() * 0.1);
                        long removed = m.Prune(tol);
                        var drop = model.Where(kv => kv.Key.Item1 == name && Math.Abs(kv.Value) <= tol).Select(kv => kv.Key).ToList();
                        Assert.That(removed, Is.EqualTo(drop.Count));
                        foreach (var k in drop) model.Remove(k);
                        break;
                    }
                    case 6:
                    {
                        // A bad batch (one out-of-range entry) must change nothing.
                        Assert.Throws<ArgumentOutOfRangeException>(() => m.SetMany([0, rows], [0, 0], [9f, 9f]));
                        break;
                    }
                    case 7:
                    {
                        var path = dir.File("p.vdb");
                        adapter.Save(path);
                        adapter.Dispose();
                        adapter = SparseAdapter.Load(path);
                        break;
                    }
                }
            }
            Assert.That(Fixtures.Snapshot(adapter), Is.EquivalentTo(model));
            foreach (var ((n, r, c), v) in model) Assert.That(adapter.Modules[n][r, c], Is.EqualTo(v));
        }
        finally { adapter.Dispose(); }
    }
}
