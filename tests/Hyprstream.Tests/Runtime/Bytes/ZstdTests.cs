using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Tests;

/// <summary>zstd through the native library, the byte shuffle, and the batch codec that the WAL and L2 tier use.</summary>
[TestFixture]
public sealed class ZstdTests
{
    [Test]
    public void Compress_ThenDecompress_GivesTheSameBytes_AndShrinksRedundantData()
    {
        var data = Enumerable.Range(0, 100_000).Select(i => (byte)(i % 17)).ToArray();
        var z = Zstd.Compress(data);
        Assert.That(z.Length, Is.LessThan(data.Length / 20));
        Assert.That(Zstd.Decompress(z), Is.EqualTo(data));
        Assert.That(Zstd.Decompress(Zstd.Compress([])), Is.Empty);
    }

    [Test]
    public void FloatPlanesLevel_MakesOrdinaryFrames_AndStillCodesTheLiterals()
    {
        // Byte planes of N(0, 0.01) float32 values: only the sign/exponent plane compresses, by literal coding alone.
        var rng = new Random(3);
        var values = Enumerable.Range(0, 64 * 1024).Select(_ => (float)(rng.NextDouble() + rng.NextDouble() - 1) * 0.01f).ToArray();
        var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var planes = new byte[raw.Length];
        ByteShuffle.Shuffle(raw, planes, 4);
        var fast = Zstd.Compress(planes, Zstd.FloatPlanesLevel);
        Assert.That(Zstd.Decompress(fast), Is.EqualTo(planes));
        Assert.That(fast.Length, Is.LessThan(planes.Length * 0.9), "literal coding kept (zstd's fast levels drop it by default: ~100%)");
        Assert.That(fast.Length, Is.LessThan(Zstd.Compress(planes, 1).Length * 1.02), "as small as level 1");
        Assert.That(() => Zstd.Compress(planes, int.MinValue), Throws.ArgumentException.With.Message.Contain("level"));
    }

    [Test]
    public void TileBatches_AreCompressedAtTheFloatPlanesLevel_AndTheirWalRecordsRoundTrip()
    {
        var rng = new Random(4);
        var values = Enumerable.Range(0, 4 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var tiles = new AdapterBatch().SetTiles("m", [0, 1, 2, 3], [0, 0, 0, 0], values);
        var weights = new AdapterBatch().Set("m", [0, 1], [0, 1], [1f, 2f]);
        Assert.That(BatchCodec.CompressionLevel(tiles), Is.EqualTo(Zstd.FloatPlanesLevel));
        Assert.That(BatchCodec.CompressionLevel(weights), Is.EqualTo(1));
        Assert.That(BatchCodec.CompressionLevel(new AdapterBatch().Set("m", new int[4000], new int[4000], new float[4000]).SetTiles("m", [0], [0], values[..512])), Is.EqualTo(1));
        var payload = BatchCodec.Encode(tiles);
        var record = new WalRecord(7, WalOp.Update, "a", payload) { CompressionLevel = BatchCodec.CompressionLevel(tiles) }.Encode();
        Assert.That(record.Length, Is.LessThan(payload.Length), "compressed");
        var back = WalRecord.DecodeBody(record.AsSpan(WalRecord.HeaderBytes));
        Assert.That(back.Payload, Is.EqualTo(payload));
        Assert.That(BatchCodec.Decode(back.Payload).Ops.Single().Values, Is.EqualTo(values));
    }

    [Test]
    public void CorruptOrForeignFrames_AreInvalidData()
    {
        var z = Zstd.Compress(Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray());
        Assert.That(() => Zstd.Decompress("not a frame"u8), Throws.InstanceOf<InvalidDataException>());
        Assert.That(() => Zstd.Decompress(z.AsSpan(0, z.Length / 2)), Throws.InstanceOf<InvalidDataException>());
    }

    [Test]
    public void TrainedDictionary_CompressesSmallSimilarObjectsBetter_AndIsNeededToDecompress()
    {
        var rng = new Random(5);
        var samples = Enumerable.Range(0, 400).Select(i =>
        {
            var b = new AdapterBatch().Set("model.layers.3.self_attn.q_proj", [i % 8, 1, 2, 3], [64, 65, 66, rng.Next(2048)], [0.01f, 0.02f, -0.01f, 0.03f]);
            return BatchCodec.Encode(b);
        }).ToList();
        var dict = Zstd.TrainDictionary(samples.Take(200).ToList(), 4096);
        Assert.That(dict, Is.Not.Empty);
        var test = samples.Skip(200).ToList();
        long plain = test.Sum(s => (long)Zstd.Compress(s).Length);
        long withDict = test.Sum(s => (long)Zstd.Compress(s, dictionary: dict).Length);
        Assert.That(withDict, Is.LessThan(plain));
        var one = Zstd.Compress(test[0], dictionary: dict);
        Assert.That(Zstd.Decompress(one, dict), Is.EqualTo(test[0]));
        Assert.That(() => Zstd.Decompress(one), Throws.InstanceOf<InvalidDataException>(), "a dictionary frame needs its dictionary");
    }

    [Test]
    public void ByteShuffle_RoundTrips_IncludingATail()
    {
        var data = Enumerable.Range(0, 4099).Select(i => (byte)(i * 7)).ToArray();
        var planes = new byte[data.Length];
        var back = new byte[data.Length];
        ByteShuffle.Shuffle(data, planes, 4);
        Assert.That(planes, Is.Not.EqualTo(data));
        ByteShuffle.Unshuffle(planes, back, 4);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void BatchCodec_RoundTripsEveryOp_AndRejectsTruncation()
    {
        var b = new AdapterBatch().DefineModule("m.layers.0.x", 4, 8, 0.5f).Set("m.layers.0.x", [1, 2], [3, 4], [0.25f, -1f])
            .Add("m.layers.0.x", [1], [3], [1f]).Prune(0.1f, "m.layers.0.x").SetMetadata("k", "v").RemoveModule("m.layers.0.x");
        var bytes = BatchCodec.Encode(b);
        var d = BatchCodec.Decode(bytes);
        Assert.That(d.Ops.Select(o => o.Kind), Is.EqualTo(b.Ops.Select(o => o.Kind)));
        Assert.That(d.Ops[1].Values, Is.EqualTo(new[] { 0.25f, -1f }));
        Assert.That(d.Ops[1].ColIndex, Is.EqualTo(new[] { 3, 4 }));
        Assert.That(d.Ops[0].Scalar, Is.EqualTo(0.5f));
        Assert.That(d.Ops[4].Text, Is.EqualTo("v"));
        Assert.That(() => BatchCodec.Decode(bytes.AsSpan(0, bytes.Length - 3)), Throws.InstanceOf<InvalidDataException>());
    }
}
