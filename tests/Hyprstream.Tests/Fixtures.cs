using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Small adapters with known content, built by the tests themselves.</summary>
internal static class Fixtures
{
    /// <summary>A two-module adapter (one odd-shaped to exercise partial edge tiles) with random values.</summary>
    public static SparseAdapter Small(string name = "small", int seed = 7, int count = 500)
    {
        var a = new SparseAdapter(name, "Qwen/Qwen3-1.7B");
        a.Provenance["source"] = "test";
        a.Metadata["purpose"] = "unit test";
        var rng = new Random(seed);
        foreach (var (mod, rows, cols) in new[] { ("model.layers.0.self_attn.q_proj", 64, 128), ("model.layers.1.mlp.down_proj", 37, 203) })
        {
            var m = a.AddModule(mod, rows, cols, scale: 0.5f);
            for (int i = 0; i < count; i++) m.Set(rng.Next(rows), rng.Next(cols), (float)(rng.NextDouble() * 2 - 1));
        }
        return a;
    }

    public static Dictionary<(string, int, int), float> Snapshot(SparseAdapter a) =>
        a.EnumerateActive().ToDictionary(w => (w.Module, w.Row, w.Col), w => w.Value);
}
