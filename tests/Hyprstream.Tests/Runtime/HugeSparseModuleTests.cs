using Hyprstream.Runtime;
using Hyprstream.Runtime.Export;
using Hyprstream.Runtime.Store;
using Hyprstream.Runtime.Switching;
using Hyprstream.Runtime.Snapshots;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Tests;

/// <summary>
/// A legal but huge sparse module — 1,048,576 × 33,554,432 (2^36 declared 8×64 tiles) holding a handful of weights —
/// next to a small one, through every operation. Each call must cost what is stored, not what is declared: code that
/// walks every tile slot of the declared shape takes minutes (or hours) per call here. Each test body runs under
/// <see cref="Bounded"/>, which fails the test after 60 s instead of letting the suite hang (NUnit's [CancelAfter]
/// is cooperative and cannot stop a native loop; [Timeout] has no effect on .NET Core). The checks are the values.
/// </summary>
[TestFixture]
public sealed class HugeSparseModuleTests
{
    private const string Huge = "model.layers.0.mlp.down_proj";
    private const string Small = "model.layers.0.self_attn.q_proj";
    private const int Rows = 1_048_576, Cols = 33_554_432;
    private const int R = 1_000_000, C = 33_000_000;
    private const int SmallRows = 16, SmallCols = 128;
    private static readonly StoreOptions NoBackground = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Always };

    /// <summary>Runs the body on another thread and fails the test when it has not finished within the limit.</summary>
    private static void Bounded(Action body, int seconds = 60)
    {
        var task = Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(TimeSpan.FromSeconds(seconds)))
            Assert.Fail($"still running after {seconds} s: some operation walks the declared shape instead of the stored tiles");
        task.GetAwaiter().GetResult(); // rethrows assertion failures and exceptions from the body
    }

    /// <summary>The huge module holding one weight 0.75 at (R, C), and a small module with two weights.</summary>
    private static SparseAdapter Make(string name = "huge", float hugeScale = 1f)
    {
        var a = new SparseAdapter(name) { BaseModel = "test/huge" };
        var h = a.AddModule(Huge, Rows, Cols, hugeScale);
        var s = a.AddModule(Small, SmallRows, SmallCols);
        h[R, C] = 0.75f;
        s[1, 2] = 1f;
        s[15, 127] = -2f;
        return a;
    }

    [Test]
    public void Shape_IsLegal_AndSlotsFollowIt()
    {
        using var a = Make();
        Assert.That(TileMapping.TileCount(Rows, Cols), Is.EqualTo(1L << 36));
        Assert.That(a.Modules[Huge].SlotBase, Is.Zero);
        Assert.That(a.Modules[Small].SlotBase, Is.EqualTo(1L << 36));
        Assert.That(a.Modules[Huge].TotalWeights, Is.EqualTo((long)Rows * Cols));
    }

    [Test]
    public void GetSetAdd_Batches_Counts() => Bounded(() =>
    {
        using var a = Make();
        var m = a.Modules[Huge];
        Assert.That(m[R, C], Is.EqualTo(0.75f));
        Assert.That(m.IsActive(R, C), Is.True);
        Assert.That(m.IsActive(R, C - 1), Is.False);
        m.Add(R, C, 0.25f);
        Assert.That(m.Get(R, C), Is.EqualTo(1f));
        m.SetMany([0, Rows - 1], [0, Cols - 1], [3f, 4f]);
        m.AddMany([0, Rows - 1], [0, Cols - 1], [1f, 1f]);
        var got = new float[3];
        m.GetMany([0, Rows - 1, R], [0, Cols - 1, C], got);
        Assert.That(got, Is.EqualTo(new[] { 4f, 5f, 1f }));
        Assert.That(m.ActiveCount, Is.EqualTo(3));
        Assert.That(m.TileCount, Is.EqualTo(3));
        Assert.That(m.FrobeniusNorm, Is.EqualTo(Math.Sqrt(16 + 25 + 1)).Within(1e-9));
        Assert.That(m.Density, Is.EqualTo(3.0 / ((double)Rows * Cols)).Within(1e-20));
        Assert.That(a.ActiveCount, Is.EqualTo(5));
        Assert.That(a.Modules[Small].ActiveCount, Is.EqualTo(2));
        Assert.That(a.CountOutsideModules(), Is.Zero);
        m.Clear();
        Assert.That(m.ActiveCount, Is.Zero);
        Assert.That(m.TileCount, Is.Zero);
        Assert.That(a.Modules[Small].ActiveCount, Is.EqualTo(2), "clearing the huge module leaves its neighbour alone");
    });

    [Test]
    public void ReadActive_Enumerate_Cursor_VisitOnlyStoredTiles_InOrder() => Bounded(() =>
    {
        using var a = Make();
        var m = a.Modules[Huge];
        var (rows, cols, values) = m.ReadActive();
        Assert.That((rows, cols, values), Is.EqualTo((new[] { R }, new[] { C }, new[] { 0.75f })));

        // Weights at both ends of the slot range and in the middle: tile order, resumable across huge gaps.
        m[0, 0] = 1f;
        m[0, 1] = 2f;
        m[Rows - 1, Cols - 1] = 3f;
        var all = m.EnumerateActive(chunk: 1).ToList();
        Assert.That(all, Is.EqualTo(new[]
        {
            new ActiveWeight(Huge, 0, 0, 1f), new ActiveWeight(Huge, 0, 1, 2f),
            new ActiveWeight(Huge, R, C, 0.75f), new ActiveWeight(Huge, Rows - 1, Cols - 1, 3f),
        }));
        using var cursor = m.OpenCursor();
        int[] r = new int[3], c = new int[3];
        var v = new float[3];
        Assert.That(cursor.Read(r, c, v), Is.EqualTo(3));
        Assert.That((r, c, v), Is.EqualTo((new[] { 0, 0, R }, new[] { 0, 1, C }, new[] { 1f, 2f, 0.75f })));
        Assert.That(cursor.Read(r, c, v), Is.EqualTo(1));
        Assert.That((r[0], c[0], v[0]), Is.EqualTo((Rows - 1, Cols - 1, 3f)));
        Assert.That(cursor.Read(r, c, v), Is.Zero);
        Assert.That(a.EnumerateActive().Count(), Is.EqualTo(6));
    });

    [Test]
    public void MemoryBytes_Describe() => Bounded(() =>
    {
        using var a = Make();
        Assert.That(a.MemoryBytes, Is.InRange(1L, 16L << 20), "a few leaves and their internal nodes");
        var info = a.Describe();
        Assert.That(info.ActiveCount, Is.EqualTo(3));
        Assert.That(info.Modules.Single(x => x.Name == Huge).ActiveCount, Is.EqualTo(1));
        Assert.That(info.Modules.Single(x => x.Name == Small).ActiveCount, Is.EqualTo(2));
        Assert.That(info.TotalWeights, Is.EqualTo((long)Rows * Cols + SmallRows * SmallCols));
    });

    [Test]
    public void Prune_KeepTop_TileAndUnstructured() => Bounded(() =>
    {
        using var a = Make();
        var m = a.Modules[Huge];
        m[0, 0] = 0.001f;
        m[0, 1] = -2f;                   // same tile as (0, 0)
        m[Rows - 1, Cols - 1] = 0.5f;
        Assert.That(m.Prune(0.01f), Is.EqualTo(1));
        Assert.That(m.IsActive(0, 0), Is.False);
        Assert.That(m.ActiveCount, Is.EqualTo(3));

        // k = round(fraction × rows × cols) = 1: the tile of -2 (energy 4) is kept whole, the others dropped.
        double one = 1.0 / ((double)Rows * Cols);
        using (var t = a.Clone())
        {
            double kept = t.Modules[Huge].KeepTopFraction(one, SparsityStructure.Tile);
            Assert.That(kept, Is.EqualTo(Math.Sqrt(4 / (4 + 0.5625 + 0.25))).Within(1e-6));
            Assert.That(t.Modules[Huge].ReadActive().Values, Is.EqualTo(new[] { -2f }));
            Assert.That(t.Modules[Huge].TileCount, Is.EqualTo(1));
        }
        m[0, 2] = 1.5f;                   // now the tile holds -2 and 1.5: unstructured keeps -2 alone
        double k2 = m.KeepTopFraction(one, SparsityStructure.Unstructured);
        Assert.That(k2, Is.EqualTo(Math.Sqrt(4 / (4 + 2.25 + 0.5625 + 0.25))).Within(1e-6));
        Assert.That(m.ReadActive(), Is.EqualTo((new[] { 0 }, new[] { 1 }, new[] { -2f })));
        Assert.That(a.Modules[Small].ActiveCount, Is.EqualTo(2));
        Assert.That(a.KeepTopFraction(0), Is.Zero);
        Assert.That(a.ActiveCount, Is.Zero);
    });

    [Test]
    public void Merge_Fuse_Clone() => Bounded(() =>
    {
        using var a = Make("a");
        using var b = Make("b", hugeScale: 2f);
        b.Modules[Huge][Rows - 1, 0] = 1f;
        a.Modules[Huge].MergeFrom(b.Modules[Huge], 0.5f); // effective: a += 0.5 · 2 · b
        Assert.That(a.Modules[Huge][R, C], Is.EqualTo(1.5f));
        Assert.That(a.Modules[Huge][Rows - 1, 0], Is.EqualTo(1f));
        Assert.That(a.Modules[Huge].ActiveCount, Is.EqualTo(2));

        using var fused = SparseAdapter.Fuse("f", [a, b], [1f, -1f]);
        Assert.That(fused.Modules[Huge][R, C], Is.EqualTo(1.5f - 1.5f));
        Assert.That(fused.Modules[Huge][Rows - 1, 0], Is.EqualTo(1f - 2f));
        Assert.That(fused.Modules[Small][15, 127], Is.EqualTo(0f));

        using var copy = a.Clone();
        a.Modules[Huge][R, C] = 9f;
        Assert.That(copy.Modules[Huge][R, C], Is.EqualTo(1.5f));
        Assert.That(copy.Modules[Huge].ActiveCount, Is.EqualTo(2));
        Assert.That(copy.Modules[Huge].Rows, Is.EqualTo(Rows));
    });

    [Test]
    public void SaveLoad_RoundTrip_FloatAndHalf() => Bounded(() =>
    {
        using var dir = new TempDir();
        using var a = Make();
        foreach (var options in new[] { SaveOptions.Default, SaveOptions.Half })
        {
            var path = dir.File($"huge-{options.Precision}.vdb");
            a.Save(path, options);
            Assert.That(new FileInfo(path).Length, Is.LessThan(1L << 20));
            var info = AdapterFile.ReadInfo(path).Adapters.Single();
            Assert.That(info.Modules.Single(x => x.Name == Huge).ActiveCount, Is.EqualTo(1));
            using var back = SparseAdapter.Load(path);
            Assert.That(back.Modules[Huge].Rows, Is.EqualTo(Rows));
            Assert.That(back.Modules[Huge].Cols, Is.EqualTo(Cols));
            Assert.That(back.Modules[Huge][R, C], Is.EqualTo(0.75f));
            Assert.That(back.Modules[Small][15, 127], Is.EqualTo(-2f));
            Assert.That(back.ActiveCount, Is.EqualTo(3));
            Assert.That(Fixtures.Snapshot(back), Is.EquivalentTo(Fixtures.Snapshot(a)));
        }
    });

    [Test]
    public void DenseCopies_AreRefusedWithTheSize_SparseExportWorks() => Bounded(() =>
    {
        using var dir = new TempDir();
        using var a = Make();
        var e = Assert.Throws<ArgumentException>(() => a.Modules[Huge].ToDense());
        Assert.That(e!.Message, Does.Contain("1048576x33554432"));
        Assert.Throws<ArgumentException>(() => DeltaRuns.From(a.Modules[Huge], 1f), "switching applies into a dense base tensor");
        Assert.That(DeltaRuns.From(a.Modules[Small], 1f).Values, Is.EqualTo(new[] { 1f, -2f }));
        Assert.Throws<ArgumentException>(() => DeltaExport.Write(a, dir.File("dense.safetensors"), dense: true));
        Assert.That(File.Exists(dir.File("dense.safetensors")), Is.False);
        long bytes = DeltaExport.Write(a, dir.File("coo.safetensors"), dense: false);
        Assert.That(bytes, Is.EqualTo(3 * 12L), "3 weights: two int32 indices and one float each");
        Assert.That(a.Modules[Small].ToDense()[1 * SmallCols + 2], Is.EqualTo(1f));
    });

    [Test]
    public void Snapshot_Lookup_CpuGemm([Values] SnapshotPrecision precision) => Bounded(() =>
    {
        using var a = Make();
        a.Modules[Huge].Scale = 2f;
        using var snap = AdapterSnapshot.Create(a, precision);
        Assert.That(snap.LeafCount, Is.EqualTo(3));
        Assert.That(snap.ActiveCount, Is.EqualTo(3));
        Assert.That(snap[Huge].LeafCount, Is.EqualTo(1));
        using var cpu = new CpuApplier();
        float tol = precision == SnapshotPrecision.Fp16 ? 1e-3f : 0f; // Fp16 leaves quantize over their value range
        var got = new float[3];
        cpu.Lookup(snap, Huge, [R, R, 0], [C, C + 1, 0], got);
        Assert.That(got, Is.EqualTo(new[] { 0.75f, 0f, 0f }).Within(tol));
        cpu.Lookup(snap, Small, [15, 1], [127, 2], got.AsSpan(0, 2));
        Assert.That(got[..2], Is.EqualTo(new[] { -2f, 1f }).Within(tol));

        // One token through the huge module: x has 33.5 M inputs (134 MB), y has 1 M outputs; only y[R] moves.
        var x = new float[Cols];
        x[C] = 3f;
        x[C + 1] = 100f;                  // an input whose weight is not stored
        var y = new float[Rows];
        cpu.Gemm(snap, Huge, x, y, batch: 1, scale: 0.5f);
        Assert.That(y[R], Is.EqualTo(0.5f * 2f * 0.75f * 3f).Within(3 * tol + 1e-6f));
        y[R] = 0f;
        Assert.That(y.All(v => v == 0f), Is.True);

        Assert.Throws<ArgumentException>(() => snap.ToDense(Huge));
        Assert.Throws<ArgumentException>(() => cpu.Scatter(snap, Huge, new float[16], 1f));
        Assert.That(snap.ToDense(Small)[15 * SmallCols + 127], Is.EqualTo(-2f).Within(tol));
    });

    [Test]
    public void Store_Create_Stage_Info_Checkpoint_Reopen_SnapshotTier() => Bounded(() =>
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, NoBackground))
        {
            s.Create("h", "test/huge", new AdapterBatch()
                .DefineModule(Huge, Rows, Cols)
                .DefineModule(Small, SmallRows, SmallCols)
                .Set(Huge, [R], [C], [0.75f])
                .Set(Small, [1], [2], [1f]));
            var staged = s.Stage("h", new AdapterBatch().Add(Huge, [R, Rows - 1], [C, Cols - 1], [0.25f, -1f]));
            s.WaitDurable(staged.Seq);
            var info = s.Info("h");
            Assert.That(info.ActiveCount, Is.EqualTo(3));
            Assert.That(info.Modules.Single(x => x.Name == Huge).ActiveCount, Is.EqualTo(2));
            Assert.That(s.Read("h", x => x.Modules[Huge][R, C]), Is.EqualTo(1f));

            using (var cpu = new CpuApplier())
            using (var tier = new SnapshotTier(s, 64 << 20, cpu))
            using (var lease = tier.Acquire("h"))
            {
                var got = new float[2];
                cpu.Lookup(lease.Snapshot, Huge, [R, Rows - 1], [C, Cols - 1], got);
                Assert.That(got, Is.EqualTo(new[] { 1f, -1f }));
            }

            s.Checkpoint();
            Assert.That(s.Stats().Checkpoints, Is.GreaterThanOrEqualTo(1));
            s.Apply("h", new AdapterBatch().Prune(0.5f)); // every weight is ±1 now: nothing goes
            var path = dir.File("export.vdb");
            s.Export("h", path);
            using var exported = SparseAdapter.Load(path);
            Assert.That(exported.Modules[Huge][Rows - 1, Cols - 1], Is.EqualTo(-1f));
        }
        using var r = AdapterStore.Open(dir.Path, NoBackground);
        Assert.That(r.Info("h").ActiveCount, Is.EqualTo(3));
        using var back = r.Get("h");
        Assert.That(back.Modules[Huge].Rows, Is.EqualTo(Rows));
        Assert.That(back.Modules[Huge][R, C], Is.EqualTo(1f));
        Assert.That(back.Modules[Huge][Rows - 1, Cols - 1], Is.EqualTo(-1f));
        Assert.That(back.Modules[Small][1, 2], Is.EqualTo(1f));
        r.Checkpoint();
    });
}
