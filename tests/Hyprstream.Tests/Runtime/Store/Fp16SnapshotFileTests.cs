using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// StoreOptions.SnapshotFp16: every checkpoint also writes the adapter's NanoVDB Fp16 snapshot file
/// (`STEM.SEQ.fp16.nvdb`), checked and rebuilt like the float32 one, and an Fp16 snapshot tier maps it for an adapter
/// unchanged since its checkpoint instead of converting, never when the adapter changed after it.
/// </summary>
[TestFixture]
public sealed class Fp16SnapshotFileTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    private const string V = "model.layers.1.self_attn.v_proj";
    private static readonly StoreOptions Fp16 = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always, SnapshotFp16 = true };
    private static readonly StoreOptions Plain = Fp16 with { SnapshotFp16 = false };

    /// <summary>Two modules, whole tiles of varied magnitude (so Fp16 quantization is not exact), single weights, metadata.</summary>
    private static AdapterBatch Content(int seed = 7)
    {
        var rnd = new Random(seed);
        var tiles = new float[3 * 512];
        for (int i = 0; i < tiles.Length; i++) tiles[i] = (float)((rnd.NextDouble() - 0.5) * Math.Pow(10, rnd.Next(-3, 2)));
        return new AdapterBatch()
            .DefineModule(Q, 16, 128, 0.5f)
            .DefineModule(V, 64, 128, 2f)
            .SetTiles(Q, [0, 0, 1], [0, 1, 1], tiles)
            .Set(V, [0, 5, 63], [0, 7, 127], [1f, -2f, 3f])
            .SetMetadata("task", "math");
    }

    private static string Folder(TempDir dir) => Path.Combine(dir.Path, AdapterStore.CheckpointFolder);
    private static string[] Fp16Files(TempDir dir, string pattern = "*") => Directory.GetFiles(Folder(dir), pattern + ".fp16.nvdb");

    /// <summary>What converting the same state gives: the file must hold these very bytes.</summary>
    private static byte[] Converted(AdapterBatch content, string name = "a")
    {
        using var a = content.Build(name, "test/base", validate: true);
        using var snap = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
        return snap.ToArray();
    }

    /// <summary>
    /// The same NanoVDB grid, bit for bit, except for the grid's name and the checksum over it: a snapshot rebuilt from
    /// the .vdb takes the grid name the .vdb load gives (the adapter's), one converted from a fresh build has none.
    /// NanoVDB's GridData: magic at 0, checksum at 8 (8 bytes), grid name at 40 (256 bytes).
    /// </summary>
    private static void AssertSameGrid(byte[] actual, byte[] expected, string because)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), because);
        static byte[] Masked(byte[] g) { var c = (byte[])g.Clone(); c.AsSpan(8, 8).Clear(); c.AsSpan(40, 256).Clear(); return c; }
        Assert.That(Masked(actual), Is.EqualTo(Masked(expected)), because);
    }

    [Test]
    public void Checkpoint_WithTheOption_WritesTheFp16FileBesideTheVdbAndFloat32File_BitIdenticalToAConversion()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, Fp16);
        s.Create("a", "test/base", Content());
        s.Checkpoint();
        var vdb = Directory.GetFiles(Folder(dir), "*.vdb").Single();
        var stem = Path.GetFileNameWithoutExtension(vdb);
        Assert.That(Directory.GetFiles(Folder(dir)).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Is.EqualTo(new[] { $"{stem}.fp16.nvdb", $"{stem}.nvdb", $"{stem}.vdb" }), "the three files of one checkpoint");
        using (var snap = AdapterSnapshot.Map(Path.Combine(Folder(dir), $"{stem}.fp16.nvdb"), verifyChecksum: true))
        {
            Assert.That(snap.Precision, Is.EqualTo(SnapshotPrecision.Fp16));
            Assert.That((snap.Name, snap.BaseModel, snap.Metadata["task"]), Is.EqualTo(("a", "test/base", "math")));
            Assert.That(snap.ToArray(), Is.EqualTo(Converted(Content())), "the NanoVDB grid, bit for bit");
            Assert.That(snap.ByteSize, Is.LessThan(new FileInfo(Path.Combine(Folder(dir), $"{stem}.nvdb")).Length), "smaller than float32");
        }

        // A write-back (an evicted changed adapter) writes both too, and the replaced checkpoint's three files go.
        s.Apply("a", new AdapterBatch().Set(V, [1], [1], [4f]));
        Assert.That(s.Evict("a"), Is.True);
        var after = Directory.GetFiles(Folder(dir)).Select(Path.GetFileName).ToList();
        Assert.That(after, Has.Count.EqualTo(3).And.None.StartsWith(stem + "."), "a new checkpoint's three files, the old ones deleted");
        using var wb = AdapterSnapshot.Map(Fp16Files(dir).Single(), verifyChecksum: true);
        Assert.That(wb.ToArray(), Is.EqualTo(Converted(Content().Set(V, [1], [1], [4f]))));
    }

    [Test]
    public void WithoutTheOption_NoFp16FileIsWritten_AndThoseAnEarlierRunLeftAreRemovedAtOpen()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, Plain))
        {
            s.Create("a", "test/base", Content());
            s.Checkpoint();
            Assert.That(Fp16Files(dir), Is.Empty);
            Assert.That(Directory.GetFiles(Folder(dir)), Has.Length.EqualTo(2), ".vdb and float32 .nvdb only");
        }
        using (var s = AdapterStore.Open(dir.Path, Fp16))
        {
            s.Apply("a", new AdapterBatch().Set(V, [1], [1], [4f]));
            s.Checkpoint();
            Assert.That(Fp16Files(dir), Has.Length.EqualTo(1));
        }
        using (var s = AdapterStore.Open(dir.Path, Fp16))
            Assert.That((Fp16Files(dir).Length, s.Recovery.OrphansRemoved), Is.EqualTo((1, 0)), "kept by a store that writes them");
        using (var s = AdapterStore.Open(dir.Path, Plain))
        {
            Assert.That(Fp16Files(dir), Is.Empty, "a store that does not write them keeps none");
            Assert.That(s.Recovery.OrphansRemoved, Is.EqualTo(1));
            using var tier = new SnapshotTier(s, 1L << 30, precision: SnapshotPrecision.Fp16);
            using var lease = tier.Acquire("a");
            Assert.That(lease.Snapshot.IsMapped, Is.False, "converted: there is no file to map");
            Assert.That(lease.Snapshot.ToArray(), Is.EqualTo(Converted(Content().Set(V, [1], [1], [4f]))));
            Assert.That(tier.Stats().FileLoads, Is.Zero);
        }
    }

    [Test]
    public void Fp16Tier_ServesAnUnchangedAdapterFromTheMappedFile_NoGridNoConversion_AndTheSameGemm()
    {
        using var dir = new TempDir();
        using (var w = AdapterStore.Open(dir.Path, Fp16))
        {
            w.Create("a", "test/base", Content());
            w.Checkpoint();
        }
        using var s = AdapterStore.Open(dir.Path, Fp16);
        using var cpu = new CpuApplier();
        using var tier = new SnapshotTier(s, 1L << 30, cpu, SnapshotPrecision.Fp16);
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True, "the checkpoint's Fp16 file, mapped");
            Assert.That(lease.Snapshot.Precision, Is.EqualTo(SnapshotPrecision.Fp16));
            Assert.That(lease.Snapshot.ToArray(), Is.EqualTo(Converted(Content())), "bit-identical to converting the same state");
            using var a = Content().Build("a", "test/base", validate: true);
            using var converted = AdapterSnapshot.Create(a, SnapshotPrecision.Fp16);
            var x = Enumerable.Range(0, 2 * 128).Select(i => (float)Math.Sin(i)).ToArray();
            var fromFile = new float[2 * 16];
            var expected = new float[2 * 16];
            cpu.Gemm(lease.Snapshot, Q, x, fromFile, 2);
            cpu.Gemm(converted, Q, x, expected, 2);
            Assert.That(fromFile, Is.EqualTo(expected));
            Assert.That(fromFile.Any(v => v != 0), Is.True);
            // And within Fp16's quantization of the float32 weights: at most half a step of the leaf's range per weight.
            var exact = a.Modules[Q].ToDense();
            var quantized = lease.Snapshot.ToDense(Q);
            float step = (exact.Max() - exact.Min()) / 65535f;
            for (int i = 0; i < exact.Length; i++) Assert.That(quantized[i], Is.EqualTo(exact[i]).Within(step), $"weight {i}");
        }
        using (tier.Acquire("a")) { }
        var st = tier.Stats();
        Assert.That((st.Builds, st.Hits, st.FileLoads), Is.EqualTo((1L, 1L, 1L)));
        Assert.That(s.TierOf("a"), Is.Null, "no cache tier touched: nothing promoted, nothing mapped into L3");
        Assert.That((s.Stats().Promotions, s.Stats().Cache.ColdLoads, s.Stats().SnapshotRebuilds), Is.EqualTo((0L, 0L, 0L)));
    }

    [Test]
    public void Fp16Tier_AfterAWriteSinceTheCheckpoint_ConvertsTheNewState_NeverServesTheStaleFile()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, Fp16);
        using var cpu = new CpuApplier();
        s.Create("a", "test/base", Content());
        s.Checkpoint();
        using var tier = new SnapshotTier(s, 1L << 30, cpu, SnapshotPrecision.Fp16);
        using (var lease = tier.Acquire("a")) Assert.That(lease.Snapshot.IsMapped, Is.True);

        s.Apply("a", new AdapterBatch().Set(V, [2], [3], [5f]));
        var v = new float[1];
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.False, "the file is older than the adapter: converted");
            cpu.Lookup(lease.Snapshot, V, [2], [3], v);
            Assert.That(v[0], Is.EqualTo(5f));
        }
        // A tier that never saw the adapter: the same (the file exists, but the adapter moved past it).
        using (var fresh = new SnapshotTier(s, 1L << 30, cpu, SnapshotPrecision.Fp16))
        using (var lease = fresh.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.False);
            cpu.Lookup(lease.Snapshot, V, [2], [3], v);
            Assert.That(v[0], Is.EqualTo(5f));
            Assert.That(fresh.Stats().FileLoads, Is.Zero);
        }
        // Checkpointed again: the new file is the current state, and is served.
        s.Checkpoint();
        Assert.That(tier.Evict("a"), Is.True);
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True);
            cpu.Lookup(lease.Snapshot, V, [2], [3], v);
            Assert.That(v[0], Is.EqualTo(5f));
            Assert.That(lease.Snapshot.ToArray(), Is.EqualTo(Converted(Content().Set(V, [2], [3], [5f]))));
        }
        var st = tier.Stats();
        Assert.That((st.Builds, st.Rebuilds, st.FileLoads), Is.EqualTo((2L, 1L, 2L)));
    }

    [Test]
    public void Fp16Tier_UnderConcurrentWritesAndCheckpoints_NeverLeasesAStateOlderThanTheLastWrite()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, Fp16);
        using var cpu = new CpuApplier();
        using var tier = new SnapshotTier(s, 1L << 30, cpu, SnapshotPrecision.Fp16);
        s.Create("a", "test/base", new AdapterBatch().DefineModule(V, 64, 128).Set(V, [0], [0], [0f]));
        s.Checkpoint();
        int written = 0;
        var writer = Task.Run(() =>
        {
            for (int i = 1; i <= 60; i++)
            {
                s.Apply("a", new AdapterBatch().Set(V, [0], [0], [i]));
                Volatile.Write(ref written, i);
                if (i % 3 == 0) s.Checkpoint();
            }
        });
        var v = new float[1];
        int checks = 0;
        while (!writer.IsCompleted || checks == 0)
        {
            int before = Volatile.Read(ref written);
            tier.Evict("a"); // every acquire builds: from the file when the adapter is at its checkpoint, else converted
            using (var lease = tier.Acquire("a")) cpu.Lookup(lease.Snapshot, V, [0], [0], v);
            // Whole numbers 1 apart; Fp16 of a leaf whose range is [0, i] keeps each within far less than 0.5.
            Assert.That(v[0], Is.GreaterThanOrEqualTo(before - 0.01f), "a lease never shows a state older than the last acknowledged write");
            checks++;
        }
        writer.GetAwaiter().GetResult();
        tier.Evict("a");
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True, "the last write was checkpointed: its file is served");
            cpu.Lookup(lease.Snapshot, V, [0], [0], v);
        }
        Assert.That(v[0], Is.EqualTo(60f).Within(0.01f));
        TestContext.Out.WriteLine($"{checks} checks, {tier.Stats()}");
    }

    [TestCase("bitflip")]
    [TestCase("truncated")]
    [TestCase("missing")]
    [TestCase("float32")]
    [TestCase("foreign")]
    public void DamagedFp16File_IsNeverServed_ItIsRebuiltFromTheVdbAndLogged(string damage)
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, Fp16))
        {
            s.Create("a", "test/base", Content());
            s.Create("other", null, Content(8));
            s.Checkpoint();
        }
        var file = Fp16Files(dir, "a-*").Single();
        var bytes = File.ReadAllBytes(file);
        switch (damage)
        {
            // A weight's bits: only the CRC sees it, which a file this process did not write gets on its first map.
            case "bitflip": bytes[^100] ^= 0x10; File.WriteAllBytes(file, bytes); break;
            case "truncated": File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]); break;
            case "missing": File.Delete(file); break;
            case "float32": File.Copy(Directory.GetFiles(Folder(dir), "a-*.nvdb").Single(f => !f.EndsWith(".fp16.nvdb")), file, overwrite: true); break;
            case "foreign": File.Copy(Fp16Files(dir, "other-*").Single(), file, overwrite: true); break;
        }
        if (damage == "bitflip")
            Assert.DoesNotThrow(() => AdapterSnapshot.Map(file, verifyChecksum: false).Dispose(), "the structural check alone does not see it");
        var log = new List<string>();
        using var r = AdapterStore.Open(dir.Path, Fp16 with { Log = m => { lock (log) log.Add(m); } });
        using var tier = new SnapshotTier(r, 1L << 30, precision: SnapshotPrecision.Fp16);
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True, "the rebuilt file, mapped");
            AssertSameGrid(lease.Snapshot.ToArray(), Converted(Content()), "the adapter's own values, never the damaged file's");
        }
        Assert.That(r.Stats().SnapshotRebuilds, Is.EqualTo(1));
        Assert.That(log.Single(), Does.Contain(".fp16.nvdb").And.Contain("rebuilt from its checkpoint"));
        TestContext.Out.WriteLine(log.Single());
        using var again = AdapterSnapshot.Map(file, verifyChecksum: true);
        AssertSameGrid(again.ToArray(), Converted(Content()), "the file on disk is whole again");
        Assert.That(Directory.GetFiles(Folder(dir)), Has.Length.EqualTo(6), "nothing else written or lost");
    }

    [Test]
    public void Fp16FileDamagedInPlace_WhileTheStoreRuns_IsCaughtByTheStructuralCheck()
    {
        using var dir = new TempDir();
        var log = new List<string>();
        using var s = AdapterStore.Open(dir.Path, Fp16 with { Log = m => { lock (log) log.Add(m); } });
        s.Create("a", "test/base", Content());
        s.Checkpoint();
        var file = Fp16Files(dir).Single();
        var bytes = File.ReadAllBytes(file);
        bytes[0] = (byte)'X';
        File.WriteAllBytes(file, bytes);
        using var tier = new SnapshotTier(s, 1L << 30, precision: SnapshotPrecision.Fp16);
        using (var lease = tier.Acquire("a")) AssertSameGrid(lease.Snapshot.ToArray(), Converted(Content()), "the adapter's own values");
        Assert.That(s.Stats().SnapshotRebuilds, Is.EqualTo(1));
        Assert.That(log.Single(), Does.Contain("wrong magic"));
    }

    [Test]
    public void DeletingTheAdapter_RemovesItsCheckpointWithBothSnapshotFiles()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, Fp16);
        s.Create("a", "test/base", Content());
        s.Create("b", null, Content(8));
        s.Checkpoint();
        Assert.That(Directory.GetFiles(Folder(dir), "a-*"), Has.Length.EqualTo(3));
        s.Delete("a");
        s.Checkpoint();
        Assert.That(Directory.GetFiles(Folder(dir), "a-*"), Is.Empty, ".vdb, .nvdb and .fp16.nvdb deleted");
        Assert.That(Directory.GetFiles(Folder(dir), "b-*"), Has.Length.EqualTo(3), "the other adapter's files stay");
    }

    [Test]
    public void ARestoredStore_WithoutFp16Files_RebuildsEachOnFirstUse()
    {
        // What BucketRestore writes (the bucket holds the .vdb and float32 .nvdb of each checkpoint, not the Fp16 file):
        // a store with the option rebuilds the Fp16 file from the .vdb when a tier first asks for it.
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, Fp16))
        {
            s.Create("a", "test/base", Content());
            s.Checkpoint();
        }
        foreach (var f in Fp16Files(dir)) File.Delete(f);
        var log = new List<string>();
        using var r = AdapterStore.Open(dir.Path, Fp16 with { Log = m => { lock (log) log.Add(m); } });
        using var tier = new SnapshotTier(r, 1L << 30, precision: SnapshotPrecision.Fp16);
        using (var lease = tier.Acquire("a"))
        {
            Assert.That(lease.Snapshot.IsMapped, Is.True);
            AssertSameGrid(lease.Snapshot.ToArray(), Converted(Content()), "rebuilt from the .vdb");
        }
        Assert.That(Fp16Files(dir), Has.Length.EqualTo(1));
        Assert.That((r.Stats().SnapshotRebuilds, log.Count), Is.EqualTo((1L, 1)));
    }
}
