using System.Text.RegularExpressions;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// PEFT's rule for the keys of <c>rank_pattern</c> and <c>alpha_pattern</c> (peft.utils.other.get_pattern_key): a key
/// k matches a module name when Python's <c>re.match(rf"(.*\.)?({k})$", name)</c> does — anchored at the start and
/// the end, the key taken as one group (so <c>a|b</c> means either, whole), and starting at the beginning of the name
/// or just after a dot. The first key in the file's order that matches wins. So "up_proj" matches
/// "model.layers.0.mlp.up_proj" but not "model.layers.0.mlp.gate_up_proj", and "^model.layers.0.mlp.up_proj" matches
/// only that one module.
/// </summary>
public static class PeftPattern
{
    /// <summary>The value of the first key that matches <paramref name="module"/>, or null.</summary>
    public static T? Match<T>(IReadOnlyList<KeyValuePair<string, T>> patterns, string module) where T : struct
    {
        foreach (var (key, value) in patterns)
            if (Matches(key, module)) return value;
        return null;
    }

    public static bool Matches(string key, string module)
    {
        Regex regex;
        try { regex = new Regex($"\\A(.*\\.)?({key})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"pattern key '{key}' is not a regular expression this reader evaluates as Python's re does ({e.Message})", e);
        }
        return regex.IsMatch(module);
    }
}
