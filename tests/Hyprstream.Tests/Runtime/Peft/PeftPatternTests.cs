using Hyprstream.Runtime.Peft;

namespace Hyprstream.Tests;

/// <summary>
/// rank_pattern / alpha_pattern keys match as PEFT's get_pattern_key does (re.match(rf"(.*\.)?({key})$", name), first
/// key wins), and an import honours them exactly: case 1 of issue 19.
/// </summary>
public class PeftPatternTests
{
    [TestCase("up_proj", "model.layers.0.mlp.up_proj", true)]
    [TestCase("up_proj", "model.layers.0.mlp.gate_up_proj", false)]          // fused Phi-3 name: not a dot boundary
    [TestCase("v_proj", "model.layers.0.self_attn.qkv_proj", false)]
    [TestCase("qkv_proj", "model.layers.0.self_attn.qkv_proj", true)]
    [TestCase("proj", "model.layers.0.self_attn.q_proj", false)]             // a suffix is a whole dot-separated tail
    [TestCase("model.layers.0.mlp.up_proj", "model.layers.0.mlp.up_proj", true)]   // full name
    [TestCase("layers.0.mlp.up_proj", "model.layers.0.mlp.up_proj", true)]
    [TestCase("layers.0.mlp.up_proj", "model.layers.10.mlp.up_proj", false)]
    [TestCase("^model.layers.0.mlp.up_proj", "model.layers.0.mlp.up_proj", true)]  // regex key anchored at the start
    [TestCase("^layers.0.mlp.up_proj", "model.layers.0.mlp.up_proj", false)]
    [TestCase(@"layers\.[0-3]\.mlp\.down_proj", "model.layers.2.mlp.down_proj", true)]
    [TestCase(@"layers\.[0-3]\.mlp\.down_proj", "model.layers.12.mlp.down_proj", false)]
    [TestCase("q_proj|v_proj", "model.layers.0.self_attn.v_proj", true)]      // alternatives taken whole, as one group
    [TestCase("q_proj|v_proj", "model.layers.0.self_attn.kv_proj", false)]
    [TestCase("q_proj|v_proj", "model.layers.0.self_attn.q_proj.extra", false)]
    [TestCase("up_proj", "model.layers.0.mlp.up_proj.base", false)]           // anchored at the end
    public void Keys_MatchAsPeftDoes(string key, string module, bool matches)
    {
        Assert.That(PeftPattern.Matches(key, module), Is.EqualTo(matches));
    }

    [Test]
    public void FirstMatchingKey_InFileOrder_Wins()
    {
        var patterns = new List<KeyValuePair<string, int>> { new("mlp.up_proj", 8), new("up_proj", 16), new("layers.0.mlp.up_proj", 32) };
        Assert.That(PeftPattern.Match(patterns, "model.layers.0.mlp.up_proj"), Is.EqualTo(8));
        patterns.Reverse();
        Assert.That(PeftPattern.Match(patterns, "model.layers.0.mlp.up_proj"), Is.EqualTo(32));
        Assert.That(PeftPattern.Match(patterns, "model.layers.0.mlp.gate_up_proj"), Is.Null);
    }

    [Test]
    public void KeyThatIsNotARegexHere_IsRefused_NamingIt()
    {
        var e = Assert.Throws<InvalidDataException>(() => PeftPattern.Matches("(?P<x>up)", "model.layers.0.mlp.up_proj"));
        Assert.That(e!.Message, Does.Contain("(?P<x>up)"));
    }

    /// <summary>
    /// Phi-3 shapes: fused qkv_proj and gate_up_proj beside o_proj/down_proj. alpha_pattern {"up_proj": 64} must not
    /// touch gate_up_proj (it used to: ΔW 8× too large), and rank_pattern {"qkv_proj": 2} gives qkv_proj its own rank.
    /// </summary>
    [Test]
    public void Phi3Adapter_AlphaPatternOnUpProj_LeavesGateUpProj_AtTheDefaultScale()
    {
        using var dir = new TempDir();
        var rng = new Random(3);
        var shapes = new (string Module, int Rows, int Cols, int Rank)[]
        {
            ("model.layers.0.self_attn.qkv_proj", 96, 32, 2), ("model.layers.0.self_attn.o_proj", 32, 32, 4),
            ("model.layers.0.mlp.gate_up_proj", 128, 32, 4), ("model.layers.0.mlp.down_proj", 32, 64, 4),
        };
        var tensors = new List<PeftFiles.T>();
        var factors = new Dictionary<string, (float[] A, float[] B)>();
        foreach (var (m, rows, cols, r) in shapes)
        {
            var a = PeftFiles.Random(rng, r * cols);
            var b = PeftFiles.Random(rng, rows * r);
            factors[m] = (a, b);
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_A.weight", [r, cols], a));
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_B.weight", [rows, r], b));
        }
        var config = PeftFiles.LoraConfig(4, 8, "qkv_proj", "o_proj", "gate_up_proj", "down_proj");
        config["alpha_pattern"] = new Dictionary<string, double> { ["up_proj"] = 64, ["down_proj"] = 2 };
        config["rank_pattern"] = new Dictionary<string, int> { ["qkv_proj"] = 2 };
        var path = PeftFiles.Adapter(dir.File("phi3"), config, tensors);
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1 });
        using var adapter = result.Adapter;
        // PEFT's scales: qkv_proj r=2 (rank_pattern) alpha 8 → 4; o_proj 8/4; gate_up_proj untouched by "up_proj" → 8/4; down_proj 2/4.
        var expected = new Dictionary<string, double>
        {
            ["model.layers.0.self_attn.qkv_proj"] = 4.0, ["model.layers.0.self_attn.o_proj"] = 2.0,
            ["model.layers.0.mlp.gate_up_proj"] = 2.0, ["model.layers.0.mlp.down_proj"] = 0.5,
        };
        foreach (var (m, rows, cols, r) in shapes)
        {
            var reference = PeftFiles.LoraDelta(factors[m].B, factors[m].A, rows, r, cols, expected[m]);
            PeftFiles.AssertExact(adapter.Modules[m], reference);
        }
        // The old, unanchored match (alpha 64 on gate_up_proj) is 8x off: the check above would have caught it.
        var wrong = PeftFiles.LoraDelta(factors["model.layers.0.mlp.gate_up_proj"].B, factors["model.layers.0.mlp.gate_up_proj"].A, 128, 4, 32, 64.0 / 4);
        Assert.That(PeftFiles.RelativeError(adapter.Modules["model.layers.0.mlp.gate_up_proj"], wrong), Is.GreaterThan(0.5));
    }

    [Test]
    public void RankPatternWithARegexKey_GivesTheRightRank_AndADifferentRankIsRefused_NamingTheModule()
    {
        using var dir = new TempDir();
        var rng = new Random(4);
        var tensors = new List<PeftFiles.T>();
        var ranks = new Dictionary<string, int> { ["model.layers.0.mlp.up_proj"] = 2, ["model.layers.1.mlp.up_proj"] = 4 };
        foreach (var (m, r) in ranks)
        {
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_A.weight", [r, 16], PeftFiles.Random(rng, r * 16)));
            tensors.Add(PeftFiles.F32($"base_model.model.{m}.lora_B.weight", [24, r], PeftFiles.Random(rng, 24 * r)));
        }
        var config = PeftFiles.LoraConfig(4, 8, "up_proj");
        config["rank_pattern"] = new Dictionary<string, int> { ["^model.layers.0.mlp.up_proj"] = 2 };
        using (var a = PeftImport.Import(PeftFiles.Adapter(dir.File("ok"), config, tensors), new PeftImportOptions { Density = 1 }).Adapter)
        {
            Assert.That(a.Modules["model.layers.0.mlp.up_proj"].Scale, Is.EqualTo(4f));   // 8 / 2
            Assert.That(a.Modules["model.layers.1.mlp.up_proj"].Scale, Is.EqualTo(2f));   // 8 / 4
        }
        config["rank_pattern"] = new Dictionary<string, int> { ["^layers.0.mlp.up_proj"] = 2 };   // anchored: matches nothing
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(PeftFiles.Adapter(dir.File("bad"), config, tensors), new PeftImportOptions { Density = 1 }));
        Assert.That(e!.Message, Does.Contain("model.layers.0.mlp.up_proj").And.Contain("rank 2").And.Contain("r = 4"));
    }
}
