using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>
/// Mixture-of-experts and non-Qwen module names (case 4 of issue 19): expert shapes from moe_intermediate_size, LoRA on
/// experts checked against the config, target_parameters per expert from the base weights, and SHiRA shapes for any
/// module from --base.
/// </summary>
public class PeftMoeTests
{
    /// <summary>hidden 64, dense MLP 256, 4 experts of width 96: the widths differ, so a wrong one shows.</summary>
    private static readonly HfModelConfig Moe = new("qwen3_moe", 64, 256, 2, 4, 2, 16) { MoeIntermediateSize = 96, NumExperts = 4 };

    [Test]
    public void ConfigShapes_UseMoeIntermediateSize_ForExperts_AndIntermediateSize_ForDenseMlps()
    {
        using var dir = new TempDir();
        var loaded = HfModelConfig.Load(PeftFixtures.WriteModelConfig(dir.File("config.json"), Moe));
        Assert.That(loaded.ShapeOf("model.layers.1.mlp.experts.3.gate_proj"), Is.EqualTo((96, 64)));
        Assert.That(loaded.ShapeOf("model.layers.1.mlp.experts.3.down_proj"), Is.EqualTo((64, 96)));
        Assert.That(loaded.ShapeOf("model.layers.0.mlp.gate_proj"), Is.EqualTo((256, 64)));
        Assert.That(loaded.ShapeOf("model.layers.0.mlp.gate"), Is.EqualTo((4, 64)));          // the router
        Assert.That(loaded.ShapeOf("model.layers.0.self_attn.qkv_proj"), Is.Null);
        Assert.That(Assert.Throws<InvalidDataException>(() => loaded.ShapeOf("model.layers.0.mlp.experts.4.up_proj"))!.Message,
            Does.Contain("expert 4").And.Contain("4 experts"));
    }

    [Test]
    public void ShiraOnExperts_GetsTheExpertWidth_AndAnIndexPastItIsRefused()
    {
        using var dir = new TempDir();
        var config = PeftFixtures.WriteModelConfig(dir.File("config.json"), Moe);
        const string module = "model.layers.1.mlp.experts.2.gate_proj";
        float[] values = [0.5f, -1.25f, 2f];
        var path = Shira(dir, "ok", module, values, [0, 95, 40, 3, 63, 0]);
        var result = PeftImport.Import(path, new PeftImportOptions { BaseConfigPath = config });
        using (var a = result.Adapter)
        {
            var m = a.Modules[module];
            Assert.That((m.Rows, m.Cols), Is.EqualTo((96, 64)));
            var reference = new double[96 * 64];
            reference[0 * 64 + 3] = 0.5; reference[95 * 64 + 63] = -1.25; reference[40 * 64 + 0] = 2;
            PeftFiles.AssertExact(m, reference);
        }
        var bad = Shira(dir, "bad", module, values, [0, 100, 40, 3, 63, 0]);   // row 100: inside intermediate_size, outside the expert
        Assert.That(Assert.Throws<InvalidDataException>(() => PeftImport.Import(bad, new PeftImportOptions { BaseConfigPath = config }))!.Message,
            Does.Contain("(100, 63)").And.Contain("96x64"));
    }

    [Test]
    public void LoraOnExperts_WithBaseConfig_IsShapeChecked_AndExact()
    {
        using var dir = new TempDir();
        var config = PeftFixtures.WriteModelConfig(dir.File("config.json"), Moe);
        var rng = new Random(41);
        var tensors = new List<PeftFiles.T>();
        var factors = new Dictionary<string, (float[] A, float[] B, int Rows, int Cols)>();
        foreach (var (m, rows, cols) in new[] { ("model.layers.0.mlp.experts.0.gate_proj", 96, 64), ("model.layers.0.mlp.experts.3.down_proj", 64, 96) })
        {
            var a = PeftFiles.Random(rng, 2 * cols);
            var b = PeftFiles.Random(rng, rows * 2);
            factors[m] = (a, b, rows, cols);
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_A.weight", [2, cols], a));
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_B.weight", [rows, 2], b));
        }
        var path = PeftFiles.Adapter(dir.File("lora"), PeftFiles.LoraConfig(2, 4, "gate_proj", "down_proj"), tensors);
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, BaseConfigPath = config });
        using var adapter = result.Adapter;
        Assert.That(result.Modules.All(m => m.ShapeChecked));
        foreach (var (m, (a, b, rows, cols)) in factors) PeftFiles.AssertExact(adapter.Modules[m], PeftFiles.LoraDelta(b, a, rows, 2, cols, 2.0));

        var beyond = PeftFiles.Adapter(dir.File("beyond"), PeftFiles.LoraConfig(2, 4, "gate_proj"), [
            PeftFiles.F32("base_model.model.model.layers.0.mlp.experts.7.gate_proj.lora_A.weight", [2, 64], new float[128]),
            PeftFiles.F32("base_model.model.model.layers.0.mlp.experts.7.gate_proj.lora_B.weight", [96, 2], new float[192])]);
        Assert.That(Assert.Throws<InvalidDataException>(() => PeftImport.Import(beyond, new PeftImportOptions { BaseConfigPath = config }))!.Message,
            Does.Contain("expert 7").And.Contain("4 experts"));
    }

    /// <summary>
    /// target_parameters on two parameters of one experts module (PEFT nests the wrappers: "experts.lora_A" and
    /// "experts.base_layer.lora_A"): gate_up_proj [E=3, 8, 12] and down_proj [3, 6, 8], stored untransposed, so each
    /// wrapper's A reads the last dimension. The reference is PEFT's einsum("o r e, e r i -> e o i") written out here.
    /// </summary>
    [Test]
    public void TargetParameters_WithBase_ArePerExpertExact_AndWithoutBaseRefusedForTheRealReason()
    {
        using var dir = new TempDir();
        const int E = 3, r = 2;
        const string experts = "model.layers.0.mlp.experts";
        var rng = new Random(51);
        var shapes = new Dictionary<string, (int D1, int D2)> { ["gate_up_proj"] = (8, 12), ["down_proj"] = (6, 8) };
        PeftFiles.Write(dir.File("base.safetensors"), shapes.Select(p =>
            PeftFiles.F32($"{experts}.{p.Key}", [E, p.Value.D1, p.Value.D2], PeftFiles.Random(rng, E * p.Value.D1 * p.Value.D2))));
        var factors = new Dictionary<string, (float[] A, float[] B)>();
        var tensors = new List<PeftFiles.T>();
        foreach (var (param, wrapper) in new[] { ("gate_up_proj", experts + ".base_layer"), ("down_proj", experts) })
        {
            var (d1, d2) = shapes[param];
            var a = PeftFiles.Random(rng, r * E * d2);
            var b = PeftFiles.Random(rng, d1 * r * E);
            factors[param] = (a, b);
            tensors.Add(PeftFiles.F32($"base_model.model.{wrapper}.lora_A.weight", [r * E, d2], a));
            tensors.Add(PeftFiles.F32($"base_model.model.{wrapper}.lora_B.weight", [d1, r * E], b));
        }
        var config = PeftFiles.LoraConfig(r, 8);
        config["target_modules"] = null;
        config["target_parameters"] = new[] { "mlp.experts.gate_up_proj", "mlp.experts.down_proj" };
        config["alpha_pattern"] = new Dictionary<string, double> { ["experts.down_proj"] = 2 };
        var path = PeftFiles.Adapter(dir.File("params"), config, tensors);

        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1 }));
        Assert.That(e!.Message, Does.Contain("target_parameters").And.Contain("--base").And.Not.Contain("rank"));

        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = dir.File("base.safetensors") });
        using var adapter = result.Adapter;
        foreach (var (param, (d1, d2)) in shapes)
        {
            var (a, b) = factors[param];
            double s = param == "down_proj" ? 2.0 / r : 8.0 / r;
            // A [E, r, d2] = A.reshape(E, r, d2); B [d1, r, E] = B.reshape(d1, r, E); ΔW[e, o, i] = s Σ_k B[o, k, e] A[e, k, i].
            var reference = new double[E * d1 * d2];
            for (int x = 0; x < E; x++)
                for (int o = 0; o < d1; o++)
                    for (int i = 0; i < d2; i++)
                    {
                        double acc = 0;
                        for (int k = 0; k < r; k++) acc += (double)b[(o * r + k) * E + x] * a[(x * r + k) * d2 + i];
                        reference[(x * d1 + o) * d2 + i] = s * acc;
                    }
            var module = adapter.Modules[$"{experts}.{param}"];
            Assert.That((module.Rows, module.Cols), Is.EqualTo((E * d1, d2)));
            PeftFiles.AssertExact(module, reference);
        }
        Assert.That(result.Modules.All(m => m.Kind == "expert_lora"));
    }

    [Test]
    public void TargetParameters_WhoseLayoutTheBaseCannotDecide_AreRefused_SayingSo()
    {
        using var dir = new TempDir();
        const int E = 2, r = 2, D = 8;   // square experts: transposed and untransposed both fit
        const string experts = "model.layers.0.mlp.experts";
        PeftFiles.Write(dir.File("base.safetensors"), [PeftFiles.F32($"{experts}.down_proj", [E, D, D], new float[E * D * D])]);
        var config = PeftFiles.LoraConfig(r, 8);
        config["target_parameters"] = new[] { "experts.down_proj" };
        var path = PeftFiles.Adapter(dir.File("square"), config, [
            PeftFiles.F32($"base_model.model.{experts}.lora_A.weight", [r * E, D], new float[r * E * D]),
            PeftFiles.F32($"base_model.model.{experts}.lora_B.weight", [D, r * E], new float[r * E * D])]);
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = dir.File("base.safetensors") }));
        Assert.That(e!.Message, Does.Contain("cannot be decided").And.Contain("transposed"));
    }

    [TestCase("model.decoder.layers.0.fc1", 48, 16)]          // OPT
    [TestCase("transformer.h.0.mlp.c_fc", 64, 16)]            // GPT-2 style names (a Linear here)
    [TestCase("model.layers.0.self_attn.qkv_proj", 48, 16)]   // Phi-3 fused
    [TestCase("lm_head", 100, 16)]
    public void ShiraOnAnyModuleName_TakesItsShapeFromBase_OrIsRefusedNamingIt(string module, int rows, int cols)
    {
        using var dir = new TempDir();
        PeftFiles.Write(dir.File("base.safetensors"), [PeftFiles.F32(module + ".weight", [rows, cols], new float[rows * cols])]);
        var path = Shira(dir, "shira", module, [1.5f, -2f], [rows - 1, 0, cols - 1, 1]);
        using (var a = PeftImport.Import(path, new PeftImportOptions { BasePath = dir.File("base.safetensors") }).Adapter)
        {
            var reference = new double[rows * cols];
            reference[(rows - 1) * cols + cols - 1] = 1.5;
            reference[1] = -2;
            PeftFiles.AssertExact(a.Modules[module], reference);
        }
        var config = PeftFixtures.WriteModelConfig(dir.File("config.json"), Moe);
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(path, new PeftImportOptions { BaseConfigPath = config }));
        Assert.That(e!.Message, Does.Contain($"'{module}'").And.Contain("no shape"));
    }

    /// <summary>A SHiRA adapter with one module: values at indices [rows..., cols...] (I32, as PEFT saves them).</summary>
    private static string Shira(TempDir dir, string name, string module, float[] values, int[] indices) =>
        PeftFiles.Adapter(dir.File(name), new Dictionary<string, object?> { ["peft_type"] = "SHIRA", ["r"] = 1, ["task_type"] = "CAUSAL_LM" }, [
            PeftFiles.F32($"base_model.model.{module}.shira_weight", [values.Length], values),
            new PeftFiles.T($"base_model.model.{module}.shira_indices", TensorDType.I32, [2, values.Length], indices)]);
}
