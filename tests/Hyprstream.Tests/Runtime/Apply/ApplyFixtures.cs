using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Random tile-structured adapters and the dense reference the apply tests compare against.</summary>
internal static class ApplyFixtures
{
    public static readonly (string Name, int Rows, int Cols)[] Shapes =
    [
        ("model.layers.0.self_attn.q_proj", 64, 128),
        ("model.layers.0.mlp.down_proj", 37, 203),   // partial edge tiles in both directions
        ("model.layers.1.mlp.up_proj", 96, 320),
    ];

    /// <summary>Whole 8×64 tiles kept with probability <paramref name="tileDensity"/>, values N(0,1)-ish; then a
    /// prune, so some voxels are inactive but were non-zero (the snapshot must see them as 0).</summary>
    public static SparseAdapter Random(int seed, double tileDensity = 0.4, string name = "rnd", (string Name, int Rows, int Cols)[]? shapes = null)
    {
        var rng = new Random(seed);
        var a = new SparseAdapter(name, "test/base");
        foreach (var (mod, rows, cols) in shapes ?? Shapes)
        {
            var m = a.AddModule(mod, rows, cols, scale: 0.25f + (float)rng.NextDouble());
            var r = new List<int>(); var c = new List<int>(); var v = new List<float>();
            for (int tr = 0; tr < rows; tr += 8)
                for (int tc = 0; tc < cols; tc += 64)
                {
                    if (rng.NextDouble() >= tileDensity) continue;
                    for (int i = tr; i < Math.Min(rows, tr + 8); i++)
                        for (int j = tc; j < Math.Min(cols, tc + 64); j++)
                        {
                            r.Add(i); c.Add(j); v.Add((float)(rng.NextDouble() * 2 - 1));
                        }
                }
            m.SetMany(r.ToArray(), c.ToArray(), v.ToArray());
            m.Prune(0.05f);
        }
        return a;
    }

    public static float[] RandomMatrix(int seed, long n)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Naive y[b, r] += scale · Σ_c x[b, c] · dense[r, c], accumulated in double.</summary>
    public static void NaiveGemm(float[] dense, int rows, int cols, ReadOnlySpan<float> x, Span<float> y, int batch, float scale)
    {
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < rows; r++)
            {
                double acc = 0;
                for (int c = 0; c < cols; c++) acc += (double)x[b * cols + c] * dense[(long)r * cols + c];
                y[b * rows + r] += (float)(scale * acc);
            }
    }

    /// <summary>Largest |a − b| relative to max(1, max|b|).</summary>
    public static double MaxRelError(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double max = 1, err = 0;
        for (int i = 0; i < b.Length; i++) max = Math.Max(max, Math.Abs(b[i]));
        for (int i = 0; i < b.Length; i++) err = Math.Max(err, Math.Abs(a[i] - b[i]));
        return err / max;
    }
}
