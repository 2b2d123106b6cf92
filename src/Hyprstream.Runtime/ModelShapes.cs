namespace Hyprstream.Runtime;

/// <summary>Linear-layer shapes (out × in) of models we benchmark and check against.</summary>
public static class ModelShapes
{
    public sealed record LinearShape(string Name, int Rows, int Cols);

    /// <summary>Qwen3-1.7B: 28 layers, hidden 2048, 16 q heads / 8 kv heads of 128, MLP 6144 — 196 linear modules.</summary>
    public static IReadOnlyList<LinearShape> Qwen3_1_7B(int layers = 28)
    {
        var list = new List<LinearShape>(layers * 7);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            list.Add(new(p + "self_attn.q_proj", 2048, 2048));
            list.Add(new(p + "self_attn.k_proj", 1024, 2048));
            list.Add(new(p + "self_attn.v_proj", 1024, 2048));
            list.Add(new(p + "self_attn.o_proj", 2048, 2048));
            list.Add(new(p + "mlp.gate_proj", 6144, 2048));
            list.Add(new(p + "mlp.up_proj", 6144, 2048));
            list.Add(new(p + "mlp.down_proj", 2048, 6144));
        }
        return list;
    }
}
