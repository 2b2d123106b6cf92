using Hyprstream.Replication;

namespace Hyprstream.Service;

/// <summary>
/// The object-store prefixes the `load` action may read adapters from (`serve --allow-source s3://bucket/prefix`,
/// repeatable), and how to reach them (the standard AWS variables, or `--s3-endpoint`). A URI outside every allowed
/// prefix is refused: a client's request never makes the server read a bucket its operator did not name.
/// </summary>
public sealed class RemoteSources(IReadOnlyList<S3Uri> allowed, ObjectStoreSettings settings)
{
    public IReadOnlyList<S3Uri> Allowed { get; } = allowed;
    public ObjectStoreSettings Settings { get; } = settings;

    /// <summary>The parsed URI when an allowed prefix holds it; throws a clear refusal otherwise.</summary>
    public S3Uri Check(string uri)
    {
        if (!S3Uri.IsS3(uri)) throw ErrorMapping.Invalid($"'uri' must be an s3://bucket/key address of a .vdb file, not '{uri}'");
        S3Uri parsed;
        try { parsed = S3Uri.Parse(uri); }
        catch (FormatException e) { throw ErrorMapping.Invalid(e.Message); }
        if (!parsed.Prefix.EndsWith(".vdb", StringComparison.Ordinal))
            throw ErrorMapping.Invalid($"'{uri}' does not name a .vdb file");
        if (!Allowed.Any(a => a.Bucket == parsed.Bucket && (a.Prefix.Length == 0 || parsed.Prefix.StartsWith(a.Prefix + "/", StringComparison.Ordinal))))
            throw ErrorMapping.Denied(Allowed.Count == 0
                ? $"this server reads no adapters from object stores (start it with --allow-source s3://bucket/prefix to allow '{uri}')"
                : $"'{uri}' is outside the sources this server may read ({string.Join(", ", Allowed)})");
        return parsed;
    }
}
