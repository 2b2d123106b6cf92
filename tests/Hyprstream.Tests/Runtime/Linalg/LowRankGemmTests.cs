using Hyprstream.Runtime.Linalg;

namespace Hyprstream.Tests;

/// <summary>The blocked SIMD GEMM agrees with a plain double-precision triple loop, edges included.</summary>
public class LowRankGemmTests
{
    [TestCase(1, 1, 1)]
    [TestCase(7, 37, 3)]
    [TestCase(64, 128, 16)]
    [TestCase(13, 300, 16)]
    [TestCase(9, 1100, 64)]
    public void AddProduct_MatchesReference(int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n + k);
        var c = PeftFixtures.Random(rng, m * n, 1f);
        var b = PeftFixtures.Random(rng, m * k, 1f);
        var a = PeftFixtures.Random(rng, k * n, 1f);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)b[i * k + p] * a[p * n + j];
                expected[i * n + j] = c[i * n + j] + 0.75 * s;
            }
        LowRankGemm.AddProduct(c, m, n, b, a, k, 0.75f);
        for (int i = 0; i < c.Length; i++) Assert.That(c[i], Is.EqualTo(expected[i]).Within(1e-4 * (1 + Math.Abs(expected[i]))), $"element {i}");
    }

    [Test]
    public void AddProduct_RefusesShortBuffers()
    {
        Assert.Throws<ArgumentException>(() => LowRankGemm.AddProduct(new float[5], 2, 3, new float[2], new float[3], 1));
        Assert.Throws<ArgumentException>(() => LowRankGemm.AddProduct(new float[6], 2, 3, new float[1], new float[3], 1));
    }
}
