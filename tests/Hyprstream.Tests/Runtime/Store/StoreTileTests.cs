using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>
/// Tile ops in the durable store (<see cref="AdapterBatch.SetTiles"/>, <see cref="AdapterBatch.AddTiles"/>): their
/// codec, the checks that refuse a bad record before it is logged, replay and checkpoints value for value, the
/// quarantine of an adapter whose logged tile record cannot be replayed, and random sequences against a model.
/// </summary>
[TestFixture]
public sealed class StoreTileTests
{
    private const int T = TileMapping.TileSize;
    private const string M = "model.layers.0.mlp.down_proj";   // 37 x 203: 5 x 4 tiles, edges on both sides
    private const string Q = "model.layers.0.self_attn.q_proj"; // 64 x 128: 8 x 2 whole tiles
    private static readonly StoreOptions Manual = new() { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never };

    private static AdapterBatch Modules() => new AdapterBatch().DefineModule(M, 37, 203).DefineModule(Q, 64, 128);

    /// <summary>Random tiles of a rows × cols module (zero padding, some zeros).</summary>
    private static (int[] Rows, int[] Cols, float[] Values) Tiles(Random rng, int rows, int cols, int count, double zeros = 0.3)
    {
        int rowTiles = (int)TileMapping.TileRowCount(rows), colTiles = (int)TileMapping.TilesPerRow(cols);
        var trs = new int[count]; var tcs = new int[count]; var vs = new float[count * T];
        for (int i = 0; i < count; i++)
        {
            trs[i] = rng.Next(rowTiles); tcs[i] = rng.Next(colTiles);
            for (int j = 0; j < T; j++)
                if (trs[i] * 8 + j / 64 < rows && tcs[i] * 64 + j % 64 < cols && rng.NextDouble() >= zeros)
                    vs[i * T + j] = (float)(rng.NextDouble() * 2 - 1);
        }
        return (trs, tcs, vs);
    }

    /// <summary>Every module's tiles as read by the tile cursor, keyed by (module, tile row, tile col).</summary>
    private static Dictionary<(string, int, int), float[]> ReadTiles(SparseAdapter a) =>
        a.Modules.SelectMany(m => TileOperationTests.ReadAll(m, 16).Select(t => ((m.Name, t.Row, t.Col), t.Values))).ToDictionary();

    private static void AssertSame(Dictionary<(string, int, int), float[]> want, Dictionary<(string, int, int), float[]> got)
    {
        Assert.That(got.Keys, Is.EquivalentTo(want.Keys));
        foreach (var (k, v) in want) Assert.That(got[k], Is.EqualTo(v), $"tile {k}");
    }

    [Test]
    public void Codec_RoundTripsTileOps_AndWeightCountIsTilesTimes512()
    {
        var rng = new Random(1);
        var (r, c, v) = Tiles(rng, 37, 203, 7);
        var batch = Modules().SetTiles(M, r, c, v).AddTiles(Q, [1, 7], [0, 1], new float[2 * T]).Set(M, [3], [4], [5f]);
        Assert.That(batch.Ops[2].WeightCount, Is.EqualTo(7 * 512));
        Assert.That(batch.WeightCount, Is.EqualTo(9 * 512 + 1));
        var back = BatchCodec.Decode(BatchCodec.Encode(batch));
        Assert.That(back.Ops.Select(o => o.Kind), Is.EqualTo(batch.Ops.Select(o => o.Kind)));
        Assert.That(back.Ops[2].Kind, Is.EqualTo(BatchOpKind.SetTiles));
        Assert.That(back.Ops[3].Kind, Is.EqualTo(BatchOpKind.AddTiles));
        for (int i = 2; i < 5; i++)
        {
            Assert.That(back.Ops[i].Module, Is.EqualTo(batch.Ops[i].Module));
            Assert.That(back.Ops[i].RowIndex, Is.EqualTo(batch.Ops[i].RowIndex));
            Assert.That(back.Ops[i].ColIndex, Is.EqualTo(batch.Ops[i].ColIndex));
            Assert.That(back.Ops[i].Values, Is.EqualTo(batch.Ops[i].Values));
        }
        Assert.That((int)BatchOpKind.SetTiles, Is.EqualTo(8));
        Assert.That((int)BatchOpKind.AddTiles, Is.EqualTo(9));
    }

    [Test]
    public void Codec_OldRecordBytes_StillDecode()
    {
        // Version 1, one Set op on module "m": (3, 5) = 1.5f, written byte by byte as the codec has always laid it out.
        byte[] old = [1, 1, 0, 0, 0, 2, 1, (byte)'m', 1, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3F];
        var b = BatchCodec.Decode(old);
        var op = b.Ops.Single();
        Assert.That(op.Kind, Is.EqualTo(BatchOpKind.Set));
        Assert.That((op.Module, op.RowIndex![0], op.ColIndex![0], op.Values![0]), Is.EqualTo(("m", 3, 5, 1.5f)));
        Assert.That(BatchCodec.Encode(new AdapterBatch().Set("m", [3], [5], [1.5f])), Is.EqualTo(old), "old ops still encode as before");
    }

    [Test]
    public void Codec_TruncatedTileOp_IsInvalidData()
    {
        var (r, c, v) = Tiles(new Random(2), 64, 128, 3);
        var bytes = BatchCodec.Encode(new AdapterBatch().AddTiles(Q, r, c, v));
        for (int n = 0; n < bytes.Length; n += n < 64 ? 1 : 97)
            Assert.That(() => BatchCodec.Decode(bytes.AsSpan(0, n)), Throws.InstanceOf<InvalidDataException>(), $"{n} bytes");
        var huge = (byte[])bytes.Clone();
        int countAt = 1 + 4 + 1 + 1 + Q.Length;
        huge[countAt + 3] = 0x10; // claims 2^28 tiles
        Assert.That(() => BatchCodec.Decode(huge), Throws.InstanceOf<InvalidDataException>().With.Message.Contain("tiles"));
    }

    [Test]
    public void StagedTileBatches_SurviveReopen_AndCheckpointPlusReopen_ValueForValue()
    {
        using var dir = new TempDir();
        var rng = new Random(3);
        Dictionary<(string, int, int), float[]> tiles;
        Dictionary<(string, int, int), float> weights;
        using (var s = AdapterStore.Open(dir.Path, Manual))
        {
            s.Create("a", "base", Modules());
            for (int i = 0; i < 12; i++)
            {
                var (r, c, v) = Tiles(rng, 37, 203, 1 + rng.Next(6), zeros: i % 4 == 3 ? 1.0 : 0.3);
                var (r2, c2, v2) = Tiles(rng, 64, 128, 1 + rng.Next(6));
                var batch = i % 2 == 0 ? new AdapterBatch().SetTiles(M, r, c, v).AddTiles(Q, r2, c2, v2)
                                       : new AdapterBatch().AddTiles(M, r, c, v).SetTiles(Q, r2, c2, v2).Add(M, [36], [202], [0.5f]);
                s.WaitDurable(s.Stage("a", batch).Seq);
            }
            tiles = s.Read("a", ReadTiles);
            using (var x = s.Get("a")) weights = Fixtures.Snapshot(x);
            Assert.That(tiles, Is.Not.Empty);
        }
        using (var r = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(r.Recovery.RecordsReplayed, Is.EqualTo(13));
            Assert.That(r.Quarantined, Is.Empty);
            AssertSame(tiles, r.Read("a", ReadTiles));
            using (var x = r.Get("a")) TileOperationTests.AssertSameWeights(weights, Fixtures.Snapshot(x));
            r.Checkpoint();
        }
        using (var r = AdapterStore.Open(dir.Path, Manual))
        {
            Assert.That(r.Recovery.RecordsReplayed, Is.Zero, "the checkpoint holds everything");
            AssertSame(tiles, r.Read("a", ReadTiles));
            using (var x = r.Get("a")) TileOperationTests.AssertSameWeights(weights, Fixtures.Snapshot(x));
        }
    }

    [Test]
    public void InvalidTileRecords_AreRefusedBeforeLogging_AndLoseNothing()
    {
        using var dir = new TempDir();
        using var s = AdapterStore.Open(dir.Path, Manual);
        var rng = new Random(4);
        var (r, c, v) = Tiles(rng, 37, 203, 4);
        s.Create("a", null, Modules().SetTiles(M, r, c, v));
        var before = s.Read("a", ReadTiles);
        long records = s.Stats().WalRecordsAppended;
        var edge = new float[T]; edge[5 * 64] = 1f;  // row 37 of tile (4, 3): padding
        var nan = new float[T]; nan[9] = float.NaN;
        var one = new float[T]; one[0] = 1f;
        Assert.That(() => new AdapterBatch().SetTiles(M, [0], [0], nan), Throws.ArgumentException.With.Message.Contain("finite"));
        Assert.That(() => new AdapterBatch().AddTiles(M, [0], [0], new float[T + 1]), Throws.ArgumentException);
        Assert.That(() => s.Apply("a", new AdapterBatch().SetTiles(M, [0, 5], [0, 0], [.. one, .. one])),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("tile (5, 0) at batch index 1"));
        Assert.That(() => s.Apply("a", new AdapterBatch().AddTiles(M, [0], [4], one)), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => s.Apply("a", new AdapterBatch().SetTiles(M, [0, 4], [0, 3], [.. one, .. edge])),
            Throws.ArgumentException.With.Message.Contain("tile (4, 3) at batch index 1").And.Message.Contain("padding"));
        Assert.That(() => s.Apply("a", new AdapterBatch().AddTiles(M, [4], [3], edge)), Throws.ArgumentException.With.Message.Contain("padding"));
        Assert.That(() => s.Apply("a", new AdapterBatch().SetTiles("model.layers.9.nope", [0], [0], one)), Throws.InstanceOf<KeyNotFoundException>());
        // A decoded record skips the builder: Validate refuses its NaN too (what replay relies on).
        var decoded = BatchCodec.Decode(BatchCodec.Encode(new AdapterBatch().SetTiles(M, [0], [0], one)));
        decoded.Ops[0].Values![3] = float.PositiveInfinity;
        Assert.That(() => s.Apply("a", decoded), Throws.ArgumentException.With.Message.Contain("infinite"));
        Assert.That(s.Stats().WalRecordsAppended, Is.EqualTo(records), "nothing was logged");
        AssertSame(before, s.Read("a", ReadTiles));
    }

    [Test]
    public void TileAddOverflow_IsRefusedBeforeLogging_FollowingEveryEarlierWriteInTheBatch()
    {
        using var dir = new TempDir();
        using (var s = AdapterStore.Open(dir.Path, Manual))
        {
            s.Create("a", null, Modules().Set(Q, [9], [3], [float.MaxValue]));
            long records = s.Stats().WalRecordsAppended;
            var max = new float[T]; max[1 * 64 + 3] = float.MaxValue;  // (9, 3) in tile (1, 0): stored MaxValue
            var neg = new float[T]; neg[1 * 64 + 3] = -float.MaxValue;
            var max10 = new float[T]; max10[2 * 64 + 3] = float.MaxValue; // (10, 3) in tile (1, 0): not stored
            var refused = new[]
            {
                new AdapterBatch().AddTiles(Q, [1], [0], max),                                            // stored + tile
                new AdapterBatch().Set(Q, [9], [3], [0f]).AddTiles(Q, [1, 1], [0, 0], [.. max, .. max]),  // duplicate tiles after a set
                new AdapterBatch().Set(Q, [10], [3], [float.MaxValue]).AddTiles(Q, [1], [0], max10),      // a cell set folded into the tile
                new AdapterBatch().SetTiles(Q, [1], [0], max10).Add(Q, [10], [3], [float.MaxValue]),      // a tile set seen by a cell add
                new AdapterBatch().AddTiles(Q, [1], [0], neg).Add(Q, [9], [3], [-float.MaxValue]).AddTiles(Q, [1], [0], neg),
            };
            foreach (var b in refused)
                Assert.That(() => s.Apply("a", b), Throws.ArgumentException.With.Message.Contain("overflow"));
            Assert.That(s.Stats().WalRecordsAppended, Is.EqualTo(records), "nothing was logged");
            Assert.That(s.Read("a", a => (a.Modules[Q].Get(9, 3), a.Modules[Q].ActiveCount)), Is.EqualTo((float.MaxValue, 1L)));
            // Accepted only because the earlier writes of each batch are followed: against the stored MaxValue alone,
            // each would look like an overflow.
            s.Apply("a", new AdapterBatch().Set(Q, [9], [3], [-float.MaxValue]).AddTiles(Q, [1], [0], max));
            Assert.That(s.Read("a", a => a.Modules[Q].Get(9, 3)), Is.EqualTo(0f));
            s.Apply("a", new AdapterBatch().SetTiles(Q, [1], [0], neg).AddTiles(Q, [1], [0], max).AddTiles(Q, [1], [0], max));
            Assert.That(s.Read("a", a => a.Modules[Q].Get(9, 3)), Is.EqualTo(float.MaxValue));
            s.Apply("a", new AdapterBatch().AddTiles(Q, [1], [0], neg).Add(Q, [9], [3], [float.MaxValue]).AddTiles(Q, [1], [0], neg));
            Assert.That(s.Read("a", a => a.Modules[Q].Get(9, 3)), Is.EqualTo(0f));
        }
        using var r = AdapterStore.Open(dir.Path, Manual);
        Assert.That(r.Quarantined, Is.Empty);
        Assert.That(r.Read("a", a => a.Modules[Q].Get(9, 3)), Is.EqualTo(0f));
    }

    [Test]
    public void UnreplayableTileRecord_QuarantinesOnlyItsAdapter()
    {
        using var dir = new TempDir();
        var one = new float[T]; one[0] = 1f;
        using (var s = AdapterStore.Open(dir.Path, Manual))
        {
            s.Create("good", null, Modules().SetTiles(Q, [0], [0], one));
            s.Create("bad", null, Modules().SetTiles(Q, [0], [0], one));
        }
        // A record no valid writer would log: nonzero padding in edge tile (4, 3).
        var edge = new float[T]; edge[7 * 64 + 63] = 2f;
        void AppendRaw(ulong seq, string adapter, AdapterBatch b)
        {
            var (_, path) = WriteAheadLog.Segments(Path.Combine(dir.Path, "wal")).Last();
            using var f = new FileStream(path, FileMode.Append);
            f.Write(new WalRecord(seq, WalOp.Update, adapter, BatchCodec.Encode(b)).Encode());
        }
        AppendRaw(1000, "bad", new AdapterBatch().SetTiles(Q, [1], [1], one).SetTiles(M, [4], [3], edge));
        AppendRaw(1001, "good", new AdapterBatch().AddTiles(Q, [0, 2], [0, 1], [.. one, .. one]));
        using var r = AdapterStore.Open(dir.Path, Manual);
        Assert.That(r.Names, Is.EqualTo(new[] { "good" }));
        var q = r.Quarantined.Single();
        Assert.That(q.Name, Is.EqualTo("bad"));
        Assert.That(q.Reason, Does.Contain("tile (4, 3)").And.Contain("padding"));
        Assert.That(r.Read("good", a => (a.Modules[Q].Get(0, 0), a.Modules[Q].Get(16, 64))), Is.EqualTo((2f, 1f)));
        var report = r.Repair("bad");
        Assert.That(report.Restored, Is.True);
        Assert.That(r.Read("bad", a => (a.Modules[Q].Get(0, 0), a.Modules[Q].StoredTileCount)), Is.EqualTo((1f, 1L)), "the bad record's first op was not applied either");
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void RandomTileBatches_ThroughTheStore_MatchADictionaryModel(int seed)
    {
        using var dir = new TempDir();
        var rng = new Random(seed);
        var model = new Dictionary<(string, int, int), float>();
        var shapes = new[] { (M, 37, 203), (Q, 64, 128) };
        var s = AdapterStore.Open(dir.Path, Manual);
        try
        {
            s.Create("a", null, Modules());
            for (int step = 0; step < 40; step++)
            {
                var batch = new AdapterBatch();
                var pending = new List<Action>();
                for (int k = rng.Next(1, 4); k > 0; k--)
                {
                    var (name, rows, cols) = shapes[rng.Next(2)];
                    var (tr, tc, vs) = Tiles(rng, rows, cols, rng.Next(1, 4), zeros: rng.Next(4) == 0 ? 1.0 : rng.NextDouble());
                    bool add = rng.Next(2) == 0;
                    if (add) batch.AddTiles(name, tr, tc, vs); else batch.SetTiles(name, tr, tc, vs);
                    pending.Add(() =>
                    {
                        for (int i = 0; i < tr.Length; i++)
                        {
                            if (!add)
                                foreach (var key in model.Keys.Where(x => x.Item1 == name && x.Item2 >> 3 == tr[i] && x.Item3 >> 6 == tc[i]).ToList())
                                    model.Remove(key);
                            for (int j = 0; j < T; j++)
                            {
                                float v = vs[i * T + j];
                                if (v == 0f) continue;
                                var key = (name, tr[i] * 8 + j / 64, tc[i] * 64 + j % 64);
                                model[key] = add ? model.GetValueOrDefault(key) + v : v;
                            }
                        }
                    });
                }
                s.Stage("a", batch);
                foreach (var p in pending) p();
                switch (rng.Next(8))
                {
                    case 0: s.Checkpoint(); break;
                    case 1: s.Dispose(); s = AdapterStore.Open(dir.Path, Manual); break;
                }
            }
            s.Dispose();
            s = AdapterStore.Open(dir.Path, Manual);
            using var x = s.Get("a");
            TileOperationTests.AssertSameWeights(model, Fixtures.Snapshot(x));
            foreach (var m in x.Modules)
                foreach (var (tr, tc, v) in TileOperationTests.ReadAll(m, 4))
                    Assert.That(v, Is.EqualTo(TileOperationTests.Expected(model, m.Name, tr, tc)), $"{m.Name} tile ({tr}, {tc})");
        }
        finally { s.Dispose(); }
    }
}
