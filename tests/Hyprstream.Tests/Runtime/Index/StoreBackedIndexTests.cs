using Hyprstream.Runtime;
using Hyprstream.Runtime.Index;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// The index on an adapter store: embeddings are the adapters' descriptions in the store's log and checkpoints, the
/// graph file is a cache reconciled with the store on open, and an adapter's deletion takes its embedding along.
/// </summary>
public class StoreBackedIndexTests
{
    private static string Folder(TempDir dir) => Path.Combine(dir.Path, "index");
    private static AdapterStore OpenStore(TempDir dir) => AdapterStore.Open(Path.Combine(dir.Path, "store"));
    private static List<string> Top(AdapterIndex index, double[] q, int k = 10) => index.Search(q, k, ef: 200).Select(h => h.Adapter).ToList();
    private static List<string> Exact(AdapterIndex index, double[] q, int k = 10) => index.SearchExact(q, k).Select(h => h.Adapter).ToList();

    private static void CreateAdapters(AdapterStore store, int n)
    {
        for (int i = 0; i < n; i++) store.Create($"a{i}");
    }

    [Test]
    public void Upsert_IsTheAdaptersDescriptionInTheStore_AndARestartWithoutTheGraphFileBuildsItFromTheStore()
    {
        using var dir = new TempDir();
        var data = IndexData.Clustered(300, 16, 5, 1);
        var q = IndexData.Clustered(1, 16, 5, 2)[0];
        List<string> before;
        using (var store = OpenStore(dir))
        {
            CreateAdapters(store, 300);
            using var index = AdapterIndex.CreateOnStore(store, Folder(dir), 16, DistanceMetric.L2);
            for (int i = 0; i < data.Length; i++) index.Upsert($"a{i}", data[i], [$"tenant={i % 3}"]);
            before = Top(index, q);
            var (tags, v) = store.Description("a7");
            Assert.That(tags, Is.EqualTo(new[] { "tenant=1" }));
            Assert.That(v, Is.EqualTo(data[7].Select(x => (float)x).ToArray()));
        }
        foreach (var f in Directory.GetFiles(Folder(dir), AdapterIndex.GraphCacheFile + "*")) File.Delete(f);

        using var store2 = OpenStore(dir);
        using var reopened = AdapterIndex.OpenOnStore(store2, Folder(dir))!;
        Assert.That(reopened.Metric, Is.EqualTo(DistanceMetric.L2));
        Assert.That(reopened.Count, Is.EqualTo(300));
        Assert.That(reopened.Recovery.Snapshot, Is.Null);
        Assert.That(reopened.Recovery.RecordsReplayed, Is.EqualTo(300));
        Assert.That(Top(reopened, q), Is.EqualTo(before));
        Assert.That(reopened.Search(q, 5, new IndexFilter { Tenant = "2" }).All(h => int.Parse(h.Adapter[1..]) % 3 == 2), Is.True);
    }

    [Test]
    public void AStaleGraphFile_IsReconciledWithTheStore_OnOpen()
    {
        using var dir = new TempDir();
        var data = IndexData.Random(200, 8, 3);
        var moved = IndexData.Random(10, 8, 4);
        var added = IndexData.Random(20, 8, 6);
        string cache = Path.Combine(Folder(dir), AdapterIndex.GraphCacheFile), stale = cache + ".stale";
        using (var store = OpenStore(dir))
        {
            CreateAdapters(store, 220);
            using var index = AdapterIndex.CreateOnStore(store, Folder(dir), 8, DistanceMetric.L2);
            for (int i = 0; i < 200; i++) index.Upsert($"a{i}", data[i]);
            index.Snapshot();
            File.Copy(cache, stale);
            for (int i = 200; i < 220; i++) index.Upsert($"a{i}", added[i - 200]);  // new after the cache
            for (int i = 0; i < 10; i++) index.Upsert($"a{i}", moved[i]);            // changed
            for (int i = 10; i < 15; i++) Assert.That(index.Remove($"a{i}"), Is.True); // embedding removed
            for (int i = 15; i < 20; i++) store.Delete($"a{i}");                    // adapter deleted
            Assert.That(index.Count, Is.EqualTo(210));
        }
        File.Copy(stale, cache, overwrite: true); // as if the process died before writing the cache again

        using var store2 = OpenStore(dir);
        using var reopened = AdapterIndex.OpenOnStore(store2, Folder(dir))!;
        Assert.That(reopened.Recovery.Snapshot, Is.EqualTo(AdapterIndex.GraphCacheFile));
        Assert.That(reopened.Recovery.RecordsReplayed, Is.EqualTo(20 + 10 + 10 + 5 + 5)); // 20 added, 10 out + 10 in, 10 removed
        Assert.That(reopened.Count, Is.EqualTo(210));
        for (int i = 10; i < 20; i++) Assert.That(reopened.Contains($"a{i}"), Is.False, $"a{i}");
        for (int i = 0; i < 10; i++) Assert.That(reopened.Search(moved[i], 1, ef: 100)[0], Is.EqualTo(new IndexHit($"a{i}", 0)));
        foreach (var q in IndexData.Random(20, 8, 5)) Assert.That(Top(reopened, q), Is.EqualTo(Exact(reopened, q)));
    }

    [Test]
    public void DeletingOrReplacingAnAdapter_RemovesItsEmbedding()
    {
        using var dir = new TempDir();
        using var store = OpenStore(dir);
        CreateAdapters(store, 3);
        using var index = AdapterIndex.CreateOnStore(store, Folder(dir), 2, DistanceMetric.L2);
        index.Upsert("a0", new[] { 1.0, 0 });
        index.Upsert("a1", new[] { 0.0, 1 });
        index.Upsert("a2", new[] { 1.0, 1 });
        store.Delete("a0");
        store.Create("a1", null, new AdapterBatch(), replace: true);
        Assert.That(index.Contains("a0"), Is.False);
        Assert.That(index.Contains("a1"), Is.False);
        Assert.That(index.Search(new[] { 1.0, 0 }, 3).Select(h => h.Adapter), Is.EqualTo(new[] { "a2" }));
        Assert.That(store.Description("a1").Embedding, Is.Null);
    }

    [Test]
    public void BadUpserts_AreRefused_AndLogNothing()
    {
        using var dir = new TempDir();
        using var store = OpenStore(dir);
        CreateAdapters(store, 1);
        using var index = AdapterIndex.CreateOnStore(store, Folder(dir), 3, DistanceMetric.Poincare);
        long records = store.Stats().WalRecordsAppended;
        Assert.Throws<KeyNotFoundException>(() => index.Upsert("missing", new[] { 0.1, 0, 0 }));
        var nearRim = Assert.Throws<ArgumentException>(() => index.Upsert("a0", new[] { 1 - 1e-9, 0, 0 }));
        Assert.That(nearRim!.Message, Does.Contain("rim"));
        Assert.Throws<ArgumentException>(() => index.Upsert("a0", new[] { 0.1, 0 }));
        Assert.Throws<ArgumentException>(() => index.Upsert("a0", new[] { double.NaN, 0, 0 }));
        Assert.That(store.Stats().WalRecordsAppended, Is.EqualTo(records));
        Assert.That(index.Count, Is.EqualTo(0));
        index.Upsert("a0", new[] { 0.5, 0, 0 });
        Assert.That(index.Search(new[] { 0.5, 0, 0 }, 1)[0].Distance, Is.EqualTo(0).Within(1e-12));
    }

    [Test]
    public void ADamagedSettingsFile_IsAClearError()
    {
        using var dir = new TempDir();
        using var store = OpenStore(dir);
        CreateAdapters(store, 1);
        using (var index = AdapterIndex.CreateOnStore(store, Folder(dir), 2, DistanceMetric.L2)) index.Upsert("a0", new[] { 1.0, 0 });
        File.WriteAllText(Path.Combine(Folder(dir), AdapterIndex.SettingsFile), "{\"metric\": \"l2\"");
        var e = Assert.Throws<InvalidDataException>(() => AdapterIndex.OpenOnStore(store, Folder(dir)));
        Assert.That(e!.Message, Does.Contain(AdapterIndex.SettingsFile).And.Contain("damaged"));
        Assert.That(store.Description("a0").Embedding, Is.EqualTo(new[] { 1f, 0f }), "the embedding is untouched");
    }
}
