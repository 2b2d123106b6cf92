using System.Text.Json;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The fields of a PEFT <c>adapter_config.json</c> that decide ΔW (peft_type, r, lora_alpha, use_rslora, the
/// rank/alpha patterns, use_dora, fan_in_fan_out, SHiRA's scaling), the ones that add tensors beside the LoRA pairs
/// (modules_to_save, bias, lora_bias, trainable_token_indices, target_parameters), and the ones that change what the
/// stored tensors mean (<see cref="MeaningChanges"/>): an import that ignored those would be silently wrong.
/// </summary>
public sealed record PeftAdapterConfig
{
    public required string PeftType { get; init; }
    public string? TaskType { get; init; }
    public int R { get; init; }
    public double LoraAlpha { get; init; }
    public bool UseRsLora { get; init; }
    public bool FanInFanOut { get; init; }
    public bool UseDora { get; init; }
    public double ShiraScaling { get; init; } = 1.0;
    public string? BaseModel { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = [];
    /// <summary>Per-module rank overrides, in the file's order (the first matching key wins, see <see cref="PeftPattern"/>).</summary>
    public IReadOnlyList<KeyValuePair<string, int>> RankPattern { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];
    /// <summary>bias: "none", "all" or "lora_only" (the last two save trained base-layer biases).</summary>
    public string Bias { get; init; } = "none";
    /// <summary>lora_bias: lora_B carries a bias, saved as <c>…lora_B.bias</c>.</summary>
    public bool LoraBias { get; init; }
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
    public IReadOnlyList<string> TargetParameters { get; init; } = [];
    /// <summary>trainable_token_indices: the rows of each embedding whose values the adapter replaces, by embedding name
    /// ("" when the file gives a plain list, which PEFT applies to the input embedding).</summary>
    public IReadOnlyDictionary<string, long[]> TrainableTokenIndices { get; init; } = new Dictionary<string, long[]>();
    /// <summary>init_lora_weights as written (true, false, "gaussian", "pissa", …), lower-case; "true" when absent.</summary>
    public string InitLoraWeights { get; init; } = "true";
    /// <summary>Fields set in the file that change what the tensors mean, each with the reason (see <see cref="MeaningChanges"/>).</summary>
    public IReadOnlyList<(string Field, string Reason)> MeaningChanges { get; init; } = [];

    /// <summary>
    /// init_lora_weights values that leave the base weights as they were, so ΔW = scale·B·A holds: true (kaiming A,
    /// zero B), false (random test init), "gaussian", "orthogonal" (B·A = 0 at the start) and "eva" (A from activation
    /// SVDs, zero B; the ranks it picks are written into rank_pattern). Every other one (pissa*, olora, corda, loftq,
    /// lora_ga) moves part of the base weight into A and B at initialisation, so an adapter saved without PEFT's
    /// conversion is relative to a base this file does not describe.
    /// </summary>
    public static readonly IReadOnlySet<string> BaseKeepingInits = new HashSet<string>(StringComparer.Ordinal) { "true", "false", "gaussian", "orthogonal", "eva" };

    public static PeftAdapterConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no adapter_config.json at '{path}'", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}' is not a JSON object");
            string type = root.TryGetProperty("peft_type", out var pt) && pt.ValueKind == JsonValueKind.String
                ? pt.GetString()!.ToUpperInvariant()
                : throw new InvalidDataException($"'{path}' has no peft_type");
            var cfg = new PeftAdapterConfig
            {
                PeftType = type,
                TaskType = Str(root, "task_type"),
                R = Int(root, "r", path) ?? throw new InvalidDataException($"'{path}' has no r"),
                LoraAlpha = Real(root, "lora_alpha", path) ?? (type == "LORA" ? throw new InvalidDataException($"'{path}' has no lora_alpha") : 0),
                UseRsLora = Bool(root, "use_rslora", path),
                FanInFanOut = Bool(root, "fan_in_fan_out", path),
                UseDora = Bool(root, "use_dora", path),
                ShiraScaling = Real(root, "scaling", path) ?? 1.0,
                BaseModel = Str(root, "base_model_name_or_path"),
                TargetModules = Strings(root, "target_modules", path),
                RankPattern = Pattern(root, "rank_pattern", path).Select(p => KeyValuePair.Create(p.Key, WholeRank(p, path))).ToList(),
                AlphaPattern = Pattern(root, "alpha_pattern", path),
                Bias = Str(root, "bias") ?? "none",
                LoraBias = Bool(root, "lora_bias", path),
                ModulesToSave = Strings(root, "modules_to_save", path),
                TargetParameters = Strings(root, "target_parameters", path),
                TrainableTokenIndices = TokenIndices(root, path),
                InitLoraWeights = InitWeights(root, path),
                MeaningChanges = FindMeaningChanges(root, type),
            };
            if (cfg.R <= 0) throw new InvalidDataException($"'{path}': r must be positive, got {cfg.R}");
            if (!double.IsFinite(cfg.LoraAlpha)) throw new InvalidDataException($"'{path}': lora_alpha must be finite");
            if (cfg.Bias is not ("none" or "all" or "lora_only")) throw new InvalidDataException($"'{path}': bias is '{cfg.Bias}'; PEFT knows none, all and lora_only");
            return cfg;
        }
    }

    /// <summary>PEFT's scaling for one module: alpha / r, or alpha / √r with rsLoRA (patterns honoured).</summary>
    public double LoraScale(string module)
    {
        int r = RankOf(module);
        double alpha = PeftPattern.Match(AlphaPattern, module) ?? LoraAlpha;
        return UseRsLora ? alpha / Math.Sqrt(r) : alpha / r;
    }

    public int RankOf(string module) => PeftPattern.Match(RankPattern, module) ?? R;

    /// <summary>
    /// The fields that make B·A (or the stored SHiRA values) mean something other than the weight delta: each is
    /// refused by name rather than imported as if it were plain LoRA.
    /// </summary>
    private static List<(string, string)> FindMeaningChanges(JsonElement root, string type)
    {
        var found = new List<(string, string)>();
        bool Set(string name) => root.TryGetProperty(name, out var e) && e.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.False => false,
            JsonValueKind.Array => e.GetArrayLength() > 0,
            JsonValueKind.Object => e.EnumerateObject().Any(),
            _ => true,
        };
        if (Set("layer_replication"))
            found.Add(("layer_replication", "the adapter trains copies of base layers that the base model does not have; its modules do not map onto the base's weights"));
        if (Set("alora_invocation_tokens"))
            found.Add(("alora_invocation_tokens", "activated LoRA (aLoRA) applies B·A only to tokens after its invocation sequence; a weight delta would apply it everywhere"));
        if (Set("use_qalora"))
            found.Add(("use_qalora", "QA-LoRA's A acts on group-pooled inputs (qalora_group_size), so B·A is not the delta of the full weight"));
        if (Set("kasa_config"))
            found.Add(("kasa_config", "KaSA changes how the LoRA product is formed; B·A alone is not its delta"));
        if (Set("monteclora_config"))
            found.Add(("monteclora_config", "MonteCLoRA samples its LoRA factors; the stored tensors are not one fixed delta"));
        if (Set("arrow_config"))
            found.Add(("arrow_config", "Arrow routes between several LoRA experts per token; there is no single delta"));
        if (Set("use_bdlora"))
            found.Add(("use_bdlora", "block-diagonal LoRA stores its factors in blocks whose product is not B·A as written"));
        if (type == "LORA" && root.TryGetProperty("init_lora_weights", out var init) && init.ValueKind == JsonValueKind.String)
        {
            var v = init.GetString()!.ToLowerInvariant();
            if (!BaseKeepingInits.Contains(v))
                found.Add(("init_lora_weights", $"init_lora_weights = \"{init.GetString()}\" moves part of the base weight into A and B at initialisation " +
                                                "(PiSSA, OLoRA, CorDA, LoftQ and LoRA-GA do), so an adapter saved without PEFT's conversion " +
                                                "(path_initial_model_for_weight_conversion) is relative to a modified base; convert it in PEFT and import the converted adapter"));
        }
        return found;
    }

    private static string InitWeights(JsonElement root, string path)
    {
        if (!root.TryGetProperty("init_lora_weights", out var e) || e.ValueKind == JsonValueKind.Null) return "true";
        return e.ValueKind switch
        {
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.String => e.GetString()!.ToLowerInvariant(),
            _ => throw new InvalidDataException($"'{path}': init_lora_weights is neither true/false nor a string ({e})"),
        };
    }

    private static Dictionary<string, long[]> TokenIndices(JsonElement root, string path)
    {
        var d = new Dictionary<string, long[]>(StringComparer.Ordinal);
        if (!root.TryGetProperty("trainable_token_indices", out var e) || e.ValueKind == JsonValueKind.Null) return d;
        long[] List(JsonElement a, string what) => a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out var v) && v >= 0 ? v
                : throw new InvalidDataException($"'{path}': {what} holds '{x}', not a token index")).ToArray()
            : throw new InvalidDataException($"'{path}': {what} is not a list of token indices");
        if (e.ValueKind == JsonValueKind.Object)
            foreach (var p in e.EnumerateObject()) d[p.Name] = List(p.Value, $"trainable_token_indices.{p.Name}");
        else d[""] = List(e, "trainable_token_indices");
        return d;
    }

    private static string? Str(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    private static IReadOnlyList<string> Strings(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var e) ? e.ValueKind switch
        {
            JsonValueKind.Array => e.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()!
                : throw new InvalidDataException($"'{path}': {name} holds '{x}', not a name")).ToList(),
            JsonValueKind.String => [e.GetString()!],
            JsonValueKind.Null => [],
            _ => throw new InvalidDataException($"'{path}': {name} is neither a list nor a string"),
        } : [];

    private static int WholeRank(KeyValuePair<string, double> p, string path) =>
        p.Value == Math.Floor(p.Value) && p.Value is > 0 and <= int.MaxValue
            ? (int)p.Value : throw new InvalidDataException($"'{path}': rank_pattern.{p.Key} is {p.Value}, not a positive integer");

    private static int? Int(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null
            ? e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw new InvalidDataException($"'{path}': {name} is not an integer ({e})")
            : null;

    private static double? Real(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null
            ? e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw new InvalidDataException($"'{path}': {name} is not a number ({e})")
            : null;

    private static bool Bool(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var e) && e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw new InvalidDataException($"'{path}': {name} is not true/false ({e})"),
        };

    /// <summary>A pattern object's entries in the file's order (JSON objects keep it; PEFT's dicts do too).</summary>
    private static List<KeyValuePair<string, double>> Pattern(JsonElement root, string name, string path)
    {
        var list = new List<KeyValuePair<string, double>>();
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return list;
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': {name} is not an object");
        foreach (var p in e.EnumerateObject())
            list.Add(KeyValuePair.Create(p.Name, p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble()
                : throw new InvalidDataException($"'{path}': {name}.{p.Name} is not a number")));
        return list;
    }
}
