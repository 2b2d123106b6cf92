namespace Hyprstream.Tests;

/// <summary>Random and clustered vectors with a known seed, for index tests and the benchmark's checks.</summary>
internal static class IndexData
{
    public static double[][] Random(int n, int dim, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, dim).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
    }

    /// <summary>Points around <paramref name="clusters"/> centres; the centres depend only on centerSeed, so data and
    /// queries drawn with different seeds share them.</summary>
    public static double[][] Clustered(int n, int dim, int clusters, int seed, double spread = 0.05, int centerSeed = 1000)
    {
        var rng = new Random(seed);
        var centers = Random(clusters, dim, centerSeed);
        return Enumerable.Range(0, n).Select(i =>
        {
            var c = centers[rng.Next(clusters)];
            return c.Select(x => x + Gauss(rng) * spread).ToArray();
        }).ToArray();
    }

    /// <summary>Points inside the Poincaré ball, denser towards the rim as hierarchies are.</summary>
    public static double[][] Ball(int n, int dim, int seed, double maxNorm = 0.99)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var v = Enumerable.Range(0, dim).Select(_ => Gauss(rng)).ToArray();
            double norm = Math.Sqrt(v.Sum(x => x * x));
            double r = maxNorm * Math.Pow(rng.NextDouble(), 0.25);
            return v.Select(x => x / norm * r).ToArray();
        }).ToArray();
    }

    public static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
