using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Hyprstream.Runtime.Linalg;

/// <summary>
/// C[m×n] += alpha · B[m×k] · A[k×n], row-major, for the small k of LoRA (B·A with k = rank). This is the dense
/// baseline of adapter switching and the core of LoRA import, so it must be a fair, fast GEMM: columns are cut into
/// panels whose k×NB slice of A stays in L1, and a 4-row × 16-column register tile of C accumulates all k
/// products (8 Vector256 accumulators, 2 loads of A and 4 broadcasts of B per k) before C is stored once.
/// Without AVX2+FMA it falls back to a scalar loop over the same blocking.
/// </summary>
public static class LowRankGemm
{
    public static void AddProduct(Span<float> c, int m, int n, ReadOnlySpan<float> b, ReadOnlySpan<float> a, int k, float alpha = 1f)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), "dimensions must be non-negative");
        if (c.Length < (long)m * n) throw new ArgumentException($"C has {c.Length} values; {m}x{n} needs {(long)m * n}");
        if (b.Length < (long)m * k) throw new ArgumentException($"B has {b.Length} values; {m}x{k} needs {(long)m * k}");
        if (a.Length < (long)k * n) throw new ArgumentException($"A has {a.Length} values; {k}x{n} needs {(long)k * n}");
        if (m == 0 || n == 0 || k == 0) return;
        // Pre-scale B (m×k, small) so the inner loop is a pure FMA.
        var bs = new float[(long)m * k];
        System.Numerics.Tensors.TensorPrimitives.Multiply(b[..bs.Length], alpha, bs);
        int nb = Math.Max(16, Math.Min(n, (4096 / Math.Max(1, k)) & ~15)); // k·NB·4 bytes ≈ 16 KB: the A panel stays in L1
        for (int j0 = 0; j0 < n; j0 += nb)
        {
            int j1 = Math.Min(n, j0 + nb);
            if (Fma.IsSupported && Avx.IsSupported) PanelAvx(c, m, n, bs, a, k, j0, j1);
            else PanelScalar(c, n, bs, a, k, 0, m, j0, j1);
        }
    }

    private static unsafe void PanelAvx(Span<float> cSpan, int m, int n, float[] bs, ReadOnlySpan<float> aSpan, int k, int j0, int j1)
    {
        int jv = j0 + (j1 - j0) / 16 * 16;
        fixed (float* c = cSpan) fixed (float* b = bs) fixed (float* a = aSpan)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4)
            {
                float* c0 = c + (long)i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
                float* b0 = b + (long)i * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
                for (int j = j0; j < jv; j += 16)
                {
                    var x00 = Avx.LoadVector256(c0 + j); var x01 = Avx.LoadVector256(c0 + j + 8);
                    var x10 = Avx.LoadVector256(c1 + j); var x11 = Avx.LoadVector256(c1 + j + 8);
                    var x20 = Avx.LoadVector256(c2 + j); var x21 = Avx.LoadVector256(c2 + j + 8);
                    var x30 = Avx.LoadVector256(c3 + j); var x31 = Avx.LoadVector256(c3 + j + 8);
                    float* ap = a + j;
                    for (int p = 0; p < k; p++, ap += n)
                    {
                        var a0 = Avx.LoadVector256(ap); var a1 = Avx.LoadVector256(ap + 8);
                        var s = Vector256.Create(b0[p]);
                        x00 = Fma.MultiplyAdd(a0, s, x00); x01 = Fma.MultiplyAdd(a1, s, x01);
                        s = Vector256.Create(b1[p]);
                        x10 = Fma.MultiplyAdd(a0, s, x10); x11 = Fma.MultiplyAdd(a1, s, x11);
                        s = Vector256.Create(b2[p]);
                        x20 = Fma.MultiplyAdd(a0, s, x20); x21 = Fma.MultiplyAdd(a1, s, x21);
                        s = Vector256.Create(b3[p]);
                        x30 = Fma.MultiplyAdd(a0, s, x30); x31 = Fma.MultiplyAdd(a1, s, x31);
                    }
                    Avx.Store(c0 + j, x00); Avx.Store(c0 + j + 8, x01);
                    Avx.Store(c1 + j, x10); Avx.Store(c1 + j + 8, x11);
                    Avx.Store(c2 + j, x20); Avx.Store(c2 + j + 8, x21);
                    Avx.Store(c3 + j, x30); Avx.Store(c3 + j + 8, x31);
                }
            }
            for (; i < m; i++)
            {
                float* ci = c + (long)i * n, bi = b + (long)i * k;
                for (int j = j0; j < jv; j += 16)
                {
                    var x0 = Avx.LoadVector256(ci + j); var x1 = Avx.LoadVector256(ci + j + 8);
                    float* ap = a + j;
                    for (int p = 0; p < k; p++, ap += n)
                    {
                        var s = Vector256.Create(bi[p]);
                        x0 = Fma.MultiplyAdd(Avx.LoadVector256(ap), s, x0);
                        x1 = Fma.MultiplyAdd(Avx.LoadVector256(ap + 8), s, x1);
                    }
                    Avx.Store(ci + j, x0); Avx.Store(ci + j + 8, x1);
                }
            }
        }
        if (jv < j1) PanelScalar(cSpan, n, bs, aSpan, k, 0, m, jv, j1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelScalar(Span<float> c, int n, float[] bs, ReadOnlySpan<float> a, int k, int i0, int i1, int j0, int j1)
    {
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++)
            {
                float acc = c[i * n + j];
                for (int p = 0; p < k; p++) acc = MathF.FusedMultiplyAdd(bs[(long)i * k + p], a[p * n + j], acc);
                c[i * n + j] = acc;
            }
    }
}
