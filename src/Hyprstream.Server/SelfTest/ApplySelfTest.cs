using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Server.SelfTest;

/// <summary>
/// `hyprstream selftest`: the apply checks a GPU host can run without the .NET SDK or NUnit (tests/gpu/run.sh carries a
/// self-contained build there). Each check compares a backend with the dense reference (CPU) or with the CPU backend
/// (CUDA), with the tolerances of the NUnit tests, and prints PASS/FAIL with the measured error.
/// </summary>
internal static class ApplySelfTest
{
    private static readonly (string Name, int Rows, int Cols)[] Shapes =
    [
        ("model.layers.0.self_attn.q_proj", 64, 128), ("model.layers.0.mlp.down_proj", 37, 203), ("model.layers.1.mlp.up_proj", 96, 320),
        ("model.layers.2.mlp.gate_proj", 768, 2048),
    ];

    public static int Run(ApplyBackend device, Action<string> print)
    {
        using var backend = ApplyBackends.Create(device);
        var cpu = new CpuApplier();
        print($"selftest on {backend.Device}");
        int failures = 0;
        void Check(string what, double error, double tolerance)
        {
            bool ok = error <= tolerance && !double.IsNaN(error);
            if (!ok) failures++;
            print($"{(ok ? "PASS" : "FAIL")} {what}: max error {error:E2} (tolerance {tolerance:E0})");
        }

        using var a = Random(1, "a");
        using var b = Random(2, "b");
        foreach (var precision in new[] { SnapshotPrecision.Float32, SnapshotPrecision.Fp16 })
        {
            using var sa = AdapterSnapshot.Create(a, precision);
            using var sb = AdapterSnapshot.Create(b, precision);
            string p = precision == SnapshotPrecision.Float32 ? "f32" : "fp16";
            foreach (var m in sa.Modules)
            {
                var dense = a.Modules[m.Name].ToDense(applyScale: true);
                foreach (int batch in new[] { 1, 4, 16, 64 })
                {
                    var x = Matrix(batch * 31 + m.Rows, (long)batch * m.Cols);
                    var y = new float[batch * m.Rows];
                    backend.Gemm(sa, m.Name, x, y, batch);
                    var reference = new float[y.Length];
                    Naive(dense, m.Rows, m.Cols, x, reference, batch);
                    Check($"gemm {p} {m.Name} {m.Rows}x{m.Cols} batch {batch} vs dense reference", RelError(y, reference), precision == SnapshotPrecision.Float32 ? 1e-5 : 1e-3);
                }
                int[] offsets = [0, 3, 3, 9];
                var xm = Matrix(7, 9L * m.Cols);
                var ym = new float[9 * m.Rows];
                var yr = new float[9 * m.Rows];
                backend.GemmMixed([sa, sb, sa], offsets, m.Name, xm, ym);
                cpu.GemmMixed([sa, sb, sa], offsets, m.Name, xm, yr);
                Check($"mixed-batch gemm {p} {m.Name} (3 segments, one empty) vs cpu", RelError(ym, yr), 1e-5);

                var w0 = Matrix(11, (long)m.Rows * m.Cols);
                var wf = (float[])w0.Clone(); var wr = (float[])w0.Clone();
                backend.Scatter(sa, m.Name, wf.AsSpan(), -0.5f);
                cpu.Scatter(sa, m.Name, wr.AsSpan(), -0.5f);
                Check($"scatter {p} into float32 {m.Name} vs cpu", RelError(wf, wr), 1e-6);
                var hf = w0.Select(v => (Half)v).ToArray(); var hr = (Half[])hf.Clone();
                backend.Scatter(sa, m.Name, hf.AsSpan());
                cpu.Scatter(sa, m.Name, hr.AsSpan());
                Check($"scatter {p} into fp16 {m.Name} vs cpu", RelError(hf.Select(h => (float)h).ToArray(), hr.Select(h => (float)h).ToArray()), 1e-3);
                var bf = w0.Select(Bf16.FromSingle).ToArray(); var br = (ushort[])bf.Clone();
                backend.ScatterBf16(sa, m.Name, bf.AsSpan());
                cpu.ScatterBf16(sa, m.Name, br.AsSpan());
                Check($"scatter {p} into bf16 {m.Name} vs cpu", RelError(bf.Select(Bf16.ToSingle).ToArray(), br.Select(Bf16.ToSingle).ToArray()), 1e-2);

                var rng = new Random(m.Rows);
                var rows = Enumerable.Range(0, 777).Select(_ => rng.Next(m.Rows)).ToArray();
                var cols = Enumerable.Range(0, 777).Select(_ => rng.Next(m.Cols)).ToArray();
                var got = new float[777]; var want = new float[777];
                backend.Lookup(sa, m.Name, rows, cols, got);
                cpu.Lookup(sa, m.Name, rows, cols, want);
                Check($"lookup {p} {m.Name} vs cpu", RelError(got, want), 1e-6);
            }
        }
        print(failures == 0 ? "selftest passed" : $"selftest FAILED: {failures} checks");
        return failures == 0 ? 0 : 1;
    }

    private static SparseAdapter Random(int seed, string name)
    {
        var rng = new Random(seed);
        var a = new SparseAdapter(name);
        foreach (var (mod, rows, cols) in Shapes)
        {
            var m = a.AddModule(mod, rows, cols, scale: 0.5f + (float)rng.NextDouble());
            var r = new List<int>(); var c = new List<int>(); var v = new List<float>();
            for (int tr = 0; tr < rows; tr += 8)
                for (int tc = 0; tc < cols; tc += 64)
                    if (rng.NextDouble() < 0.3)
                        for (int i = tr; i < Math.Min(rows, tr + 8); i++)
                            for (int j = tc; j < Math.Min(cols, tc + 64); j++) { r.Add(i); c.Add(j); v.Add((float)(rng.NextDouble() * 2 - 1)); }
            m.SetMany(r.ToArray(), c.ToArray(), v.ToArray());
        }
        return a;
    }

    private static float[] Matrix(int seed, long n)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static void Naive(float[] dense, int rows, int cols, float[] x, float[] y, int batch)
    {
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < rows; r++)
            {
                double acc = 0;
                for (int c = 0; c < cols; c++) acc += (double)x[b * cols + c] * dense[(long)r * cols + c];
                y[b * rows + r] += (float)acc;
            }
    }

    private static double RelError(float[] a, float[] b)
    {
        double max = 1, err = 0;
        foreach (var v in b) max = Math.Max(max, Math.Abs(v));
        for (int i = 0; i < b.Length; i++) err = Math.Max(err, Math.Abs((double)a[i] - b[i]));
        return err / max;
    }
}
