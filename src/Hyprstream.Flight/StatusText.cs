using System.Globalization;
using System.Text;

namespace Hyprstream.Flight;

/// <summary>
/// Keeps status messages short and printable. Every status message the service sends goes through
/// <see cref="Bound"/> (at most <see cref="MaxBytes"/> UTF-8 bytes, no control or format characters), and handlers
/// quote client text (names, modes, action types) with <see cref="Quote"/>, so a 200 KB string sent by a client
/// never comes back as a 200 KB header (which clients refuse, taking the connection with them).
/// </summary>
public static class StatusText
{
    /// <summary>The most UTF-8 bytes of a status message (before percent-encoding).</summary>
    public const int MaxBytes = 512;

    /// <summary>How much of a quoted client string is shown before it is cut.</summary>
    public const int QuoteChars = 64;

    /// <summary>
    /// The message made safe for `grpc-message`: control characters become spaces, format characters (bidi
    /// controls and the like) and unpaired surrogates become U+FFFD, and a message over <see cref="MaxBytes"/> is
    /// cut with an ellipsis and its original length.
    /// </summary>
    public static string Bound(string message)
    {
        var clean = Clean(message);
        if (Encoding.UTF8.GetByteCount(clean) <= MaxBytes) return clean;
        var tail = $"… ({message.Length.ToString(CultureInfo.InvariantCulture)} characters in all)";
        return Cut(clean, MaxBytes - Encoding.UTF8.GetByteCount(tail)) + tail;
    }

    /// <summary>
    /// Client text for a message: in single quotes, cleaned as <see cref="Bound"/> does, and, when longer than
    /// <paramref name="maxChars"/>, cut with an ellipsis and its length: <c>'aaaa…' (200000 characters)</c>.
    /// </summary>
    public static string Quote(string? text, int maxChars = QuoteChars)
    {
        if (text == null) return "null";
        var clean = Clean(text.Length > maxChars * 2 ? text[..(maxChars * 2)] : text);
        if (text.Length <= maxChars) return $"'{clean}'";
        var cut = clean.Length > maxChars ? clean[..maxChars] : clean;
        if (cut.Length > 0 && char.IsHighSurrogate(cut[^1])) cut = cut[..^1];
        return $"'{cut}…' ({text.Length.ToString(CultureInfo.InvariantCulture)} characters)";
    }

    private static string Clean(string s)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            string? repl = null;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                if (CharUnicodeInfo.GetUnicodeCategory(s, i) == UnicodeCategory.Format) repl = "\uFFFD";
                else { sb?.Append(c).Append(s[i + 1]); i++; continue; }
                sb ??= new StringBuilder(s, 0, i, s.Length);
                sb.Append(repl);
                i++;
                continue;
            }
            if (char.IsControl(c)) repl = " ";
            else if (char.IsSurrogate(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format) repl = "\uFFFD";
            if (repl != null)
            {
                sb ??= new StringBuilder(s, 0, i, s.Length);
                sb.Append(repl);
            }
            else sb?.Append(c);
        }
        return sb?.ToString() ?? s;
    }

    /// <summary>The longest prefix of <paramref name="s"/> of at most <paramref name="maxBytes"/> UTF-8 bytes, not splitting a pair.</summary>
    private static string Cut(string s, int maxBytes)
    {
        int bytes = 0, i = 0;
        while (i < s.Length)
        {
            int n = char.IsHighSurrogate(s[i]) && i + 1 < s.Length ? 2 : 1;
            int b = Encoding.UTF8.GetByteCount(s.AsSpan(i, n));
            if (bytes + b > maxBytes) break;
            bytes += b;
            i += n;
        }
        return s[..i];
    }
}
