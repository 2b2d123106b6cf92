
namespace Hyprstream.Runtime.Synthetic;

/// <summary>Random sparse ΔW batches with a model's shapes: tile-structured (whole 8×64 tiles) or unstructured.</summary>
public sealed class SyntheticAdapter
{
    public sealed record ModuleBatch(string Name, int Rows, int Cols, int[] RowIdx, int[] ColIdx, float[] Values);

    public required IReadOnlyList<ModuleBatch> Modules { get; init; }
    public long Weights => Modules.Sum(m => (long)m.Values.Length);

    public static SyntheticAdapter Generate(IReadOnlyList<ModelShapes.LinearShape> shapes, double density, SparsityStructure structure, int seed)
    {
        var rng = new Random(seed);
        var modules = new List<ModuleBatch>(shapes.Count);
        foreach (var s in shapes)
        {
            var cells = new List<(int R, int C)>();
            if (structure == SparsityStructure.Tile)
            {
                int tilesPerRow = (s.Cols + 63) / 64, tileRows = (s.Rows + 7) / 8;
                int tiles = tilesPerRow * tileRows, keep = Math.Max(1, (int)Math.Round(tiles * density));
                foreach (var t in Sample(rng, tiles, keep))
                {
                    int r0 = t / tilesPerRow * 8, c0 = t % tilesPerRow * 64;
                    for (int r = r0; r < Math.Min(r0 + 8, s.Rows); r++)
                        for (int c = c0; c < Math.Min(c0 + 64, s.Cols); c++) cells.Add((r, c));
                }
            }
            else
            {
                long total = (long)s.Rows * s.Cols;
                foreach (var i in Sample(rng, (int)total, Math.Max(1, (int)Math.Round(total * density))))
                    cells.Add(((int)(i / s.Cols), (int)(i % s.Cols)));
            }
            cells.Sort((a, b) => a.R != b.R ? a.R.CompareTo(b.R) : a.C.CompareTo(b.C));
            var rows = new int[cells.Count];
            var cols = new int[cells.Count];
            var values = new float[cells.Count];
            for (int i = 0; i < cells.Count; i++)
            {
                rows[i] = cells[i].R;
                cols[i] = cells[i].C;
                values[i] = (float)(Gaussian(rng) * 0.01);
            }
            modules.Add(new ModuleBatch(s.Name, s.Rows, s.Cols, rows, cols, values));
        }
        return new SyntheticAdapter { Modules = modules };
    }

    /// <summary>The same entries, shuffled within each module.</summary>
    public SyntheticAdapter Shuffled(int seed)
    {
        var rng = new Random(seed);
        return new SyntheticAdapter
        {
            Modules = Modules.Select(m =>
            {
                var order = Enumerable.Range(0, m.Values.Length).ToArray();
                rng.Shuffle(order);
                return m with { RowIdx = order.Select(i => m.RowIdx[i]).ToArray(), ColIdx = order.Select(i => m.ColIdx[i]).ToArray(), Values = order.Select(i => m.Values[i]).ToArray() };
            }).ToList(),
        };
    }

    public SparseAdapter Build(string name, bool add = false)
    {
        var a = new SparseAdapter(name, "Qwen/Qwen3-1.7B");
        foreach (var m in Modules)
        {
            var mod = a.AddModule(m.Name, m.Rows, m.Cols);
            if (add) mod.AddMany(m.RowIdx, m.ColIdx, m.Values);
            else mod.SetMany(m.RowIdx, m.ColIdx, m.Values);
        }
        return a;
    }

    private static IEnumerable<int> Sample(Random rng, int n, int k)
    {
        var chosen = new HashSet<int>();
        while (chosen.Count < k) chosen.Add(rng.Next(n));
        return chosen;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());
}
