using Hyprstream.Replication;

namespace Hyprstream.Tests.Replication;

/// <summary>The object-store client against a real Ceph RGW: checksums on every object, conditional PUTs, listing, errors.</summary>
[TestFixture]
public sealed class ObjectStoreTests
{
    [Test]
    public async Task PutGet_RoundTrips_AndEveryObjectIsVerified()
    {
        using var store = Ceph.NewBucket(Ceph.Cluster);
        var data = new byte[3 << 20];
        Random.Shared.NextBytes(data);
        var etag = await store.PutAsync("a/b.bin", data);
        var got = await store.GetAsync("a/b.bin");
        Assert.That(got!.Data, Is.EqualTo(data));
        Assert.That(got.ETag, Is.EqualTo(etag));
        Assert.That(await store.GetAsync("missing"), Is.Null);

        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"obj-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(file, data.AsSpan(0, 1000).ToArray());
            await store.PutFileAsync("a/file.bin", file);
            File.Delete(file);
            Assert.That(await store.GetToFileAsync("a/file.bin", file), Is.True);
            Assert.That(File.ReadAllBytes(file), Is.EqualTo(data.AsSpan(0, 1000).ToArray()));
            Assert.That(await store.GetToFileAsync("nothing", file + ".x"), Is.False);
            Assert.That(File.Exists(file + ".x"), Is.False);
        }
        finally { File.Delete(file); }

        var listed = await store.ListAsync("a/");
        Assert.That(listed.Select(o => o.Key), Is.EqualTo(new[] { "a/b.bin", "a/file.bin" }));
        await store.DeleteAsync("a/b.bin");
        await store.DeleteAsync("a/b.bin");
        Assert.That(await store.HeadAsync("a/b.bin"), Is.Null);
    }

    [Test]
    public async Task ConditionalPuts_CreateOnce_AndReplaceOnlyTheVersionRead()
    {
        using var store = Ceph.NewBucket(Ceph.Cluster);
        var first = await store.PutAsync("lease", "one"u8.ToArray(), ifNoneMatch: true);
        var again = Assert.ThrowsAsync<ObjectChangedException>(() => store.PutAsync("lease", "two"u8.ToArray(), ifNoneMatch: true));
        Assert.That(again!.Message, Does.Contain("already exists"));
        var second = await store.PutAsync("lease", "three"u8.ToArray(), ifMatch: first);
        var stale = Assert.ThrowsAsync<ObjectChangedException>(() => store.PutAsync("lease", "four"u8.ToArray(), ifMatch: first));
        Assert.That(stale!.Message, Does.Contain("changed since"));
        Assert.That((await store.GetAsync("lease"))!.Data, Is.EqualTo("three"u8.ToArray()));
        Assert.That((await store.GetAsync("lease"))!.ETag, Is.EqualTo(second));
    }

    [Test]
    public async Task ForeignAndDamagedObjects_AreRefused_NeverReturned()
    {
        var rgw = Ceph.Cluster;
        using var store = Ceph.NewBucket(rgw);
        // Written by another tool: no checksum metadata.
        using var raw = ObjectStore.CreateClient(Ceph.Settings(rgw));
        await raw.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = store.Root.Bucket, Key = store.Root.Key("foreign"), ContentBody = "hello" });
        var foreign = Assert.ThrowsAsync<DamagedObjectException>(() => store.GetAsync("foreign"));
        Assert.That(foreign!.Message, Does.Contain("not written by this store"));
        Assert.That((await store.GetAsync("foreign", verify: false))!.Data, Is.EqualTo("hello"u8.ToArray()));

        // Ours, then overwritten with other bytes that keep our metadata (a bit flip at rest, as far as we can tell).
        await store.PutAsync("flipped", new byte[] { 1, 2, 3, 4 });
        var head = await raw.GetObjectMetadataAsync(store.Root.Bucket, store.Root.Key("flipped"));
        var forged = new Amazon.S3.Model.PutObjectRequest { BucketName = store.Root.Bucket, Key = store.Root.Key("flipped"), InputStream = new MemoryStream([1, 2, 3, 5]) };
        foreach (var k in head.Metadata.Keys) forged.Metadata[k] = head.Metadata[k];
        await raw.PutObjectAsync(forged);
        var flipped = Assert.ThrowsAsync<DamagedObjectException>(() => store.GetAsync("flipped"));
        Assert.That(flipped!.Message, Does.Contain("damaged").And.Contain("CRC32C"));
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"flip-{Guid.NewGuid():N}.bin");
        Assert.ThrowsAsync<DamagedObjectException>(() => store.GetToFileAsync("flipped", file));
        Assert.That(File.Exists(file), Is.False, "a damaged download leaves nothing behind");
    }

    [Test]
    public void AnUnreachableStore_IsAClearError()
    {
        using var store = new ObjectStore(new S3Uri("nowhere", "p"), new ObjectStoreSettings
        {
            Endpoint = "http://127.0.0.1:9", AccessKey = "a", SecretKey = "b", Timeout = TimeSpan.FromSeconds(2), MaxRetries = 0,
        });
        var e = Assert.ThrowsAsync<IOException>(() => store.GetAsync("k"));
        Assert.That(e!.Message, Does.Contain("http://127.0.0.1:9").And.Contain("reading s3://nowhere/p/k"));
    }

    [TestCase("s3://bucket/a/b", "bucket", "a/b")]
    [TestCase("S3://my.bucket-1", "my.bucket-1", "")]
    [TestCase("s3://bkt/a/b/", "bkt", "a/b")]
    public void S3Uris_Parse(string text, string bucket, string prefix)
    {
        var u = S3Uri.Parse(text);
        Assert.That((u.Bucket, u.Prefix), Is.EqualTo((bucket, prefix)));
    }

    [TestCase("http://bucket/x")]
    [TestCase("s3://")]
    [TestCase("s3://UPPER/x")]
    [TestCase("s3://bucket/../x")]
    [TestCase("s3://bucket/a//b")]
    [TestCase("s3://-bad/x")]
    public void BadS3Uris_AreRefused(string text) =>
        Assert.Throws<FormatException>(() => S3Uri.Parse(text));

    [Test]
    public void Settings_ComeFromTheStandardVariables_AndAnExplicitEndpointWins()
    {
        var env = new Dictionary<string, string?>
        {
            ["AWS_ENDPOINT_URL"] = "http://generic:1", ["AWS_ENDPOINT_URL_S3"] = "http://s3only:2", ["AWS_DEFAULT_REGION"] = "eu-west-1",
            ["AWS_ACCESS_KEY_ID"] = "ak", ["AWS_SECRET_ACCESS_KEY"] = "sk",
        };
        var s = ObjectStoreSettings.FromEnvironment(null, k => env.GetValueOrDefault(k));
        Assert.That((s.Endpoint, s.Region, s.AccessKey, s.SecretKey), Is.EqualTo(("http://s3only:2", "eu-west-1", "ak", "sk")));
        Assert.That(ObjectStoreSettings.FromEnvironment("http://flag:3", k => env.GetValueOrDefault(k)).Endpoint, Is.EqualTo("http://flag:3"));
        Assert.Throws<FormatException>(() => ObjectStoreSettings.FromEnvironment("ftp://x", _ => null));
    }
}
