using Amazon.S3.Model;
using Grpc.Core;
using Hyprstream.Replication;
using Hyprstream.Runtime;
using Hyprstream.Tests.Service;

namespace Hyprstream.Tests.Replication;

/// <summary>
/// Adapters read by address from a real object store (Ceph RGW), uploaded the way users do it (a plain PUT, no
/// hyprstream checksum): `hyprstream info s3://…/x.vdb`, `import-peft s3://…/folder`, and the `load` action with a
/// uri under an allowed prefix.
/// </summary>
[TestFixture]
public sealed class AdapterSourceTests
{
    private static async Task Upload(CephRgw rgw, string bucket, string key, string file)
    {
        using var s3 = ObjectStore.CreateClient(Ceph.Settings(rgw));
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, FilePath = file });
    }

    /// <summary>Weight for weight (a dictionary comparison: NUnit's Is.EquivalentTo is quadratic on large collections).</summary>
    internal static void SameWeights(SparseAdapter actual, SparseAdapter expected)
    {
        var a = Fixtures.Snapshot(actual);
        var e = Fixtures.Snapshot(expected);
        Assert.That(a, Has.Count.EqualTo(e.Count));
        var wrong = e.Where(kv => !a.TryGetValue(kv.Key, out var v) || v != kv.Value).Take(3).ToList();
        Assert.That(wrong, Is.Empty, "weights that differ (module, row, col)");
    }

    private static string NewBucket(CephRgw rgw)
    {
        using var store = Ceph.NewBucket(rgw, "");
        return store.Root.Bucket;
    }

    [Test]
    public async Task Info_ReadsAVdbByItsS3Address_AndAMissingOneIsAClearError()
    {
        var rgw = Ceph.Cluster;
        var bucket = NewBucket(rgw);
        using var dir = new TempDir();
        using (var a = Fixtures.Small("remote-info")) a.Save(dir.File("x.vdb"));
        await Upload(rgw, bucket, "adapters/x.vdb", dir.File("x.vdb"));

        var (code, stdout, stderr) = await ServeProcess.RunAsync(["info", $"s3://{bucket}/adapters/x.vdb", "--json"], Ceph.Environment(rgw));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("remote-info").And.Contain($"s3://{bucket}/adapters/x.vdb"));

        (code, _, stderr) = await ServeProcess.RunAsync(["info", $"s3://{bucket}/adapters/none.vdb"], Ceph.Environment(rgw));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain($"s3://{bucket}/adapters/none.vdb does not exist"));
    }

    [Test]
    public async Task ImportPeft_FromAnS3Folder_EqualsTheLocalImport()
    {
        var rgw = Ceph.Cluster;
        var bucket = NewBucket(rgw);
        using var dir = new TempDir();
        var lora = PeftFixtures.WriteLora(dir.File("tutor"));
        foreach (var f in Directory.GetFiles(lora.Dir))
            await Upload(rgw, bucket, $"peft/tutor/{Path.GetFileName(f)}", f);
        // Something in a sub-folder (a checkpoint dir) is not part of the adapter.
        await Upload(rgw, bucket, "peft/tutor/checkpoint-1/junk.bin", Directory.GetFiles(lora.Dir)[0]);

        var env = Ceph.Environment(rgw);
        var (code, _, stderr) = await ServeProcess.RunAsync(["import-peft", $"s3://{bucket}/peft/tutor", "-o", dir.File("remote.vdb"), "--density", "0.2"], env);
        Assert.That(code, Is.EqualTo(0), stderr);
        (code, _, stderr) = await ServeProcess.RunAsync(["import-peft", lora.Dir, "-o", dir.File("local.vdb"), "--density", "0.2"], env);
        Assert.That(code, Is.EqualTo(0), stderr);
        using var remote = SparseAdapter.Load(dir.File("remote.vdb"));
        using var local = SparseAdapter.Load(dir.File("local.vdb"));
        Assert.That(remote.Name, Is.EqualTo("tutor"), "named after the folder, as a local import is");
        SameWeights(remote, local);

        (code, _, stderr) = await ServeProcess.RunAsync(["import-peft", $"s3://{bucket}/peft/nothing-here", "-o", dir.File("n.vdb")], env);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("no objects under"));
        Assert.That(File.Exists(dir.File("n.vdb")), Is.False);
    }

    [Test]
    public async Task LoadAction_ReadsAnAllowedUri_AndRefusesEverythingElse()
    {
        var rgw = Ceph.Cluster;
        var bucket = NewBucket(rgw);
        using var dir = new TempDir();
        using var original = Fixtures.Small("whatever", seed: 11);
        original.Save(dir.File("x.vdb"));
        await Upload(rgw, bucket, "adapters/x.vdb", dir.File("x.vdb"));
        await Upload(rgw, bucket, "private/x.vdb", dir.File("x.vdb"));
        File.WriteAllBytes(dir.File("junk.vdb"), new byte[4096]);
        await Upload(rgw, bucket, "adapters/junk.vdb", dir.File("junk.vdb"));

        await using var s = await FlightServer.StartAsync(configure: o => o with
        {
            AllowedSources = [S3Uri.Parse($"s3://{bucket}/adapters")],
            ObjectStoreSettings = Ceph.Settings(rgw),
        });
        var loaded = await FlightActionAuthTests.Act(s.Client, "load", new { adapter = "remote", uri = $"s3://{bucket}/adapters/x.vdb" });
        Assert.That(loaded.GetProperty("from").GetString(), Is.EqualTo($"s3://{bucket}/adapters/x.vdb"));
        using (var got = s.Host.Store.Store.Get("remote"))
            SameWeights(got, original);
        using (var durable = s.Durable("remote")!)
            SameWeights(durable, original); // a loaded adapter is durable

        async Task<StatusCode> Refused(string uri)
        {
            var e = Assert.ThrowsAsync<RpcException>(() => FlightActionAuthTests.Act(s.Client, "load", new { adapter = "other", uri }));
            return e!.StatusCode;
        }
        Assert.That(await Refused($"s3://{bucket}/private/x.vdb"), Is.EqualTo(StatusCode.PermissionDenied), "outside the allowed prefix");
        Assert.That(await Refused($"s3://{bucket}/adaptersX/x.vdb"), Is.EqualTo(StatusCode.PermissionDenied), "a prefix is a folder, not a string prefix");
        Assert.That(await Refused($"s3://{bucket}/adapters/../private/x.vdb"), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(await Refused($"s3://{bucket}/adapters/missing.vdb"), Is.EqualTo(StatusCode.NotFound));
        Assert.That(await Refused("/etc/passwd"), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(await Refused($"s3://{bucket}/adapters/junk.vdb"), Is.Not.EqualTo(StatusCode.OK));
        Assert.That(s.Host.Store.Store.Contains("other"), Is.False, "nothing refused was created");
    }
}
