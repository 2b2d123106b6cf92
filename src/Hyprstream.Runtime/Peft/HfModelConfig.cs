using System.Text.Json;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The shape-deciding fields of a Hugging Face <c>config.json</c> for Llama/Qwen/Mistral-style decoders (and their
/// mixture-of-experts variants), and the out × in shape each linear module must then have. Only names whose shape the
/// config decides without guessing get one: the seven projections, the experts' projections and the router. Other
/// modules (fused qkv_proj / gate_up_proj, OPT's fc1, lm_head, …) have no shape here; the base weights give theirs.
/// </summary>
public sealed record HfModelConfig(string? ModelType, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads, int HeadDim)
{
    /// <summary>Width of one routed expert's MLP (Qwen-MoE, DeepSeek: moe_intermediate_size); null where experts use intermediate_size (Mixtral).</summary>
    public int? MoeIntermediateSize { get; init; }
    /// <summary>Routed experts per MoE layer (num_experts, num_local_experts or n_routed_experts); null for a dense model.</summary>
    public int? NumExperts { get; init; }
    /// <summary>Width of Qwen2-MoE's shared expert (shared_expert_intermediate_size), when the model has one.</summary>
    public int? SharedExpertIntermediateSize { get; init; }

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
            int? Optional(params string[] names)
            {
                foreach (var name in names)
                    if (r.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null)
                        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) && v > 0
                            ? v : throw new InvalidDataException($"'{path}': '{name}' is not a positive integer ({e})");
                return null;
            }
            return new HfModelConfig(type, hidden, Need("intermediate_size"), Need("num_hidden_layers"), heads, kv, headDim)
            {
                MoeIntermediateSize = Optional("moe_intermediate_size"),
                NumExperts = Optional("num_experts", "num_local_experts", "n_routed_experts"),
                SharedExpertIntermediateSize = Optional("shared_expert_intermediate_size"),
            };
        }
    }

    /// <summary>Qwen3-1.7B's numbers (config.json of Qwen/Qwen3-1.7B).</summary>
    public static HfModelConfig Qwen3_1_7B { get; } = new("qwen3", 2048, 6144, 28, 16, 8, 128);

    /// <summary>
    /// The expected (out, in) of a module such as "model.layers.3.self_attn.k_proj" or
    /// "model.layers.3.mlp.experts.17.down_proj"; null if the config does not decide it. An expert index past the
    /// model's experts, or a layer past its layers, is an error naming both.
    /// </summary>
    public (int Rows, int Cols)? ShapeOf(string module)
    {
        int layer = AdapterNames.LayerOf(module);
        if (layer >= Layers) throw new InvalidDataException($"module '{module}' is in layer {layer}, but the model has {Layers} layers");
        var parts = module.Split('.');
        string last = parts[^1];
        string? parent = parts.Length >= 2 ? parts[^2] : null;
        int q = Heads * HeadDim, kvd = KvHeads * HeadDim;
        // Routed experts: "...experts.N.<proj>". Their width is moe_intermediate_size where the config has it.
        if (parts.Length >= 3 && parts[^3] == "experts" && int.TryParse(parent, out var expert))
        {
            if (NumExperts is { } n && expert >= n)
                throw new InvalidDataException($"module '{module}' is expert {expert}, but the model has {n} experts per layer");
            int width = MoeIntermediateSize ?? IntermediateSize;
            return last switch
            {
                "gate_proj" or "up_proj" or "w1" or "w3" => (width, HiddenSize),
                "down_proj" or "w2" => (HiddenSize, width),
                _ => null,
            };
        }
        if (parent == "shared_expert")
            return SharedExpertIntermediateSize is not { } shared ? null : last switch
            {
                "gate_proj" or "up_proj" => (shared, HiddenSize),
                "down_proj" => (HiddenSize, shared),
                _ => null,
            };
        if (parent is "mlp" or "block_sparse_moe" && last == "gate")
            return NumExperts is { } routers ? (routers, HiddenSize) : null;   // the router: one logit per expert
        if (parent is not ("self_attn" or "mlp")) return null;
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
        ["moe_intermediate_size"] = MoeIntermediateSize, ["num_experts"] = NumExperts, ["shared_expert_intermediate_size"] = SharedExpertIntermediateSize,
        ["torch_dtype"] = "bfloat16",
    }, new JsonSerializerOptions { WriteIndented = true }));
}
