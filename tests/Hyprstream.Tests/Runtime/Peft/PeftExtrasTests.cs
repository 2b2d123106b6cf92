using Hyprstream.Runtime;
using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;
using Hyprstream.Runtime.Switching;

namespace Hyprstream.Tests;

/// <summary>
/// Every tensor of an adapter file is accounted for, and config fields that change the tensors' meaning are refused
/// by name: cases 2 and 3 of issue 19. A tiny model: q_proj 16x16 with a bias, a 40-token embedding, a 3-class head.
/// </summary>
public class PeftExtrasTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    private const int H = 16, Vocab = 40, Classes = 3, R = 2;
    private const double Alpha = 4, Scale = Alpha / R;

    private sealed record Fixture(string BasePath, Dictionary<string, float[]> Base, float[] A, float[] B);

    private static Fixture WriteBase(TempDir dir, bool withScore)
    {
        var rng = new Random(21);
        var values = new Dictionary<string, float[]>
        {
            [Q + ".weight"] = PeftFiles.Random(rng, H * H), [Q + ".bias"] = PeftFiles.Random(rng, H),
            ["model.embed_tokens.weight"] = PeftFiles.Random(rng, Vocab * H), ["model.norm.weight"] = PeftFiles.Random(rng, H),
        };
        if (withScore) values["score.weight"] = PeftFiles.Random(rng, Classes * H);
        var path = dir.File("base.safetensors");
        PeftFiles.Write(path, values.Select(p => PeftFiles.F32(p.Key, p.Value.Length == H ? [H] : [p.Value.Length / H, H], p.Value)));
        return new Fixture(path, values, PeftFiles.Random(rng, R * H), PeftFiles.Random(rng, H * R));
    }

    /// <summary>A LoRA r=2 on q_proj plus <paramref name="extra"/> tensors.</summary>
    private static string WriteAdapter(TempDir dir, Fixture f, string name, IEnumerable<PeftFiles.T> extra, Action<Dictionary<string, object?>>? edit = null)
    {
        var config = PeftFiles.LoraConfig(R, Alpha, "q_proj");
        edit?.Invoke(config);
        return PeftFiles.Adapter(dir.File(name), config, new[]
        {
            PeftFiles.F32($"base_model.model.{Q}.lora_A.weight", [R, H], f.A), PeftFiles.F32($"base_model.model.{Q}.lora_B.weight", [H, R], f.B),
        }.Concat(extra));
    }

    private static double[] Minus(float[] saved, float[] old) => saved.Select((v, i) => (double)v - old[i]).ToArray();

    [Test]
    public void ModulesToSave_HeadTheBaseLacks_IsRefusedByName_OrDroppedWithANote()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var head = PeftFiles.Random(new Random(5), Classes * H);
        var path = WriteAdapter(dir, f, "seqcls", [PeftFiles.F32("base_model.model.score.weight", [Classes, H], head)],
            c => { c["task_type"] = "SEQ_CLS"; c["modules_to_save"] = new[] { "classifier", "score" }; });
        // Without --base: refused, naming the tensor, why, and the flag.
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1 }));
        Assert.That(e!.Message, Does.Contain("base_model.model.score.weight").And.Contain("modules_to_save").And.Contain("--drop-extras"));
        // With --base that has no score head: still refused, and the reason says a delta cannot add a tensor.
        e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath }));
        Assert.That(e!.Message, Does.Contain("score.weight").And.Contain("cannot add a tensor"));
        // Dropped knowingly: the LoRA imports exactly and the note and the provenance name the head.
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, DropExtras = true });
        using var a = result.Adapter;
        Assert.That(result.Notes.Single(), Does.StartWith("dropped 'base_model.model.score.weight'"));
        Assert.That(a.Provenance["dropped_tensors"], Is.EqualTo("base_model.model.score.weight"));
        Assert.That(a.Provenance["task_type"], Is.EqualTo("SEQ_CLS"));
        Assert.That(a.Modules.Select(m => m.Name), Is.EqualTo(new[] { Q }));
        PeftFiles.AssertExact(a.Modules[Q], PeftFiles.LoraDelta(f.B, f.A, H, R, H, Scale));
    }

    [Test]
    public void ModulesToSave_HeadTheBaseHas_BecomesSavedMinusBase_AndApplyWritesTheSavedValues()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: true);
        var head = PeftFiles.Random(new Random(6), Classes * H);
        head[5] = f.Base["score.weight"][5];   // an unchanged value: no delta stored there
        var path = WriteAdapter(dir, f, "seqcls", [PeftFiles.F32("base_model.model.score.weight", [Classes, H], head)],
            c => c["modules_to_save"] = new[] { "score" });
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath });
        using var a = result.Adapter;
        Assert.That(result.Notes, Is.Empty);
        Assert.That(result.Modules.Single(m => m.Module == "score").Kind, Is.EqualTo("replaced"));
        Assert.That(a.Provenance["replaced_tensors"], Is.EqualTo("base_model.model.score.weight"));
        Assert.That(a.Provenance["base_weights"], Is.EqualTo("base.safetensors"));
        PeftFiles.AssertExact(a.Modules["score"], Minus(head, f.Base["score.weight"]));
        Assert.That(a.Modules["score"].IsActive(0, 5), Is.False);
        PeftFiles.AssertExact(a.Modules[Q], PeftFiles.LoraDelta(f.B, f.A, H, R, H, Scale));

        // Applying the adapter to the base gives the saved head (one float32 rounding of base + (saved − base)).
        var vdb = dir.File("a.vdb");
        a.Save(vdb);
        using var loaded = SparseAdapter.Load(vdb);
        SafetensorsApply.Apply(f.BasePath, loaded, dir.File("merged.safetensors"));
        using var merged = SafetensorsFile.Open(dir.File("merged.safetensors"));
        var score = merged.ReadFloats("score.weight");
        for (int i = 0; i < head.Length; i++) Assert.That(score[i], Is.EqualTo(head[i]).Within(1e-6 * (1 + Math.Abs(head[i]))), $"score[{i}]");
        Assert.That(merged.ReadFloats("model.norm.weight"), Is.EqualTo(f.Base["model.norm.weight"]));
    }

    [Test]
    public void ResizedEmbedding_IsRefused_NamingTheShapes()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var path = WriteAdapter(dir, f, "resized", [PeftFiles.F32("base_model.model.model.embed_tokens.weight", [Vocab + 4, H], PeftFiles.Random(new Random(7), (Vocab + 4) * H))]);
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath }));
        Assert.That(e!.Message, Does.Contain("base_model.model.model.embed_tokens.weight").And.Contain("[44, 16]").And.Contain("[40, 16]")
            .And.Contain("embedding").And.Contain("--drop-extras"));
    }

    [Test]
    public void TrainableTokens_WithBase_ReplaceExactlyTheirRows()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        long[] tokens = [3, 7, 39];
        var rows = PeftFiles.Random(new Random(8), tokens.Length * H);
        var path = WriteAdapter(dir, f, "tokens",
            [PeftFiles.F32("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta", [tokens.Length, H], rows)],
            c => c["trainable_token_indices"] = tokens);
        Assert.That(Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1 }))!.Message,
            Does.Contain("trainable_tokens_delta").And.Contain("--base"));
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath });
        using var a = result.Adapter;
        var embed = f.Base["model.embed_tokens.weight"];
        var reference = new double[Vocab * H];
        for (int k = 0; k < tokens.Length; k++)
            for (int j = 0; j < H; j++) reference[tokens[k] * H + j] = (double)rows[k * H + j] - embed[tokens[k] * H + j];
        PeftFiles.AssertExact(a.Modules["model.embed_tokens"], reference);
        Assert.That(a.Modules["model.embed_tokens"].ActiveCount, Is.EqualTo(tokens.Length * H));
    }

    [Test]
    public void TrainedBias_AndLoraBias_AddUpOnTheLayersBias()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var rng = new Random(9);
        var trained = PeftFiles.Random(rng, H);
        var loraBias = PeftFiles.Random(rng, H);
        var path = WriteAdapter(dir, f, "bias",
            [PeftFiles.F32($"base_model.model.{Q}.base_layer.bias", [H], trained), PeftFiles.F32($"base_model.model.{Q}.lora_B.bias", [H], loraBias)],
            c => { c["bias"] = "lora_only"; c["lora_bias"] = true; });
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1 }));
        Assert.That(e!.Message, Does.Contain($"base_model.model.{Q}.base_layer.bias").And.Contain("bias = lora_only"));
        Assert.That(e.Message, Does.Not.Contain("lora_B.bias"));   // lora_B's bias is a plain delta, importable without the base
        using var a = PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath }).Adapter;
        var old = f.Base[Q + ".bias"];
        // PEFT merges lora_only/all biases by replacement and lora_B's bias by adding scale·b: Δb = (trained − base) + s·b.
        PeftFiles.AssertExact(a.Modules[Q + ".bias"], trained.Select((t, i) => (double)t - old[i] + Scale * loraBias[i]).ToArray());
        PeftFiles.AssertExact(a.Modules[Q], PeftFiles.LoraDelta(f.B, f.A, H, R, H, Scale));
    }

    [Test]
    public void LoraBias_WithoutBase_IsScaleTimesB_OnA1xOutModule()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var loraBias = PeftFiles.Random(new Random(10), H);
        var path = WriteAdapter(dir, f, "lorabias", [PeftFiles.F32($"base_model.model.{Q}.lora_B.bias", [H], loraBias)], c => c["lora_bias"] = true);
        using var a = PeftImport.Import(path, new PeftImportOptions { Density = 1 }).Adapter;
        var m = a.Modules[Q + ".bias"];
        Assert.That((m.Rows, m.Cols), Is.EqualTo((1, H)));
        PeftFiles.AssertExact(m, loraBias.Select(b => Scale * b).ToArray());
    }

    [TestCase("pissa")]
    [TestCase("pissa_niter_4")]
    [TestCase("olora")]
    [TestCase("corda")]
    [TestCase("loftq")]
    [TestCase("lora_ga")]
    public void InitializationsThatMoveTheBase_AreRefusedByName(string init)
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var path = WriteAdapter(dir, f, init, [], c => c["init_lora_weights"] = init);
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath, DropExtras = true }));
        Assert.That(e!.Message, Does.Contain("init_lora_weights").And.Contain($"\"{init}\"").And.Contain("modified base"));
    }

    [TestCase(true)]
    [TestCase(false)]
    [TestCase("gaussian")]
    [TestCase("orthogonal")]
    [TestCase("eva")]
    public void InitializationsThatKeepTheBase_ImportExactly(object init)
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var path = WriteAdapter(dir, f, "init", [], c => c["init_lora_weights"] = init);
        using var a = PeftImport.Import(path, new PeftImportOptions { Density = 1 }).Adapter;
        PeftFiles.AssertExact(a.Modules[Q], PeftFiles.LoraDelta(f.B, f.A, H, R, H, Scale));
    }

    [TestCase("layer_replication", "[[0, 1], [0, 1]]")]
    [TestCase("alora_invocation_tokens", "[101, 7]")]
    [TestCase("use_qalora", "true")]
    [TestCase("use_bdlora", "{\"nblocks\": 2}")]
    public void ConfigFieldsThatChangeTheMeaning_AreRefusedByName(string field, string json)
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var path = WriteAdapter(dir, f, "variant", [], c => c[field] = System.Text.Json.JsonDocument.Parse(json).RootElement.Clone());
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath, DropExtras = true }));
        Assert.That(e!.Message, Does.Contain(field));
        // Set to its default, the same field is no obstacle.
        var plain = WriteAdapter(dir, f, "plain", [], c => c[field] = field == "use_qalora" ? false : null);
        using var a = PeftImport.Import(plain, new PeftImportOptions { Density = 1 }).Adapter;
        Assert.That(a.Modules, Has.Count.EqualTo(1));
    }

    [Test]
    public void DoraMagnitude_WithoutUseDora_IsRefused_AsADisagreement()
    {
        using var dir = new TempDir();
        var f = WriteBase(dir, withScore: false);
        var path = WriteAdapter(dir, f, "dora", [PeftFiles.F32($"base_model.model.{Q}.lora_magnitude_vector", [H], new float[H])]);
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = f.BasePath, DropExtras = true }));
        Assert.That(e!.Message, Does.Contain("lora_magnitude_vector").And.Contain("use_dora"));
    }
}
