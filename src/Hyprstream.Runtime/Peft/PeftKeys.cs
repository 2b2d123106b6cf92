namespace Hyprstream.Runtime.Peft;

/// <summary>
/// PEFT's tensor names ↔ our module names. PEFT saves <c>base_model.model.&lt;module&gt;.lora_A.weight</c> where
/// &lt;module&gt; is the model's own path (<c>model.layers.3.self_attn.q_proj</c>); we keep that path as the module name,
/// which is also the base weight's name without <c>.weight</c>.
/// </summary>
public static class PeftKeys
{
    public const string Prefix = "base_model.model.";

    public static string ModuleOf(string key, string suffix)
    {
        var m = key[..^suffix.Length];
        return m.StartsWith(Prefix, StringComparison.Ordinal) ? m[Prefix.Length..] : m;
    }

    public static string LoraA(string module) => $"{Prefix}{module}.lora_A.weight";
    public static string LoraB(string module) => $"{Prefix}{module}.lora_B.weight";
    public static string ShiraWeight(string module) => $"{Prefix}{module}.shira_weight";
    public static string ShiraIndices(string module) => $"{Prefix}{module}.shira_indices";

    /// <summary>The base model's tensor holding the module's weight.</summary>
    public static string BaseWeight(string module) => module + ".weight";
}
