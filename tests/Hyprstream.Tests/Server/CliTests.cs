using System.Text.Json;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>Every command end to end through the real entry point (Program.Main), on PEFT fixtures built here.</summary>
public class CliTests
{
    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement;

    /// <summary>A base model whose linear weights match the fixture's modules, plus a norm the adapter never touches.</summary>
    private static Dictionary<string, float[]> WriteBase(string path, TensorDType dtype, int seed = 11)
    {
        var rng = new Random(seed);
        var tensors = new List<(string, long[], float[])>();
        var values = new Dictionary<string, float[]>();
        foreach (var s in PeftFixtures.Model.LinearShapes())
        {
            var v = PeftFixtures.Random(rng, s.Rows * s.Cols, 1f);
            tensors.Add((s.Name + ".weight", [s.Rows, s.Cols], v));
            values[s.Name + ".weight"] = v;
        }
        var norm = Enumerable.Repeat(1f, 128).ToArray();
        tensors.Add(("model.norm.weight", [128], norm));
        values["model.norm.weight"] = norm;
        SafetensorsWriter.WriteAll(path, tensors, dtype, new Dictionary<string, string> { ["format"] = "pt" });
        return values;
    }

    private static string Import(TempDir dir, string density = "0.1", string structure = "tile")
    {
        var lora = PeftFixtures.WriteLora(dir.File("lora"));
        Cli.Ok("import-peft", lora.Dir, "-o", dir.File("a.vdb"), "--density", density, "--structure", structure);
        return dir.File("a.vdb");
    }

    [Test]
    public void ImportPeft_PrintsPerModuleAndTotalEnergy_AndWritesTheVdb()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"));
        var cfg = PeftFixtures.WriteModelConfig(dir.File("config.json"));
        var text = Cli.Ok("import-peft", lora.Dir, "-o", dir.File("a.vdb"), "--density", "1", "--base-config", cfg);
        Assert.That(text, Does.Contain("model.layers.1.mlp.down_proj").And.Contain("total retained energy 1.0000"));
        var json = Json(Cli.Ok("import-peft", lora.Dir, "-o", dir.File("b.vdb"), "--density", "0.05", "--json", "--name", "tutor"));
        Assert.That(json.GetProperty("modules").GetArrayLength(), Is.EqualTo(14));
        double energy = json.GetProperty("retained_energy").GetDouble();
        Assert.That(energy, Is.GreaterThan(0.05).And.LessThan(1));
        var info = AdapterFile.ReadInfo(dir.File("b.vdb"));
        Assert.That(info.Adapters.Single().Name, Is.EqualTo("tutor"));
        Assert.That(info.Adapters.Single().Provenance["retained_energy"], Is.EqualTo(energy.ToString("R")));
        Assert.That(json.GetProperty("active_weights").GetInt64(), Is.EqualTo(info.Adapters.Single().ActiveCount));
    }

    [Test]
    public void ImportPeft_CorruptSafetensors_ExitsNonZero_WithOneLine()
    {
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("lora"));
        var weights = Path.Combine(lora.Dir, "adapter_model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        Assert.That(Cli.Fails("import-peft", lora.Dir, "-o", dir.File("a.vdb")), Does.Contain("truncated"));
        Assert.That(File.Exists(dir.File("a.vdb")), Is.False);
        File.WriteAllText(Path.Combine(lora.Dir, "adapter_config.json"), "{oops");
        Assert.That(Cli.Fails("import-peft", lora.Dir, "-o", dir.File("a.vdb")), Does.Contain("not valid JSON"));
        Assert.That(Cli.Fails("import-peft", dir.File("missing"), "-o", dir.File("a.vdb")), Does.Contain("no adapter directory"));
        Assert.That(Cli.Fails("import-peft", lora.Dir, "-o", dir.File("a.vdb"), "--density", "0"), Does.Contain("density"));
        Assert.That(Cli.Fails("import-peft", lora.Dir, "-o", dir.File("a.vdb"), "--structure", "blocky"), Does.Contain("--structure"));
    }

    [Test]
    public void Info_ShowsTheModuleTable_BytesAndMappingVersion()
    {
        using var dir = new TempDir();
        var vdb = Import(dir);
        var text = Cli.Ok("info", vdb);
        Assert.That(text, Does.Contain("mapping hs.tile8x64 v1").And.Contain("bytes on disk").And.Contain("bytes in memory"));
        Assert.That(text, Does.Contain("model.layers.0.self_attn.q_proj").And.Contain("128x128"));
        var json = Json(Cli.Ok("info", vdb, "--json"));
        var a = json.GetProperty("Adapters")[0];
        Assert.That(a.GetProperty("MappingVersion").GetInt32(), Is.EqualTo(1));
        Assert.That(a.GetProperty("Modules").GetArrayLength(), Is.EqualTo(14));
        Assert.That(json.GetProperty("SizeBytes").GetInt64(), Is.EqualTo(new FileInfo(vdb).Length));
        Assert.That(Cli.Fails("info", dir.File("nope.vdb")), Does.Contain("nope.vdb"));
    }

    [Test]
    public void Merge_FusesWithWeights()
    {
        using var dir = new TempDir();
        var vdb = Import(dir);
        Cli.Ok("merge", vdb, vdb, "--weights", "1,0.5", "-o", dir.File("m.vdb"));
        using var a = SparseAdapter.Load(vdb);
        using var m = SparseAdapter.Load(dir.File("m.vdb"));
        foreach (var w in a.EnumerateActive().Take(200))
            Assert.That(m.Modules[w.Module][w.Row, w.Col] * m.Modules[w.Module].Scale,
                Is.EqualTo(1.5f * w.Value * a.Modules[w.Module].Scale).Within(1e-6 + 1e-5 * Math.Abs(w.Value)));
        Assert.That(Cli.Fails("merge", vdb, vdb, "--weights", "1", "-o", dir.File("x.vdb")), Does.Contain("2 adapters but 1 weights"));
        Assert.That(Cli.Fails("merge", vdb, "--weights", "nan", "-o", dir.File("x.vdb")), Does.Contain("not a finite number"));
    }

    [Test]
    public void Prune_ByToleranceAndByDensity()
    {
        using var dir = new TempDir();
        var vdb = Import(dir, density: "1");
        using var a = SparseAdapter.Load(vdb);
        float tol = 0.05f;
        long expected = a.EnumerateActive().Count(w => Math.Abs(w.Value) > tol);
        var j = Json(Cli.Ok("prune", vdb, "--tolerance", "0.05", "-o", dir.File("p.vdb"), "--json"));
        Assert.That(j.GetProperty("after").GetInt64(), Is.EqualTo(expected));
        using (var p = SparseAdapter.Load(dir.File("p.vdb"))) Assert.That(p.ActiveCount, Is.EqualTo(expected));
        var d = Json(Cli.Ok("prune", vdb, "--density", "0.1", "--structure", "unstructured", "-o", dir.File("d.vdb"), "--json"));
        Assert.That(d.GetProperty("after").GetInt64(), Is.EqualTo(a.Modules.Sum(m => (long)Math.Round(0.1 * m.TotalWeights))));
        Assert.That(d.GetProperty("retained_energy").GetDouble(), Is.GreaterThan(0.1).And.LessThan(1));
        Assert.That(Cli.Fails("prune", vdb, "-o", dir.File("x.vdb")), Does.Contain("exactly one of"));
    }

    [TestCase(TensorDType.F32)]
    [TestCase(TensorDType.F16)]
    [TestCase(TensorDType.BF16)]
    public void Apply_AddsDeltaInTheBaseDtype_AndRevertGivesTheBaseBackWithinRounding(TensorDType dtype)
    {
        using var dir = new TempDir();
        var vdb = Import(dir, density: "0.2");
        var basePath = dir.File("model.safetensors");
        WriteBase(basePath, dtype);
        Cli.Ok("apply", "--base", basePath, vdb, "-o", dir.File("merged.safetensors"), "--scale", "0.5");
        Cli.Ok("apply", "--base", dir.File("merged.safetensors"), vdb, "-o", dir.File("reverted.safetensors"), "--scale", "0.5", "--revert");
        using var a = SparseAdapter.Load(vdb);
        using var b = SafetensorsFile.Open(basePath);
        using var m = SafetensorsFile.Open(dir.File("merged.safetensors"));
        using var r = SafetensorsFile.Open(dir.File("reverted.safetensors"));
        Assert.That(m.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(m.Bytes(m["model.norm.weight"]).SequenceEqual(b.Bytes(b["model.norm.weight"])), "untouched tensors are copied byte for byte");
        double step = dtype switch { TensorDType.F32 => 1e-6, TensorDType.F16 => 1.0 / 1024, _ => 1.0 / 128 };
        foreach (var mod in a.Modules)
        {
            var name = mod.Name + ".weight";
            Assert.That(m[name].DType, Is.EqualTo(dtype));
            var w0 = b.ReadFloats(name);
            var w1 = m.ReadFloats(name);
            var w2 = r.ReadFloats(name);
            var delta = mod.ToDense(applyScale: true);
            for (int i = 0; i < w0.Length; i++)
            {
                double expected = w0[i] + 0.5 * delta[i];
                Assert.That(w1[i], Is.EqualTo(expected).Within(step * (1 + Math.Abs(expected))), $"{name}[{i}] merged");
                Assert.That(w2[i], Is.EqualTo(w0[i]).Within(2 * step * (1 + Math.Abs(w0[i]) + Math.Abs(delta[i]))), $"{name}[{i}] reverted");
                if (delta[i] == 0) Assert.That(w1[i], Is.EqualTo(w0[i]), "weights outside the adapter are untouched");
            }
        }
    }

    [Test]
    public void Apply_ShardedBase_WritesShardsAndIndex()
    {
        using var dir = new TempDir();
        var vdb = Import(dir);
        var values = WriteBase(dir.File("all.safetensors"), TensorDType.BF16);
        Directory.CreateDirectory(dir.File("base"));
        var names = values.Keys.Order(StringComparer.Ordinal).ToList();
        var half = names.Count / 2;
        SafetensorsWriter.WriteAll(Path.Combine(dir.File("base"), "model-00001-of-00002.safetensors"), names.Take(half).Select(n => (n, Shape(n), values[n])), TensorDType.BF16);
        SafetensorsWriter.WriteAll(Path.Combine(dir.File("base"), "model-00002-of-00002.safetensors"), names.Skip(half).Select(n => (n, Shape(n), values[n])), TensorDType.BF16);
        var index = Path.Combine(dir.File("base"), "model.safetensors.index.json");
        File.WriteAllText(index, JsonSerializer.Serialize(new { metadata = new { total_size = 0 },
            weight_map = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") }));
        Directory.CreateDirectory(dir.File("out"));
        var outIndex = Path.Combine(dir.File("out"), "model.safetensors.index.json");
        var j = Json(Cli.Ok("apply", "--base", index, vdb, "-o", outIndex, "--json"));
        Assert.That(j.GetProperty("files").GetArrayLength(), Is.EqualTo(3));
        using (var merged = Hyprstream.Runtime.Safetensors.SafetensorsModel.Open(outIndex))
        using (var a = SparseAdapter.Load(vdb))
        {
            var mod = a.Modules["model.layers.1.mlp.up_proj"];
            var w = mod.EnumerateActive().First();
            var (f, e) = merged.Find("model.layers.1.mlp.up_proj.weight");
            float before = FloatBits.FromBf16(FloatBits.ToBf16(values[e.Name][w.Row * mod.Cols + w.Col]));
            Assert.That(f.ReadFloats(e)[w.Row * mod.Cols + w.Col], Is.EqualTo(FloatBits.FromBf16(FloatBits.ToBf16(before + w.Value * mod.Scale))));
        }
        Assert.That(Cli.Fails("apply", "--base", index, vdb, "-o", dir.File("one.safetensors")), Does.Contain("index .json"));
        Assert.That(Cli.Fails("apply", "--base", index, vdb, "-o", index), Does.Contain("overwrite the base"));

        static long[] Shape(string n) => n == "model.norm.weight" ? [128] :
            PeftFixtures.Model.ShapeOf(n[..^".weight".Length]) is var (r, c) ? [r, c] : throw new InvalidOperationException();
    }

    [Test]
    public void Apply_BaseWithoutTheModule_OrOtherShape_FailsAndWritesNothing()
    {
        using var dir = new TempDir();
        var vdb = Import(dir);
        SafetensorsWriter.WriteAll(dir.File("small.safetensors"), [("model.layers.0.self_attn.q_proj.weight", [128, 128], new float[128 * 128])]);
        Assert.That(Cli.Fails("apply", "--base", dir.File("small.safetensors"), vdb, "-o", dir.File("o.safetensors")), Does.Contain("has no tensor"));
        SafetensorsWriter.WriteAll(dir.File("wrong.safetensors"), PeftFixtures.Model.LinearShapes().Select(s => (s.Name + ".weight", new long[] { s.Cols, s.Rows }, new float[s.Rows * s.Cols])));
        Assert.That(Cli.Fails("apply", "--base", dir.File("wrong.safetensors"), vdb, "-o", dir.File("o.safetensors")), Does.Contain("64x128").Or.Contain("128x320"));
        Assert.That(File.Exists(dir.File("o.safetensors")), Is.False);
    }

    [Test]
    public void Export_Coo_AndDense_HoldTheEffectiveDelta()
    {
        using var dir = new TempDir();
        var vdb = Import(dir, density: "0.1", structure: "unstructured");
        Cli.Ok("export", vdb, "-o", dir.File("coo.safetensors"));
        Cli.Ok("export", vdb, "-o", dir.File("dense.safetensors"), "--dense");
        using var a = SparseAdapter.Load(vdb);
        using var coo = SafetensorsFile.Open(dir.File("coo.safetensors"));
        using var dense = SafetensorsFile.Open(dir.File("dense.safetensors"));
        foreach (var m in a.Modules)
        {
            var expected = m.ToDense(applyScale: true);
            var idx = coo.ReadIntegers(coo[m.Name + ".indices"]);
            var vals = coo.ReadFloats(m.Name + ".values");
            Assert.That(coo[m.Name + ".indices"].Shape, Is.EqualTo(new long[] { m.ActiveCount, 2 }));
            Assert.That(coo[m.Name + ".indices"].DType, Is.EqualTo(TensorDType.I32));
            var rebuilt = new float[expected.Length];
            for (int i = 0; i < vals.Length; i++) rebuilt[idx[2 * i] * m.Cols + idx[2 * i + 1]] = vals[i];
            Assert.That(rebuilt, Is.EqualTo(expected), m.Name);
            Assert.That(dense.ReadFloats(m.Name + ".weight"), Is.EqualTo(expected), m.Name);
        }
        Assert.That(coo.Metadata["adapter"], Is.EqualTo(a.Name));
    }

    [Test]
    public void ExportShira_ThenImportPeft_RoundTripsThroughTheCli()
    {
        using var dir = new TempDir();
        var vdb = Import(dir, density: "0.05", structure: "unstructured");
        var j = Json(Cli.Ok("export", vdb, "--format", "shira", "-o", dir.File("shira"), "--json"));
        Assert.That(j.GetProperty("r").GetInt32(), Is.GreaterThan(0));
        var cfg = PeftFixtures.WriteModelConfig(dir.File("config.json"));
        Cli.Ok("import-peft", dir.File("shira"), "-o", dir.File("back.vdb"), "--base-config", cfg);
        using var a = SparseAdapter.Load(vdb);
        using var b = SparseAdapter.Load(dir.File("back.vdb"));
        foreach (var m in a.Modules) Assert.That(b.Modules[m.Name].ToDense(true), Is.EqualTo(m.ToDense(true)), m.Name);
        Assert.That(Cli.Fails("import-peft", dir.File("shira"), "-o", dir.File("x.vdb")), Does.Contain("--base-config"));
    }

    [Test]
    public void ImportPeft_ModulesToSave_IsRefusedByName_DroppedWithANote_OrKeptAgainstBase_AndApplied()
    {
        using var dir = new TempDir();
        var values = WriteBase(dir.File("base.safetensors"), TensorDType.F32);
        var lora = PeftFixtures.WriteLora(dir.File("lora"), editConfig: c => c["modules_to_save"] = new[] { "norm" });
        var weights = Path.Combine(lora.Dir, "adapter_model.safetensors");
        var norm = PeftFixtures.Random(new Random(77), 128, 1f);
        List<PeftFiles.T> tensors;
        using (var f = SafetensorsFile.Open(weights)) tensors = f.Tensors.Select(t => PeftFiles.F32(t.Name, t.Shape, f.ReadFloats(t))).ToList();
        PeftFiles.Write(weights, tensors.Append(PeftFiles.F32("base_model.model.model.norm.weight", [128], norm)));

        var refused = Cli.Fails("import-peft", lora.Dir, "-o", dir.File("a.vdb"));
        Assert.That(refused, Does.Contain("base_model.model.model.norm.weight").And.Contain("modules_to_save").And.Contain("--drop-extras"));
        Assert.That(Cli.Ok("import-peft", lora.Dir, "-o", dir.File("dropped.vdb"), "--drop-extras"), Does.Contain("note").And.Contain("dropped"));

        var text = Cli.Ok("import-peft", lora.Dir, "-o", dir.File("kept.vdb"), "--base", dir.File("base.safetensors"), "--density", "1");
        Assert.That(text, Does.Contain("replaced"));
        Assert.That(Cli.Ok("info", dir.File("kept.vdb")), Does.Contain("replaced_tensors = base_model.model.model.norm.weight"));
        Cli.Ok("apply", "--base", dir.File("base.safetensors"), dir.File("kept.vdb"), "-o", dir.File("merged.safetensors"));
        using var merged = SafetensorsFile.Open(dir.File("merged.safetensors"));
        var got = merged.ReadFloats("model.norm.weight");
        for (int i = 0; i < norm.Length; i++) Assert.That(got[i], Is.EqualTo(norm[i]).Within(1e-6 * (1 + Math.Abs(norm[i]))), $"norm[{i}]");
        var q = merged.ReadFloats("model.layers.0.self_attn.q_proj.weight");
        var before = values["model.layers.0.self_attn.q_proj.weight"];
        Assert.That(q[5] - before[5], Is.EqualTo(PeftFixtures.Delta(lora, "model.layers.0.self_attn.q_proj", 0, 5)).Within(1e-5));
    }

    [Test]
    public void Synth_WritesAQwenShapedModelAndLora_ThatImportAndApply()
    {
        using var dir = new TempDir();
        Cli.Ok("synth", dir.File("q"), "--layers", "1", "--dtype", "BF16", "--shards", "1", "--rank", "8");
        using (var f = SafetensorsFile.Open(dir.File("q/model.safetensors")))
        {
            Assert.That(f["model.layers.0.mlp.down_proj.weight"].Shape, Is.EqualTo(new long[] { 2048, 6144 }));
            Assert.That(f["model.layers.0.self_attn.k_proj.weight"].Shape, Is.EqualTo(new long[] { 1024, 2048 }));
            Assert.That(f["model.layers.0.self_attn.k_proj.weight"].DType, Is.EqualTo(TensorDType.BF16));
        }
        using (var l = SafetensorsFile.Open(dir.File("q/lora/adapter_model.safetensors")))
            Assert.That(l["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].Shape, Is.EqualTo(new long[] { 8, 2048 }));
        var j = Json(Cli.Ok("import-peft", dir.File("q/lora"), "-o", dir.File("q.vdb"), "--base-config", dir.File("q/config.json"), "--json"));
        Assert.That(j.GetProperty("modules").GetArrayLength(), Is.EqualTo(7));
        Cli.Ok("apply", "--base", dir.File("q/model.safetensors"), dir.File("q.vdb"), "-o", dir.File("q/merged.safetensors"));
        Assert.That(Cli.Fails("synth", dir.File("x"), "--layers", "40"), Does.Contain("--layers"));
    }

    [Test]
    public void BenchSwitch_PrintsBothTimesAndTheRatio()
    {
        var j = Json(Cli.Ok("bench", "switch", "--layers", "1", "--repeats", "1", "--json"));
        var rows = j.EnumerateArray().ToDictionary(r => r.GetProperty("Metric").GetString()!, r => r);
        Assert.That(rows["sparse switch out (restore)"].GetProperty("Note").GetString(), Does.Contain("bit-exact: yes"));
        // Quantities known here, not taken from the bench: one Qwen3-1.7B layer (hidden 2048, 16 query heads and 8 KV
        // heads of 128, MLP 6144) holds q, o 2048x2048; k, v 1024x2048; gate, up 6144x2048; down 2048x6144 weights.
        const long h = 2048, kv = 8 * 128, mlp = 6144;
        long baseWeights = 2 * h * h + 2 * kv * h + 3 * mlp * h;
        Assert.That(baseWeights, Is.EqualTo(50_331_648));
        Assert.That(rows["base weights (float32)"].GetProperty("Value").GetDouble(), Is.EqualTo(baseWeights));
        double active = rows["sparse adapter weights (1% tiles)"].GetProperty("Value").GetDouble();
        Assert.That(active, Is.EqualTo(baseWeights * 0.01).Within(baseWeights * 0.0002));
        double merge = rows["LoRA r=16 merge W += B·A"].GetProperty("Value").GetDouble();
        double sw = rows["sparse switch in"].GetProperty("Value").GetDouble();
        Assert.That(merge, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
        Assert.That(sw, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
        Assert.That(rows["sparse switch out (restore)"].GetProperty("Value").GetDouble(), Is.GreaterThan(0));
        Assert.That(rows["LoRA r=16 unmerge W -= B·A"].GetProperty("Value").GetDouble(), Is.GreaterThan(0));
        // The ratio is not checked against the quotient of the two numbers it was printed from (that only repeats the
        // bench's own arithmetic): each side is rebuilt from the known sizes above and a rate the bench reports. The
        // merge time from the rank-16 FLOP count 2·16·W and the GFLOP/s in its note (printed to 0.1, hence the
        // tolerance); the switch-in time from the adapter's weights and the weights/s row. A wrong FLOP count, a
        // wrong weight count, an inverted ratio or a unit slip (ms vs s) all fail here.
        double gflops = NoteNumber(rows["LoRA r=16 merge W += B·A"], "GFLOP/s");
        double gbps = NoteNumber(rows["LoRA r=16 merge W += B·A"], "GB/s");
        Assert.That(gflops, Is.GreaterThan(0.05), "the merge ran at a measurable rate");
        Assert.That(gbps, Is.GreaterThan(0.05), "the merge ran at a measurable rate");
        double mergeFromFlops = 2.0 * 16 * baseWeights / (gflops * 1e9) * 1000;
        double mergeFromBytes = 8.0 * baseWeights / (gbps * 1e9) * 1000;
        // A rate printed as g is within ±0.05 of the true one, so a time rebuilt from it is within 0.05 / (g − 0.05).
        double tolerance = 0.0501 / (gflops - 0.05);
        Assert.That(mergeFromFlops, Is.EqualTo(merge).Within(tolerance * merge), "merge time from the LoRA FLOP count");
        Assert.That(mergeFromBytes, Is.EqualTo(merge).Within(0.0501 / (gbps - 0.05) * merge), "merge time from the bytes of W");
        double switchFromRate = active / rows["sparse switch in, weights/s"].GetProperty("Value").GetDouble() * 1000;
        Assert.That(switchFromRate, Is.EqualTo(sw).Within(1e-9 * sw), "switch-in time from the adapter's weights and the switch rate");
        Assert.That(rows["ratio: LoRA merge / sparse switch in"].GetProperty("Value").GetDouble(),
            Is.EqualTo(mergeFromFlops / switchFromRate).Within(2 * tolerance * (mergeFromFlops / switchFromRate)));
    }

    /// <summary>The number printed just before <paramref name="unit"/> in a bench row's note ("12.3 GFLOP/s").</summary>
    private static double NoteNumber(JsonElement row, string unit)
    {
        var note = row.GetProperty("Note").GetString()!;
        var m = System.Text.RegularExpressions.Regex.Match(note, @"([0-9]+(?:[.,][0-9]+)?) " + System.Text.RegularExpressions.Regex.Escape(unit));
        Assert.That(m.Success, Is.True, $"no {unit} in the note: {note}");
        return double.Parse(m.Groups[1].Value.Replace(',', '.'), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Usage errors are one line on stderr and a non-zero exit, like every other error.</summary>
public class CliUsageTests
{
    [Test]
    public void MissingRequiredOption_AndUnparsableValue_AreOneLineErrors()
    {
        Assert.That(Cli.Fails("import-peft", "somewhere"), Does.Contain("--output"));
        Assert.That(Cli.Fails("prune", "a.vdb", "-o", "b.vdb", "--density", "lots"), Does.Contain("lots"));
        Assert.That(Cli.Fails("no-such-command"), Does.Contain("no-such-command"));
    }
}
