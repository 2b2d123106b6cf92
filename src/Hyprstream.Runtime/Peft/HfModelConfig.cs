using System.Text.Json;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The shape-deciding fields of a Hugging Face <c>config.json</c> for Llama/Qwen/Mistral-style decoders, and the
/// out × in shape each linear module must then have.
/// </summary>
public sealed record HfModelConfig(string? ModelType, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads, int HeadDim)
{
    public static HfModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such config: '{path}'", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}' is not a JSON object");
            // Multimodal configs keep the language model under text_config.
            if (r.TryGetProperty("text_config", out var tc) && tc.ValueKind == JsonValueKind.Object && !r.TryGetProperty("hidden_size", out _)) r = tc;
            int Need(string name) => r.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) && v > 0
                ? v : throw new InvalidDataException($"'{path}' has no positive integer '{name}'");
            int hidden = Need("hidden_size"), heads = Need("num_attention_heads");
            int kv = r.TryGetProperty("num_key_value_heads", out var k) && k.ValueKind == JsonValueKind.Number ? k.GetInt32() : heads;
            int headDim = r.TryGetProperty("head_dim", out var hd) && hd.ValueKind == JsonValueKind.Number ? hd.GetInt32() : hidden / heads;
            if (kv <= 0 || headDim <= 0) throw new InvalidDataException($"'{path}': num_key_value_heads and head_dim must be positive");
            string? type = r.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            return new HfModelConfig(type, hidden, Need("intermediate_size"), Need("num_hidden_layers"), heads, kv, headDim);
        }
    }

    /// <summary>Qwen3-1.7B's numbers (config.json of Qwen/Qwen3-1.7B).</summary>
    public static HfModelConfig Qwen3_1_7B { get; } = new("qwen3", 2048, 6144, 28, 16, 8, 128);

    /// <summary>The expected (out, in) of a module such as "model.layers.3.self_attn.k_proj"; null if unknown here.</summary>
    public (int Rows, int Cols)? ShapeOf(string module)
    {
        int layer = AdapterNames.LayerOf(module);
        if (layer >= Layers) throw new InvalidDataException($"module '{module}' is in layer {layer}, but the model has {Layers} layers");
        string last = module[(module.LastIndexOf('.') + 1)..];
        int q = Heads * HeadDim, kvd = KvHeads * HeadDim;
        return last switch
        {
            "q_proj" => (q, HiddenSize),
            "k_proj" or "v_proj" => (kvd, HiddenSize),
            "o_proj" => (HiddenSize, q),
            "gate_proj" or "up_proj" => (IntermediateSize, HiddenSize),
            "down_proj" => (HiddenSize, IntermediateSize),
            _ => null,
        };
    }

    /// <summary>Every linear module of the decoder layers (7 per layer), with its shape.</summary>
    public IReadOnlyList<ModelShapes.LinearShape> LinearShapes(int? layers = null)
    {
        var list = new List<ModelShapes.LinearShape>();
        for (int l = 0; l < (layers ?? Layers); l++)
            foreach (var m in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
            {
                var name = $"model.layers.{l}.{m}";
                var (rows, cols) = ShapeOf(name)!.Value;
                list.Add(new(name, rows, cols));
            }
        return list;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["model_type"] = ModelType, ["hidden_size"] = HiddenSize, ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads, ["head_dim"] = HeadDim,
        ["torch_dtype"] = "bfloat16",
    }, new JsonSerializerOptions { WriteIndented = true }));
}
