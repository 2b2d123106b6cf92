namespace Hyprstream.Replication;

/// <summary>
/// An <c>s3://BUCKET/PREFIX</c> address: a bucket and a key prefix inside it (no leading or trailing slash; empty for
/// the bucket's root). Bucket names follow S3's rules (3–63 lower-case letters, digits, dots, hyphens).
/// </summary>
public sealed record S3Uri(string Bucket, string Prefix)
{
    public const string Scheme = "s3://";

    /// <summary>True when <paramref name="text"/> starts with <c>s3://</c> (any case).</summary>
    public static bool IsS3(string? text) => text != null && text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    public static S3Uri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IsS3(text)) throw new FormatException($"'{text}' is not an s3:// address (expected s3://BUCKET/PREFIX)");
        var rest = text[Scheme.Length..];
        int slash = rest.IndexOf('/');
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-')
            || !char.IsAsciiLetterOrDigit(bucket[0]) || !char.IsAsciiLetterOrDigit(bucket[^1]))
            throw new FormatException($"'{text}': '{bucket}' is not a valid bucket name (3-63 lower-case letters, digits, '.' and '-')");
        foreach (var part in prefix.Split('/', StringSplitOptions.None))
        {
            if (prefix.Length == 0) break;
            if (part.Length == 0 || part is "." or "..")
                throw new FormatException($"'{text}': the key prefix may not hold empty, '.' or '..' parts");
            if (part.Any(char.IsControl)) throw new FormatException($"'{text}': the key prefix holds a control character");
        }
        return new S3Uri(bucket, prefix);
    }

    /// <summary>The full key of <paramref name="relative"/> under the prefix.</summary>
    public string Key(string relative) => Prefix.Length == 0 ? relative : $"{Prefix}/{relative}";

    /// <summary>An address below this one (for a source file under a prefix).</summary>
    public S3Uri Child(string relative) => new(Bucket, Key(relative.Trim('/')));

    public override string ToString() => Prefix.Length == 0 ? $"{Scheme}{Bucket}" : $"{Scheme}{Bucket}/{Prefix}";
}
