using System.Text.Json;
using System.Text.RegularExpressions;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The fields of a PEFT <c>adapter_config.json</c> that decide ΔW: peft_type, r, lora_alpha, use_rslora,
/// rank_pattern / alpha_pattern (per-module overrides), target_modules, base_model_name_or_path, fan_in_fan_out.
/// </summary>
public sealed record PeftAdapterConfig
{
    public required string PeftType { get; init; }
    public int R { get; init; }
    public double LoraAlpha { get; init; }
    public bool UseRsLora { get; init; }
    public bool FanInFanOut { get; init; }
    public bool UseDora { get; init; }
    public double ShiraScaling { get; init; } = 1.0;
    public string? BaseModel { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = [];
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

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
                R = Int(root, "r", path) ?? throw new InvalidDataException($"'{path}' has no r"),
                LoraAlpha = Real(root, "lora_alpha", path) ?? (type == "LORA" ? throw new InvalidDataException($"'{path}' has no lora_alpha") : 0),
                UseRsLora = Bool(root, "use_rslora", path),
                FanInFanOut = Bool(root, "fan_in_fan_out", path),
                UseDora = Bool(root, "use_dora", path),
                ShiraScaling = Real(root, "scaling", path) ?? 1.0,
                BaseModel = root.TryGetProperty("base_model_name_or_path", out var bm) && bm.ValueKind == JsonValueKind.String ? bm.GetString() : null,
                TargetModules = root.TryGetProperty("target_modules", out var tm) ? tm.ValueKind switch
                {
                    JsonValueKind.Array => tm.EnumerateArray().Select(e => e.GetString() ?? "").ToList(),
                    JsonValueKind.String => [tm.GetString()!],
                    _ => [],
                } : [],
                RankPattern = Pattern(root, "rank_pattern", path).ToDictionary(p => p.Key, p => checked((int)p.Value)),
                AlphaPattern = Pattern(root, "alpha_pattern", path),
            };
            if (cfg.R <= 0) throw new InvalidDataException($"'{path}': r must be positive, got {cfg.R}");
            if (!double.IsFinite(cfg.LoraAlpha)) throw new InvalidDataException($"'{path}': lora_alpha must be finite");
            return cfg;
        }
    }

    /// <summary>PEFT's scaling for one module: alpha / r, or alpha / √r with rsLoRA (patterns honoured).</summary>
    public double LoraScale(string module)
    {
        int r = Match(RankPattern, module) ?? R;
        double alpha = Match(AlphaPattern, module) ?? LoraAlpha;
        return UseRsLora ? alpha / Math.Sqrt(r) : alpha / r;
    }

    public int RankOf(string module) => Match(RankPattern, module) ?? R;

    // PEFT matches pattern keys as `(.*\.)?{key}$` against the module name.
    private static T? Match<T>(IReadOnlyDictionary<string, T> patterns, string module) where T : struct
    {
        foreach (var (key, value) in patterns)
            if (Regex.IsMatch(module, $"(.*\\.)?{key}$")) return value;
        return null;
    }

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

    private static Dictionary<string, double> Pattern(JsonElement root, string name, string path)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return d;
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': {name} is not an object");
        foreach (var p in e.EnumerateObject())
            d[p.Name] = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : throw new InvalidDataException($"'{path}': {name}.{p.Name} is not a number");
        return d;
    }
}
