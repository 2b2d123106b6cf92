using Hyprstream.Runtime;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>Importing PEFT LoRA and SHiRA adapters: ΔW = scale·B·A, retained energy, shape checks, bad configs.</summary>
public class PeftImportTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void LoraImport_AtFullDensity_StoresScaleTimesBA_AtSampledCoordinates(bool rslora)
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), rank: 4, alpha: 8, rslora: rslora);
        var result = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 1.0, BaseConfigPath = PeftFixtures.WriteModelConfig(dir.File("config.json")) });
        using var a = result.Adapter;
        Assert.That(a.Modules, Has.Count.EqualTo(14));
        Assert.That(a.BaseModel, Is.EqualTo("Qwen/Qwen3-tiny-test"));
        Assert.That(result.RetainedEnergy, Is.EqualTo(1.0).Within(1e-12));
        Assert.That(result.Modules.All(m => m.ShapeChecked && Math.Abs(m.RetainedEnergy - 1) < 1e-12));
        double expectedScale = rslora ? 8 / Math.Sqrt(4) : 8.0 / 4;
        var rng = new Random(9);
        foreach (var (module, (_, _, rows, cols)) in lora.Modules)
        {
            var m = a.Modules[module];
            Assert.That((m.Rows, m.Cols), Is.EqualTo((rows, cols)));
            Assert.That(m.Scale, Is.EqualTo((float)expectedScale));
            for (int s = 0; s < 25; s++)
            {
                int r = rng.Next(rows), c = rng.Next(cols);
                double expected = PeftFixtures.Delta(lora, module, r, c);
                Assert.That(m[r, c] * m.Scale, Is.EqualTo(expected).Within(1e-5 + 1e-5 * Math.Abs(expected)), $"{module}[{r},{c}]");
            }
        }
    }

    [Test]
    public void LoraImport_Unstructured_KeepsTheLargestWeights_AndReportsTheirEnergy()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), modules: ["self_attn.q_proj"]);
        var result = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 0.1, Structure = SparsityStructure.Unstructured });
        using var a = result.Adapter;
        var module = "model.layers.1.self_attn.q_proj";
        var (_, _, rows, cols) = lora.Modules[module];
        var all = new List<double>();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) all.Add(PeftFixtures.Delta(lora, module, r, c));
        int k = (int)Math.Round(0.1 * rows * cols);
        var sq = all.Select(v => v * v).OrderDescending().ToList();
        double expectedEnergy = Math.Sqrt(sq.Take(k).Sum() / sq.Sum());
        var info = result.Modules.Single(m => m.Module == module);
        Assert.That(info.Kept, Is.EqualTo(k));
        Assert.That(info.RetainedEnergy, Is.EqualTo(expectedEnergy).Within(1e-4));
        double threshold = Math.Sqrt(sq[k - 1]);
        foreach (var w in a.Modules[module].EnumerateActive())
            Assert.That(Math.Abs(w.Value * a.Modules[module].Scale), Is.GreaterThanOrEqualTo(threshold * (1 - 1e-4)));
    }

    [Test]
    public void LoraImport_TileStructure_KeepsWholeTiles()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), modules: ["mlp.down_proj"]);
        var result = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 0.25 });
        using var a = result.Adapter;
        var m = a.Modules["model.layers.0.mlp.down_proj"];   // 128 x 320: 16 x 5 tiles
        Assert.That(m.ActiveCount % 512, Is.EqualTo(0));
        Assert.That(m.ActiveCount, Is.EqualTo(20 * 512));
        Assert.That(result.RetainedEnergy, Is.GreaterThan(0.25).And.LessThan(1));
    }

    [Test]
    public void RankAndAlphaPatterns_OverrideScalePerModule()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), rank: 4, alpha: 8, modules: ["self_attn.q_proj", "self_attn.v_proj"],
            editConfig: c => c["alpha_pattern"] = new Dictionary<string, double> { ["v_proj"] = 2 });
        using var a = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 1 }).Adapter;
        Assert.That(a.Modules["model.layers.0.self_attn.q_proj"].Scale, Is.EqualTo(2f));
        Assert.That(a.Modules["model.layers.0.self_attn.v_proj"].Scale, Is.EqualTo(0.5f));
    }

    [Test]
    public void BaseConfig_WithOtherShapes_IsRefused_NamingTheModule()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"));
        var other = PeftFixtures.WriteModelConfig(dir.File("config.json"), PeftFixtures.Model with { KvHeads = 4 });
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(lora.Dir, new PeftImportOptions { BaseConfigPath = other }));
        Assert.That(e!.Message, Does.Contain("k_proj").And.Contain("64x128").And.Contain("128x128"));
        var fewer = PeftFixtures.WriteModelConfig(dir.File("config1.json"), PeftFixtures.Model with { Layers = 1 });
        Assert.That(Assert.Throws<InvalidDataException>(() => PeftImport.Import(lora.Dir, new PeftImportOptions { BaseConfigPath = fewer }))!.Message,
            Does.Contain("layer 1").And.Contain("1 layers"));
    }

    [TestCase("{\"peft_type\": \"LORA\", \"lora_alpha\": 8}", "no r")]
    [TestCase("{\"peft_type\": \"LORA\", \"r\": 0, \"lora_alpha\": 8}", "r must be positive")]
    [TestCase("{\"peft_type\": \"LORA\", \"r\": \"four\", \"lora_alpha\": 8}", "r is not an integer")]
    [TestCase("{\"r\": 4, \"lora_alpha\": 8}", "no peft_type")]
    [TestCase("{\"peft_type\": \"LORA\", \"r\": 4", "not valid JSON")]
    [TestCase("{\"peft_type\": \"LORA\", \"r\": 8, \"lora_alpha\": 8}", "r = 8")]
    public void BadAdapterConfigs_FailWithClearMessages(string json, string message)
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), rank: 4);
        File.WriteAllText(Path.Combine(lora.Dir, "adapter_config.json"), json);
        var e = Assert.Catch<Exception>(() => PeftImport.Import(lora.Dir));
        Assert.That(e!.Message, Does.Contain(message));
    }

    [Test]
    public void UnsupportedPeftTypes_AndDora_AreRefused()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), editConfig: c => c["use_dora"] = true);
        Assert.That(Assert.Throws<NotSupportedException>(() => PeftImport.Import(lora.Dir))!.Message, Does.Contain("DoRA"));
        var ia3 = PeftFixtures.WriteLora(dir.File("ia3"), editConfig: c => c["peft_type"] = "IA3");
        Assert.That(Assert.Throws<NotSupportedException>(() => PeftImport.Import(ia3.Dir))!.Message, Does.Contain("IA3"));
    }

    [Test]
    public void MissingLoraB_IsRefused()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("lora"));
        SafetensorsWriter.WriteAll(Path.Combine(dir.File("lora"), "adapter_model.safetensors"),
            [("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [4, 128], new float[512])]);
        File.WriteAllText(Path.Combine(dir.File("lora"), "adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8}");
        Assert.That(Assert.Throws<InvalidDataException>(() => PeftImport.Import(dir.File("lora")))!.Message, Does.Contain("no matching lora_B"));
    }

    [Test]
    public void Shira_ExportThenImport_IsLossless_AndHasPeftShapes()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"));
        using var a = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 0.05, Structure = SparsityStructure.Unstructured }).Adapter;
        var res = ShiraExport.Write(a, dir.File("shira"));
        using (var f = SafetensorsFile.Open(Path.Combine(dir.File("shira"), "adapter_model.safetensors")))
        {
            var w = f["base_model.model.model.layers.0.self_attn.k_proj.shira_weight"];
            var i = f["base_model.model.model.layers.0.self_attn.k_proj.shira_indices"];
            Assert.That(w.Shape, Is.EqualTo(new long[] { res.R * (64 + 128) }));
            Assert.That(i.Shape, Is.EqualTo(new long[] { 2, res.R * (64 + 128) }));
            Assert.That(i.DType, Is.EqualTo(TensorDType.I32));   // as PEFT saves them (torch.int)
            Assert.That(f.Metadata["format"], Is.EqualTo("pt"));
        }
        var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("shira"), "adapter_config.json"))).RootElement;
        Assert.That(config.GetProperty("task_type").GetString(), Is.EqualTo("CAUSAL_LM"));
        var back = PeftImport.Import(dir.File("shira"), new PeftImportOptions { BaseConfigPath = PeftFixtures.WriteModelConfig(dir.File("config.json")) });
        using var b = back.Adapter;
        Assert.That(back.Config.PeftType, Is.EqualTo("SHIRA"));
        foreach (var m in a.Modules)
        {
            var expected = m.ToDense(applyScale: true);
            var actual = b.Modules[m.Name].ToDense(applyScale: true);
            Assert.That(actual, Is.EqualTo(expected), m.Name);
        }
    }

    [Test]
    public void ShiraImport_WithoutBaseConfig_OrWithOutOfRangeIndices_IsRefused()
    {
        using var dir = new TempDir();
        var d = dir.File("shira");
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "adapter_config.json"), "{\"peft_type\": \"SHIRA\", \"r\": 1}");
        using (var w = new SafetensorsWriter(Path.Combine(d, "adapter_model.safetensors")))
        {
            w.Declare("base_model.model.model.layers.0.self_attn.q_proj.shira_weight", TensorDType.F32, 2);
            w.Declare("base_model.model.model.layers.0.self_attn.q_proj.shira_indices", TensorDType.I64, 2, 2);
            w.WriteFloats([1f, 2f]);
            w.WriteLongs([0, 500, 0, 1]);   // rows 0 and 500 (q_proj has 128)
            w.Commit();
        }
        Assert.That(Assert.Throws<ArgumentException>(() => PeftImport.Import(d))!.Message, Does.Contain("--base-config").And.Contain("--base "));
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(d, new PeftImportOptions { BaseConfigPath = PeftFixtures.WriteModelConfig(dir.File("c.json")) }));
        Assert.That(e!.Message, Does.Contain("(500, 1)"));
    }

    [Test]
    public void ShiraExport_KeepsTheSourceTaskType()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"), modules: ["self_attn.q_proj"], editConfig: c => c["task_type"] = "SEQ_2_SEQ_LM");
        using var a = PeftImport.Import(lora.Dir, new PeftImportOptions { Density = 0.05 }).Adapter;
        Assert.That(a.Provenance["task_type"], Is.EqualTo("SEQ_2_SEQ_LM"));
        a.Save(dir.File("a.vdb"));
        using var loaded = SparseAdapter.Load(dir.File("a.vdb"));
        ShiraExport.Write(loaded, dir.File("shira"));
        var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("shira"), "adapter_config.json"))).RootElement;
        Assert.That(config.GetProperty("task_type").GetString(), Is.EqualTo("SEQ_2_SEQ_LM"));
    }
}
