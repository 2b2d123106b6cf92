namespace Hyprstream.Runtime;

/// <summary>Rules for adapter and module names. Adapter names become file and grid names, so they refuse path tricks.</summary>
public static class AdapterNames
{
    public const int MaxLength = 200;

    /// <summary>Throws ArgumentException unless <paramref name="name"/> is a safe adapter name.</summary>
    public static string ValidateAdapter(string? name, string paramName = "name")
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("adapter name is empty", paramName);
        if (name.Length > MaxLength) throw new ArgumentException($"adapter name is longer than {MaxLength} characters", paramName);
        if (name is "." or "..") throw new ArgumentException($"adapter name '{name}' is a path, not a name", paramName);
        foreach (var c in name)
        {
            if (c is '/' or '\\' || char.IsControl(c))
                throw new ArgumentException(
                    $"adapter name '{Printable(name)}' contains {(c == '\0' ? "NUL" : char.IsControl(c) ? "a control character" : $"'{c}'")}; " +
                    "names may not contain path separators or control characters", paramName);
        }
        if (name.StartsWith('.')) throw new ArgumentException($"adapter name '{name}' may not start with '.'", paramName);
        return name;
    }

    /// <summary>Throws ArgumentException unless <paramref name="name"/> is a usable module name.</summary>
    public static string ValidateModule(string? name, string paramName = "name")
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("module name is empty", paramName);
        if (name.Length > 1024) throw new ArgumentException("module name is longer than 1024 characters", paramName);
        if (name.Any(char.IsControl)) throw new ArgumentException($"module name '{Printable(name)}' contains a control character", paramName);
        return name;
    }

    /// <summary>The layer index in names like "model.layers.3.self_attn.q_proj", or -1.</summary>
    public static int LayerOf(string moduleName)
    {
        var parts = moduleName.Split('.');
        for (int i = 0; i + 1 < parts.Length; i++)
            if (parts[i] is "layers" or "h" or "blocks" or "layer" && int.TryParse(parts[i + 1], out var n) && n >= 0) return n;
        return -1;
    }

    private static string Printable(string s) => string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
}
