using System.Text.Json;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Synthetic;

/// <summary>
/// Synthetic stand-ins with a real model's shapes and PEFT's real key names: base weights (safetensors, optionally
/// sharded with an index) and a LoRA adapter directory. Values are random; only shapes and names are the model's.
/// </summary>
public static class SyntheticModel
{
    /// <summary>Fast deterministic fill, uniform in (−amp, amp) (xorshift; Box–Muller would dominate a 1.4 G-weight model).</summary>
    public static void Fill(Span<float> dst, ulong seed, float amp)
    {
        ulong x = seed * 0x9E3779B97F4A7C15UL + 1;
        for (int i = 0; i < dst.Length; i++)
        {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            dst[i] = ((int)(x >> 40) - (1 << 23)) * (amp / (1 << 23));
        }
    }

    /// <summary>FNV-1a of the name: the same values in every process (string.GetHashCode is randomised).</summary>
    public static ulong StableHash(string s) => Hyprstream.Runtime.Bytes.Fnv1a.Hash64(s);

    /// <summary>Writes config.json and the base weights (every linear module + per-layer norms + final norm).</summary>
    public static IReadOnlyList<string> WriteBase(string dir, HfModelConfig config, int layers, TensorDType dtype, int shards, int seed, Action<int, int>? progress = null)
    {
        Directory.CreateDirectory(dir);
        (config with { Layers = layers }).Save(Path.Combine(dir, "config.json"));
        var shapes = config.LinearShapes(layers);
        var tensors = new List<(string Name, long[] Shape, int Layer)>();
        for (int l = 0; l < layers; l++)
        {
            tensors.Add(($"model.layers.{l}.input_layernorm.weight", [config.HiddenSize], l));
            tensors.Add(($"model.layers.{l}.post_attention_layernorm.weight", [config.HiddenSize], l));
        }
        tensors.AddRange(shapes.Select(s => (s.Name + ".weight", new long[] { s.Rows, s.Cols }, AdapterNames.LayerOf(s.Name))));
        tensors.Add(("model.norm.weight", [config.HiddenSize], layers - 1));
        shards = Math.Max(1, Math.Min(shards, layers));
        var files = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        int done = 0;
        for (int s = 0; s < shards; s++)
        {
            var part = tensors.Where(t => t.Layer * shards / layers == s).ToList();
            var file = shards == 1 ? "model.safetensors" : $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            using var w = new SafetensorsWriter(Path.Combine(dir, file));
            w.Metadata["format"] = "pt";
            foreach (var t in part) w.Declare(t.Name, dtype, t.Shape);
            foreach (var t in part)
            {
                var values = new float[t.Shape.Aggregate(1L, (a, b) => a * b)];
                if (t.Shape.Length == 1) Array.Fill(values, 1f);
                else Fill(values, StableHash(t.Name) ^ (ulong)seed, 0.05f);
                w.WriteAs(values, dtype);
                weightMap[t.Name] = file;
                progress?.Invoke(++done, tensors.Count);
            }
            w.Commit();
            files.Add(Path.Combine(dir, file));
        }
        if (shards > 1)
        {
            var indexPath = Path.Combine(dir, "model.safetensors.index.json");
            File.WriteAllText(indexPath, JsonSerializer.Serialize(new { metadata = new { total_size = files.Sum(f => new FileInfo(f).Length) }, weight_map = weightMap },
                new JsonSerializerOptions { WriteIndented = true }));
            files.Add(indexPath);
        }
        return files;
    }

    /// <summary>A PEFT LoRA adapter directory: A [r×in], B [out×r] for every linear module, F32, PEFT key names.</summary>
    public static void WriteLora(string dir, HfModelConfig config, int layers, int rank, double alpha, bool rslora, string baseModel, int seed)
    {
        Directory.CreateDirectory(dir);
        var shapes = config.LinearShapes(layers);
        using (var w = new SafetensorsWriter(Path.Combine(dir, PeftImport.WeightsFile)))
        {
            w.Metadata["format"] = "pt";
            foreach (var s in shapes)
            {
                w.Declare(PeftKeys.LoraA(s.Name), TensorDType.F32, rank, s.Cols);
                w.Declare(PeftKeys.LoraB(s.Name), TensorDType.F32, s.Rows, rank);
            }
            int i = 0;
            foreach (var s in shapes)
            {
                var a = new float[(long)rank * s.Cols];
                var b = new float[(long)s.Rows * rank];
                Fill(a, (ulong)(seed * 31 + i++), 1f / MathF.Sqrt(s.Cols));
                Fill(b, (ulong)(seed * 37 + i++), 0.01f);
                w.WriteFloats(a);
                w.WriteFloats(b);
            }
            w.Commit();
        }
        var cfg = new Dictionary<string, object?>
        {
            ["peft_type"] = "LORA", ["task_type"] = "CAUSAL_LM", ["base_model_name_or_path"] = baseModel, ["r"] = rank, ["lora_alpha"] = alpha,
            ["lora_dropout"] = 0.0, ["use_rslora"] = rslora, ["use_dora"] = false, ["bias"] = "none", ["fan_in_fan_out"] = false,
            ["target_modules"] = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
            ["rank_pattern"] = new { }, ["alpha_pattern"] = new { },
        };
        File.WriteAllText(Path.Combine(dir, PeftImport.ConfigFile), JsonSerializer.Serialize(cfg, new JsonSerializerOptions { WriteIndented = true }));
    }
}
