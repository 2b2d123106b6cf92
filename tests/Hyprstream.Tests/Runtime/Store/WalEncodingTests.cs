using System.Buffers;
using System.Buffers.Binary;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Store;
using NUnit.Framework;

namespace Hyprstream.Tests;

/// <summary>
/// The WAL's pooled write path (records and batch payloads encoded into rented buffers, frames compressed in place)
/// writes exactly the bytes the array path writes, and records of every kind read back.
/// </summary>
[TestFixture]
public sealed class WalEncodingTests
{
    private static AdapterBatch Tiles(int seed)
    {
        var rng = new Random(seed);
        var values = Enumerable.Range(0, 3 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        return new AdapterBatch().SetTiles("model.layers.0.mlp.up_proj", [0, 1, 5], [2, 0, 7], values);
    }

    [Test]
    public void BatchEncodeRented_WritesTheBytesEncodeReturns()
    {
        var batch = Tiles(1).Set("model.layers.0.mlp.up_proj", [3, 4], [5, 6], [1.5f, -2f]).SetMetadata("k", "v");
        var expected = BatchCodec.Encode(batch);
        var rented = BatchCodec.EncodeRented(batch, out int length);
        try
        {
            Assert.That(length, Is.EqualTo(expected.Length));
            Assert.That(rented.AsSpan(0, length).ToArray(), Is.EqualTo(expected));
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    [TestCase(16, TestName = "RecordEncodeRented_SmallPayload_StoredRaw_MatchesEncode")]
    [TestCase(-1, TestName = "RecordEncodeRented_TilePayload_Compressed_MatchesEncode")]
    [TestCase(-2, TestName = "RecordEncodeRented_IncompressiblePayload_StoredRaw_MatchesEncode")]
    public void RecordEncodeRented_MatchesEncode_AndDecodes(int kind)
    {
        byte[] payload = kind switch
        {
            -1 => BatchCodec.Encode(Tiles(2)),
            -2 => RandomBytes(5000),
            _ => RandomBytes(kind),
        };
        var record = new WalRecord(42, WalOp.Update, "adapter-é", payload) { CompressionLevel = Zstd.FloatPlanesLevel };
        var expected = record.Encode();
        var rented = WalRecord.EncodeRented(42, WalOp.Update, "adapter-é", payload, Zstd.FloatPlanesLevel, out int length);
        try
        {
            Assert.That(rented.AsSpan(0, length).ToArray(), Is.EqualTo(expected));
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
        uint body = BinaryPrimitives.ReadUInt32LittleEndian(expected);
        Assert.That(body + WalRecord.HeaderBytes, Is.EqualTo(expected.Length));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(expected.AsSpan(4)), Is.EqualTo(Crc32C.Compute(expected.AsSpan(WalRecord.HeaderBytes))));
        if (kind == -1) Assert.That(expected.Length, Is.LessThan(payload.Length), "tile planes compress");
        else Assert.That(expected.Length, Is.GreaterThan(payload.Length), "stored as they are");
        var back = WalRecord.DecodeBody(expected.AsSpan(WalRecord.HeaderBytes));
        Assert.That((back.Seq, back.Op, back.Adapter), Is.EqualTo((42UL, WalOp.Update, "adapter-é")));
        Assert.That(back.Payload, Is.EqualTo(payload));
    }

    [Test]
    public void Stamp_OnARentedRecord_RenumbersIt_AndFixesItsCrc()
    {
        var payload = BatchCodec.Encode(Tiles(3));
        var rented = WalRecord.EncodeRented(0, WalOp.Update, "a", payload, Zstd.FloatPlanesLevel, out int length);
        try
        {
            var record = rented.AsSpan(0, length);
            WalRecord.Stamp(record, 7);
            Assert.That(record.ToArray(), Is.EqualTo(new WalRecord(7, WalOp.Update, "a", payload) { CompressionLevel = Zstd.FloatPlanesLevel }.Encode()));
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    [Test]
    public void Crc32C_ReplacePrefix_EqualsAFullRecompute()
    {
        var rng = new Random(11);
        foreach (int length in new[] { 8, 9, 15, 16, 17, 64, 1000, 4096, 65_537, 1 << 20 })
        {
            var data = new byte[length];
            rng.NextBytes(data);
            uint crc = Crc32C.Compute(data);
            for (int i = 0; i < 4; i++)
            {
                ulong before = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data);
                ulong after = i == 0 ? 0 : i == 1 ? ulong.MaxValue : (ulong)rng.NextInt64();
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(data, after);
                crc = Crc32C.ReplacePrefix(crc, before, after, length);
                Assert.That(crc, Is.EqualTo(Crc32C.Compute(data)), $"length {length}, change {i}");
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Crc32C.ReplacePrefix(0, 1, 2, 7));
    }

    [Test]
    public void StagedTileBatches_ReplayAfterReopen()
    {
        var dir = Path.Combine(Path.GetTempPath(), "hs-walenc-" + Guid.NewGuid().ToString("N"));
        try
        {
            var batches = Enumerable.Range(0, 5).Select(Tiles).ToList();
            using (var store = AdapterStore.Open(dir, new StoreOptions { Fsync = FsyncPolicy.Always, CheckpointWalBytes = 0 }))
            {
                store.Create("a", null, new AdapterBatch().DefineModule("model.layers.0.mlp.up_proj", 64, 512));
                foreach (var b in batches) store.Apply("a", b);
            }
            using var reopened = AdapterStore.Open(dir, new StoreOptions { CheckpointWalBytes = 0 });
            var last = batches[^1].Ops.Single();
            var got = new float[last.Values!.Length];
            reopened.Read("a", a => { a.Modules["model.layers.0.mlp.up_proj"].GetTiles(last.RowIndex, last.ColIndex, got); return 0; });
            Assert.That(got, Is.EqualTo(last.Values), "the last batch's tiles, replayed from the WAL");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    private static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }
}
