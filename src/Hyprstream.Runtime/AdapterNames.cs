using System.Globalization;
using System.Text;

namespace Hyprstream.Runtime;

/// <summary>
/// Rules for adapter and module names. Adapter names become file and grid names (`name.vdb` and other suffixes), so
/// they refuse path tricks and are limited in UTF-8 bytes, as file systems count. Both kinds refuse what would make a
/// name read differently from what it is: control characters, Unicode format characters (category Cf, which
/// includes the bidirectional controls U+202A–U+202E, U+2066–U+2069, U+200E/U+200F and zero-width characters) and
/// unpaired surrogates.
/// </summary>
public static class AdapterNames
{
    /// <summary>The most UTF-8 bytes of an adapter name (file names add ".vdb" and similar suffixes).</summary>
    public const int MaxLength = 200;

    /// <summary>The most UTF-8 bytes of a module name (not a file name, so longer).</summary>
    public const int MaxModuleLength = 1024;

    /// <summary>Throws ArgumentException unless <paramref name="name"/> is a safe adapter name.</summary>
    public static string ValidateAdapter(string? name, string paramName = "name")
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("adapter name is empty", paramName);
        CheckLength("adapter", name, MaxLength, paramName);
        if (name is "." or "..") throw new ArgumentException($"adapter name '{name}' is a path, not a name", paramName);
        foreach (var c in name)
        {
            if (c is '/' or '\\' || char.IsControl(c))
                throw new ArgumentException(
                    $"adapter name '{Printable(name)}' contains {(c == '\0' ? "NUL" : char.IsControl(c) ? "a control character" : $"'{c}'")}; " +
                    "names may not contain path separators or control characters", paramName);
        }
        CheckCharacters("adapter", name, paramName);
        if (name.StartsWith('.')) throw new ArgumentException($"adapter name '{Printable(name)}' may not start with '.'", paramName);
        return name;
    }

    /// <summary>Throws ArgumentException unless <paramref name="name"/> is a usable module name.</summary>
    public static string ValidateModule(string? name, string paramName = "name")
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("module name is empty", paramName);
        CheckLength("module", name, MaxModuleLength, paramName);
        if (name.Any(char.IsControl)) throw new ArgumentException($"module name '{Printable(name)}' contains a control character", paramName);
        CheckCharacters("module", name, paramName);
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

    private static void CheckLength(string kind, string name, int maxBytes, string paramName)
    {
        // Cheap bound first: a UTF-16 char is at most 3 UTF-8 bytes, and a pair is 4 for 2 chars.
        if (name.Length > maxBytes)
            throw new ArgumentException($"{kind} name '{Printable(name)}' is {name.Length} characters; the limit is {maxBytes} bytes of UTF-8", paramName);
        int bytes;
        try { bytes = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(name); }
        catch (EncoderFallbackException) { throw Unpaired(kind, name, paramName); }
        if (bytes > maxBytes)
            throw new ArgumentException($"{kind} name '{Printable(name)}' is {bytes} bytes in UTF-8; the limit is {maxBytes} bytes", paramName);
    }

    private static void CheckCharacters(string kind, string name, string paramName)
    {
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                if (CharUnicodeInfo.GetUnicodeCategory(name, i) == UnicodeCategory.Format) throw Format(kind, name, char.ConvertToUtf32(c, name[i + 1]), paramName);
                i++;
                continue;
            }
            if (char.IsSurrogate(c)) throw Unpaired(kind, name, paramName);
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format) throw Format(kind, name, c, paramName);
        }
    }

    private static ArgumentException Format(string kind, string name, int codePoint, string paramName) => new(
        $"{kind} name '{Printable(name)}' contains U+{codePoint:X4}, a {(IsBidi(codePoint) ? "bidirectional control" : "Unicode format")} character; " +
        "names may not contain invisible format characters (category Cf), which make a name read differently from what it is", paramName);

    private static ArgumentException Unpaired(string kind, string name, string paramName) =>
        new($"{kind} name '{Printable(name)}' contains an unpaired UTF-16 surrogate (not valid Unicode text)", paramName);

    private static bool IsBidi(int c) => c is >= 0x202A and <= 0x202E or >= 0x2066 and <= 0x2069 or 0x200E or 0x200F or 0x061C;

    /// <summary>The name for a message: controls, format characters and unpaired surrogates escaped, at most 64 characters shown (then "…").</summary>
    private static string Printable(string s)
    {
        const int Shown = 64;
        var sb = new StringBuilder();
        int n = Math.Min(s.Length, Shown);
        for (int i = 0; i < n; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                if (CharUnicodeInfo.GetUnicodeCategory(s, i) == UnicodeCategory.Format) sb.Append($"\\u{{{char.ConvertToUtf32(c, s[i + 1]):x}}}");
                else sb.Append(c).Append(s[i + 1]);
                i++;
            }
            else if (char.IsControl(c)) sb.Append($"\\x{(int)c:x2}");
            else if (char.IsSurrogate(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        if (s.Length > n) sb.Append('…');
        return sb.ToString();
    }
}
