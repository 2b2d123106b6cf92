using Hyprstream.Runtime;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// The read form on disk: each checkpoint writes the adapter's NanoVDB snapshot file beside its .vdb; a cold adapter
/// is read from that file mapped (rows, tiles, info, the apply tier's snapshot) without building a grid, is promoted
/// to a grid only when written, and a snapshot file that is damaged or missing is rebuilt from the .vdb, never served.
/// </summary>
[TestFixture]
public sealed class ColdReadTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    private const string V = "model.layers.1.self_attn.v_proj";
    private static readonly StoreOptions NoBackground = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always };

    /// <summary>Two modules (one with an edge tile), whole tiles and single weights, a pruned weight, metadata, provenance.</summary>
    private static AdapterBatch Content()
    {
        var rnd = new Random(7);
        var tiles = new float[3 * 512];
        for (int i = 0; i < tiles.Length; i++) tiles[i] = (float)(rnd.NextDouble() - 0.5);
        // Tiles (0, 1) and (1, 1) of a 20x100 module are edge tiles: their padding (rows ≥ 20, cols ≥ 100) must be 0.
        int[] tileRows = [0, 0, 1], tileCols = [0, 1, 1];
        for (int t = 0; t < 3; t++)
            for (int r = 0; r < 8; r++)
                for (int c = 0; c < 64; c++)
                    if (tileRows[t] * 8 + r >= 20 || tileCols[t] * 64 + c >= 100) tiles[t * 512 + r * 64 + c] = 0f;
        return new AdapterBatch()
            .DefineModule(Q, 20, 100, 0.5f)
            .DefineModule(V, 64, 128, 2f)
            .SetTiles(Q, tileRows, tileCols, tiles)
            .Set(V, [0, 5, 63, 63], [0, 7, 127, 1], [1f, -2f, 3f, 1e-6f])
            .Prune(1e-5f)
            .SetMetadata("task", "math")
            .SetProvenance("source", "test");
    }

    private static List<(int, int, float)> Rows(IModuleSource m)
    {
        var list = new List<(int, int, float)>();
        using var cursor = m.OpenWeights();
        var r = new int[5]; var c = new int[5]; var v = new float[5];  // small chunks: the cursor resumes mid-tile
        int n;
        while ((n = cursor.Read(r, c, v)) > 0) for (int i = 0; i < n; i++) list.Add((r[i], c[i], v[i]));
        return list;
    }

    private static List<(int, int, float[])> Tiles(IModuleSource m)
    {
        var list = new List<(int, int, float[])>();
        using var cursor = m.OpenTiles();
        var r = new int[2]; var c = new int[2]; var v = new float[2 * 512];
        int n;
        while ((n = cursor.Read(r, c, v)) > 0) for (int i = 0; i < n; i++) list.Add((r[i], c[i], v.AsSpan(i * 512, 512).ToArray()));
        return list;
    }

    private static (Dictionary<string, List<(int, int, float)>> Rows, Dictionary<string, List<(int, int, float[])>> Tiles) ReadAll(AdapterReader reader) =>
        (reader.Modules.ToDictionary(m => m.Name, Rows), reader.Modules.ToDictionary(m => m.Name, Tiles));

    [Test]
    public void Checkpoint_WritesASnapshotFileBesideTheVdb_HoldingTheSameAdapter()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        s.Create("a", "test/base", Content());
        s.Checkpoint();
        var folder = Path.Combine(dir.Path, AdapterStore.CheckpointFolder);
        var vdb = Directory.GetFiles(folder, "*.vdb").Single();
        var nvdb = Directory.GetFiles(folder, "*.nvdb").Single();
        Assert.That(Path.GetFileNameWithoutExtension(nvdb), Is.EqualTo(Path.GetFileNameWithoutExtension(vdb)), "same stem and sequence");
        using var fromVdb = SparseAdapter.Load(vdb);
        using var snap = AdapterSnapshot.Map(nvdb, verifyChecksum: true);
        Assert.That(snap.IsMapped, Is.True);
        Assert.That(snap.BaseModel, Is.EqualTo("test/base"));
        Assert.That(snap.Metadata["task"], Is.EqualTo("math"));
        Assert.That(snap.Provenance["source"], Is.EqualTo("test"));
        var info = snap.Describe();
        var expected = fromVdb.Describe();
        Assert.That(info.ActiveCount, Is.EqualTo(expected.ActiveCount));
        Assert.That(info.Modules.Select(m => (m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.ActiveCount, m.TileCount)),
            Is.EqualTo(expected.Modules.Select(m => (m.Name, m.Layer, m.Rows, m.Cols, m.Scale, m.ActiveCount, fromVdb.Modules[m.Name].TileCount))));
        foreach (var m in fromVdb.Modules)
            Assert.That(snap.ToDense(m.Name), Is.EqualTo(m.ToDense()), m.Name);
    }

    [Test]
    public void ColdRead_IsServedFromTheMappedSnapshot_RowsTilesAndInfoEqualTheGrid_AndNothingIsPromoted()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        s.Create("a", "test/base", Content());
        (Dictionary<string, List<(int, int, float)>> Rows, Dictionary<string, List<(int, int, float[])>> Tiles) hot;
        using (var reader = s.OpenRead("a"))
        {
            Assert.That(reader.Adapter, Is.Not.Null, "just created: in L1");
            hot = ReadAll(reader);
        }
        var hotInfo = s.Info("a");
        Assert.That(s.Evict("a"), Is.True, "written back: checkpoint + snapshot file");
        Assert.That(s.TierOf("a"), Is.Null);

        using (var reader = s.OpenRead("a"))
        {
            Assert.That(reader.Adapter, Is.Null);
            Assert.That(reader.Snapshot!.IsMapped, Is.True);
            var cold = ReadAll(reader);
            Assert.That(cold.Rows.Keys, Is.EqualTo(hot.Rows.Keys), "modules in the adapter's order");
            foreach (var m in hot.Rows.Keys)
            {
                Assert.That(cold.Rows[m], Is.EqualTo(hot.Rows[m]), $"rows of {m}");
                Assert.That(cold.Tiles[m].Select(t => (t.Item1, t.Item2)), Is.EqualTo(hot.Tiles[m].Select(t => (t.Item1, t.Item2))), $"tiles of {m}");
                for (int i = 0; i < hot.Tiles[m].Count; i++) Assert.That(cold.Tiles[m][i].Item3, Is.EqualTo(hot.Tiles[m][i].Item3));
            }
            Assert.That(hot.Rows[V].Select(w => (w.Item1, w.Item2)), Is.EqualTo(new[] { (0, 0), (5, 7), (63, 127) }), "the pruned weight is not stored");
        }
        var coldInfo = s.Info("a");
        Assert.That(coldInfo.Modules.Select(m => (m.Name, m.ActiveCount, m.TileCount)), Is.EqualTo(hotInfo.Modules.Select(m => (m.Name, m.ActiveCount, m.TileCount))));
        Assert.That(coldInfo.Metadata["task"], Is.EqualTo("math"));
        using (s.OpenRead("a")) { }
        var st = s.Stats();
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L3), "reads never promote a cold adapter: its file stays mapped in L3");
        Assert.That(st.Cache.SnapshotMaps, Is.EqualTo(1), "mapped once");
        Assert.That(st.Cache.SnapshotHits, Is.GreaterThanOrEqualTo(1), "then shared");
        Assert.That(st.Promotions, Is.Zero);
        Assert.That(st.Cache.ColdLoads, Is.Zero, "no .vdb was loaded");
    }

    [Test]
    public void ColdWrite_PromotesTheSnapshotByCopyingLeaves_KeepingEveryWeightAndItsMetadata()
    {
        using var dir = new TempDir();
        long hash;
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("a", "test/base", Content());
            hash = s.Read("a", a => a.ContentHash());
            Assert.That(s.Evict("a"), Is.True);
            s.Apply("a", new AdapterBatch().Add(V, [5], [7], [1f]));
            Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L1), "a write promotes");
            var st = s.Stats();
            Assert.That(st.Promotions, Is.EqualTo(1));
            Assert.That(st.PromotedWeights, Is.EqualTo(s.Info("a").ActiveCount));
            s.Read("a", a =>
            {
                Assert.That(a.Modules[V].Get(5, 7), Is.EqualTo(-1f));
                Assert.That(a.Modules[V].IsActive(63, 1), Is.False, "pruned stays pruned (masks copied)");
                Assert.That(a.Modules[Q].Scale, Is.EqualTo(0.5f));
                Assert.That(a.Metadata["task"], Is.EqualTo("math"));
                Assert.That(a.Provenance["source"], Is.EqualTo("test"));
                Assert.That(a.BaseModel, Is.EqualTo("test/base"));
                return 0;
            });
            s.Apply("a", new AdapterBatch().Add(V, [5], [7], [-1f]));
            Assert.That(s.Read("a", a => a.ContentHash()), Is.EqualTo(hash), "back to the same weights, bit for bit");
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Read("a", a => a.ContentHash()), Is.EqualTo(hash), "and after a replay");
    }

    [TestCase("bitflip")]
    [TestCase("truncated")]
    [TestCase("missing")]
    [TestCase("foreign")]
    public void DamagedSnapshotFile_IsNeverServed_ItIsRebuiltFromTheVdbAndLogged(string damage)
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("a", "test/base", Content());
            s.Create("other", null, new AdapterBatch().DefineModule(Q, 8, 64).Set(Q, [1], [2], [9f]));
            s.Checkpoint();
        }
        var folder = Path.Combine(dir.Path, AdapterStore.CheckpointFolder);
        var nvdb = Directory.GetFiles(folder, "a-*.nvdb").Single();
        var bytes = File.ReadAllBytes(nvdb);
        switch (damage)
        {
            case "bitflip": bytes[^100] ^= 0x10; File.WriteAllBytes(nvdb, bytes); break;   // a weight: only the CRC sees it
            case "truncated": File.WriteAllBytes(nvdb, bytes[..(bytes.Length / 2)]); break;
            case "missing": File.Delete(nvdb); break;
            case "foreign": File.Copy(Directory.GetFiles(folder, "other-*.nvdb").Single(), nvdb, overwrite: true); break; // valid file, other adapter
        }
        var log = new List<string>();
        using var r = AdapterStore.Open(dir.Path, NoBackground with { Log = m => { lock (log) log.Add(m); } });
        using var expected = Content().Build("a", "test/base", validate: true);
        using (var reader = r.OpenRead("a"))
        {
            Assert.That(reader.Snapshot, Is.Not.Null);
            foreach (var m in expected.Modules)
                Assert.That(reader.Snapshot!.ToDense(m.Name), Is.EqualTo(m.ToDense()), m.Name);
        }
        Assert.That(r.Stats().SnapshotRebuilds, Is.EqualTo(1));
        Assert.That(log, Has.Some.Contains("rebuilt from its checkpoint"));
        TestContext.Out.WriteLine(log.Single());
        using var again = AdapterSnapshot.Map(nvdb, verifyChecksum: true); // the rebuilt file is whole
        Assert.That(again.ActiveCount, Is.EqualTo(expected.ActiveCount));
    }

    [Test]
    public void SnapshotFileDamagedInPlace_WhileTheStoreRuns_IsCaughtByTheStructuralCheck()
    {
        using var dir = new TempDir();
        var log = new List<string>();
        using var s = AdapterStore.Open(dir.Path, NoBackground with { Log = m => { lock (log) log.Add(m); } });
        s.Create("a", "test/base", Content());
        Assert.That(s.Evict("a"), Is.True);
        var nvdb = Directory.GetFiles(Path.Combine(dir.Path, AdapterStore.CheckpointFolder), "*.nvdb").Single();
        // A file this process wrote is not re-hashed when mapped; a broken header or structure is still refused.
        var bytes = File.ReadAllBytes(nvdb);
        bytes[0] = (byte)'X';
        File.WriteAllBytes(nvdb, bytes);
        using (var reader = s.OpenRead("a")) Assert.That(reader.Snapshot![V][5, 7], Is.EqualTo(-2f));
        Assert.That(s.Stats().SnapshotRebuilds, Is.EqualTo(1));
        Assert.That(log.Single(), Does.Contain("wrong magic"));
    }

    [Test]
    public void SnapshotTier_TakesTheMappedFileOfAColdAdapter_AndConvertsACachedOne()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, NoBackground);
        s.Create("a", "test/base", Content());
        using var tier = new SnapshotTier(s, 1L << 30);
        using (var hot = tier.Acquire("a")) Assert.That(hot.Snapshot.IsMapped, Is.False, "cached: converted from the grid");
        Assert.That(tier.Evict("a"), Is.True);
        Assert.That(s.Evict("a"), Is.True);
        using var cold = tier.Acquire("a");
        Assert.That(cold.Snapshot.IsMapped, Is.True, "cold: the store's snapshot file, mapped");
        Assert.That(cold.Snapshot[V][63, 127], Is.EqualTo(3f));
        Assert.That(s.TierOf("a"), Is.EqualTo(CacheTier.L3), "mapped, not promoted");
    }

    [Test]
    public void MapAndPromotion_RefuseBadInput_WithClearErrors()
    {
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "none.nvdb");
        Assert.Throws<FileNotFoundException>(() => AdapterSnapshot.Map(missing));
        var notSnapshot = Path.Combine(dir.Path, "text.nvdb");
        File.WriteAllText(notSnapshot, new string('x', 100));
        Assert.That(Assert.Throws<InvalidDataException>(() => AdapterSnapshot.Map(notSnapshot))!.Message, Does.Contain("wrong magic"));
        using var a = Content().Build("a", null, validate: true);
        var fp16 = Path.Combine(dir.Path, "a16.nvdb");
        using (var snap = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16)) snap.Save(fp16);
        using var mapped = AdapterSnapshot.Map(fp16);
        Assert.That(Assert.Throws<ArgumentException>(() => mapped.ToAdapter())!.Message, Does.Contain("float32"));
        Assert.That(mapped[V][63, 127], Is.EqualTo(3f).Within(1e-3), "an Fp16 file still reads, mapped");
    }
}
