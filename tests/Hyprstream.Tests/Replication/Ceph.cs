using Hyprstream.Replication;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// The real object store the replication tests run against: one Ceph cluster with its radosgw on loopback, started on
/// first use and shared by the tests that leave it running (each works in a bucket of its own); tests that stop the
/// gateway start their own with <see cref="StartPrivate"/>. Stopped by PID when the run ends (<see cref="CephTeardown"/>).
/// Where Ceph is not installed the tests are ignored with the reason, unless HYPRSTREAM_REQUIRE_CEPH=1 (CI): then
/// they fail.
/// </summary>
internal static class Ceph
{
    private static readonly Lazy<CephRgw> Shared = new(() => StartPrivate(), LazyThreadSafetyMode.ExecutionAndPublication);

    public static CephRgw Cluster
    {
        get
        {
            RequireInstalled();
            return Shared.Value;
        }
    }

    public static void RequireInstalled()
    {
        if (CephRgw.Unavailable() is not { } why) return;
        if (System.Environment.GetEnvironmentVariable("HYPRSTREAM_REQUIRE_CEPH") == "1")
            Assert.Fail(why + " (HYPRSTREAM_REQUIRE_CEPH=1: the object-store tests must run here)");
        Assert.Ignore(why + "; ./build.sh test installs it");
    }

    public static CephRgw StartPrivate()
    {
        RequireInstalled();
        return CephRgw.Start(line => TestContext.Progress.WriteLine("ceph: " + line));
    }

    /// <summary>The settings a client (or a `hyprstream` child, through <see cref="Environment"/>) uses to reach <paramref name="rgw"/>.</summary>
    public static ObjectStoreSettings Settings(CephRgw rgw) => new()
    {
        Endpoint = rgw.Endpoint, AccessKey = CephRgw.AccessKey, SecretKey = CephRgw.SecretKey, Region = "us-east-1",
        Timeout = TimeSpan.FromSeconds(10), MaxRetries = 1,
    };

    /// <summary>The standard AWS variables for a child process.</summary>
    public static Dictionary<string, string?> Environment(CephRgw rgw) => new()
    {
        ["AWS_ENDPOINT_URL_S3"] = rgw.Endpoint,
        ["AWS_ENDPOINT_URL"] = null,
        ["AWS_ACCESS_KEY_ID"] = CephRgw.AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = CephRgw.SecretKey,
        ["AWS_REGION"] = "us-east-1",
    };

    /// <summary>A fresh bucket (created) with a store at its root prefix <paramref name="prefix"/>.</summary>
    public static ObjectStore NewBucket(CephRgw rgw, string prefix = "store")
    {
        var uri = new S3Uri("t-" + Guid.NewGuid().ToString("N")[..20], prefix);
        var store = new ObjectStore(uri, Settings(rgw));
        store.EnsureBucketAsync().GetAwaiter().GetResult();
        return store;
    }

    internal static void StopShared()
    {
        if (Shared.IsValueCreated) Shared.Value.Dispose();
    }
}

/// <summary>Stops the shared Ceph cluster when the test run ends.</summary>
[SetUpFixture]
public sealed class CephTeardown
{
    [OneTimeTearDown]
    public void StopCluster() => Ceph.StopShared();
}
