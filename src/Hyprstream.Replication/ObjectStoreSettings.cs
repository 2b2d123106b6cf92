namespace Hyprstream.Replication;

/// <summary>
/// How to reach the object store: the endpoint (null: AWS itself, by region), the region, the credentials. Read from
/// the standard AWS variables, as every AWS tool does: AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), AWS_REGION (else
/// AWS_DEFAULT_REGION, else us-east-1), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. An explicit
/// endpoint (<c>--s3-endpoint</c>) wins over the variables. With an endpoint, keys are addressed path-style
/// (http://host/bucket/key), which S3-compatible stores (Ceph RGW, MinIO) expect.
/// </summary>
public sealed record ObjectStoreSettings
{
    public string? Endpoint { get; init; }
    public string Region { get; init; } = "us-east-1";
    public string? AccessKey { get; init; }
    public string? SecretKey { get; init; }
    public string? SessionToken { get; init; }
    /// <summary>Path-style addressing; on by default whenever an endpoint is set.</summary>
    public bool? ForcePathStyle { get; init; }
    /// <summary>How long one request may take before it is abandoned (and retried by the SDK).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Retries of a failed request (the SDK's standard backoff).</summary>
    public int MaxRetries { get; init; } = 3;

    public static ObjectStoreSettings FromEnvironment(string? endpoint = null, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        static string? Value(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
        var ep = Value(endpoint) ?? Value(env("AWS_ENDPOINT_URL_S3")) ?? Value(env("AWS_ENDPOINT_URL"));
        if (ep != null && (!Uri.TryCreate(ep, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https")))
            throw new FormatException($"the object store endpoint '{ep}' is not an http:// or https:// URL");
        return new ObjectStoreSettings
        {
            Endpoint = ep,
            Region = Value(env("AWS_REGION")) ?? Value(env("AWS_DEFAULT_REGION")) ?? "us-east-1",
            AccessKey = Value(env("AWS_ACCESS_KEY_ID")),
            SecretKey = Value(env("AWS_SECRET_ACCESS_KEY")),
            SessionToken = Value(env("AWS_SESSION_TOKEN")),
        };
    }
}
