using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>Builds store batches with known contents for the store tests.</summary>
internal static class StoreTestData
{
    public const string Module = "model.layers.0.self_attn.q_proj";
    public const int Dim = 256;

    /// <summary>Batch n: sets weights [n·k, n·k + k) (row-major) to Value(n, i).</summary>
    public static AdapterBatch Batch(long n, int k = 16, float offset = 0f, int dim = Dim)
    {
        var rows = new int[k]; var cols = new int[k]; var vals = new float[k];
        for (int i = 0; i < k; i++)
        {
            long linear = n * k + i;
            rows[i] = (int)(linear / dim); cols[i] = (int)(linear % dim);
            vals[i] = Value(n, i) + offset;
        }
        return new AdapterBatch().Set(Module, rows, cols, vals);
    }

    public static float Value(long n, int i) => 1f + (n * 13 + i) % 101 / 101f;

    /// <summary>How many of batch n's weights hold their value.</summary>
    public static int Present(AdapterStore store, string adapter, long n, int k = 16, float offset = 0f, int dim = Dim) => store.Read(adapter, a =>
    {
        var m = a.Modules[Module];
        int count = 0;
        for (int i = 0; i < k; i++)
        {
            long linear = n * k + i;
            if (m.IsActive((int)(linear / dim), (int)(linear % dim)) && m.Get((int)(linear / dim), (int)(linear % dim)) == Value(n, i) + offset) count++;
        }
        return count;
    });

    public static void CreateWithModule(AdapterStore store, string name, int dim = Dim)
    {
        store.Create(name, "test/base");
        store.Apply(name, new AdapterBatch().DefineModule(Module, dim, dim));
    }
}
