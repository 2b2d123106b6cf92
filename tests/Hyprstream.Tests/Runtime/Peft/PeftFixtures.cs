using System.Text.Json;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>
/// PEFT-format adapter directories built by the tests: random A/B with a known seed under PEFT's real key names for a
/// Qwen/Llama-style decoder (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight …), written with our
/// safetensors writer, plus a matching Hugging Face config.json. Shapes are a small Qwen-like model.
/// </summary>
internal static class PeftFixtures
{
    /// <summary>hidden 128, MLP 320, 4 heads / 2 KV heads of 32, 2 layers: q,o 128x128; k,v 64x128; gate,up 320x128; down 128x320.</summary>
    public static readonly HfModelConfig Model = new("qwen3", 128, 320, 2, 4, 2, 32);

    public sealed record Lora(string Dir, int Rank, double Alpha, bool RsLora, Dictionary<string, (float[] A, float[] B, int Rows, int Cols)> Modules);

    public static Lora WriteLora(string dir, int rank = 4, double alpha = 8, bool rslora = false, int seed = 42,
        string[]? modules = null, Action<Dictionary<string, object?>>? editConfig = null)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(seed);
        var names = modules ?? ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];
        var result = new Dictionary<string, (float[], float[], int, int)>();
        var tensors = new List<(string, long[], float[])>();
        for (int layer = 0; layer < Model.Layers; layer++)
            foreach (var n in names)
            {
                var module = $"model.layers.{layer}.{n}";
                var (rows, cols) = Model.ShapeOf(module)!.Value;
                var a = Random(rng, rank * cols, 0.5f);
                var b = Random(rng, rows * rank, 0.5f);
                result[module] = (a, b, rows, cols);
                tensors.Add(($"base_model.model.{module}.lora_A.weight", [rank, cols], a));
                tensors.Add(($"base_model.model.{module}.lora_B.weight", [rows, rank], b));
            }
        SafetensorsWriter.WriteAll(Path.Combine(dir, "adapter_model.safetensors"), tensors, metadata: new Dictionary<string, string> { ["format"] = "pt" });
        var config = new Dictionary<string, object?>
        {
            ["peft_type"] = "LORA", ["task_type"] = "CAUSAL_LM", ["base_model_name_or_path"] = "Qwen/Qwen3-tiny-test", ["r"] = rank,
            ["lora_alpha"] = alpha, ["use_rslora"] = rslora, ["lora_dropout"] = 0.05, ["bias"] = "none", ["fan_in_fan_out"] = false,
            ["target_modules"] = names.Select(n => n.Split('.')[1]).ToArray(),
        };
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), JsonSerializer.Serialize(config));
        return new Lora(dir, rank, alpha, rslora, result);
    }

    public static string WriteModelConfig(string path, HfModelConfig? model = null)
    {
        (model ?? Model).Save(path);
        return path;
    }

    /// <summary>(scale · B·A)[row, col] computed here in double, independently of the importer's GEMM.</summary>
    public static double Delta(Lora l, string module, int row, int col)
    {
        var (a, b, _, cols) = l.Modules[module];
        double s = 0;
        for (int p = 0; p < l.Rank; p++) s += (double)b[row * l.Rank + p] * a[p * cols + col];
        double scale = l.RsLora ? l.Alpha / Math.Sqrt(l.Rank) : l.Alpha / l.Rank;
        return scale * s;
    }

    public static float[] Random(Random rng, int n, float amp)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * amp);
        return v;
    }
}
