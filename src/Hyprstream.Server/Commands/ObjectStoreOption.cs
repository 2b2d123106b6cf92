using System.CommandLine;
using Hyprstream.Replication;

namespace Hyprstream.Server.Commands;

/// <summary>`--s3-endpoint URL`, shared by the commands that read s3:// addresses; the rest comes from the standard AWS variables.</summary>
internal static class ObjectStoreOption
{
    public static Option<string?> Create() => new("--s3-endpoint")
    {
        Description = "S3-compatible endpoint for s3:// addresses (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS itself); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    };

    public static ObjectStoreSettings Settings(ParseResult r, Option<string?> endpoint) => ObjectStoreSettings.FromEnvironment(r.GetValue(endpoint));
}
