using System.Buffers.Binary;
using System.Text;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>Our safetensors reader and writer: round trips per dtype, and clear errors for every kind of bad file.</summary>
public class SafetensorsTests
{
    [TestCase(TensorDType.F32)]
    [TestCase(TensorDType.F16)]
    [TestCase(TensorDType.BF16)]
    public void WriteThenRead_RoundTripsValuesShapesAndMetadata(TensorDType dtype)
    {
        using var dir = new TempDir();
        var rng = new Random(3);
        var a = PeftFixtures.Random(rng, 6 * 10, 2f);
        var b = PeftFixtures.Random(rng, 7, 2f);
        var path = dir.File("t.safetensors");
        SafetensorsWriter.WriteAll(path, [("a", [6, 10], a), ("b.weight", [7], b)], dtype, new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(path);
        Assert.That(f.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "a", "b.weight" }));
        Assert.That(f["a"].Shape, Is.EqualTo(new long[] { 6, 10 }));
        Assert.That(f["a"].DType, Is.EqualTo(dtype));
        Assert.That(f.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(f.DataOffset % 8, Is.EqualTo(0), "data section starts 8-byte aligned");
        var back = f.ReadFloats("a");
        for (int i = 0; i < a.Length; i++)
        {
            float expected = dtype switch
            {
                TensorDType.F16 => (float)(Half)a[i],
                TensorDType.BF16 => FloatBits.FromBf16(FloatBits.ToBf16(a[i])),
                _ => a[i],
            };
            Assert.That(back[i], Is.EqualTo(expected), $"element {i}");
        }
        // The header is standard JSON another reader can parse: check it byte for byte here.
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var json = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.That(json, Does.Contain($"\"a\":{{\"dtype\":\"{dtype}\",\"shape\":[6,10],\"data_offsets\":[0,{60 * dtype.Size()}]}}"));
        Assert.That(bytes.Length, Is.EqualTo(8 + n + 67 * dtype.Size()));
    }

    [Test]
    public void Bf16_RoundsToNearestEven_LikeTorch()
    {
        Assert.That(FloatBits.ToBf16(1f), Is.EqualTo(0x3F80));
        // 1 + 2^-8 is exactly halfway between bf16 1.0 (even) and 1.0078125: ties go to even.
        Assert.That(FloatBits.ToBf16(BitConverter.Int32BitsToSingle(0x3F808000)), Is.EqualTo(0x3F80));
        Assert.That(FloatBits.ToBf16(BitConverter.Int32BitsToSingle(0x3F818000)), Is.EqualTo(0x3F82));
        Assert.That(FloatBits.ToBf16(BitConverter.Int32BitsToSingle(0x3F808001)), Is.EqualTo(0x3F81));
        Assert.That(float.IsNaN(FloatBits.FromBf16(FloatBits.ToBf16(float.NaN))));
    }

    [Test]
    public void IntegerTensors_RoundTrip()
    {
        using var dir = new TempDir();
        var path = dir.File("i.safetensors");
        using (var w = new SafetensorsWriter(path))
        {
            w.Declare("i32", TensorDType.I32, 3);
            w.Declare("i64", TensorDType.I64, 2, 2);
            w.WriteInts([1, -2, 3]);
            w.WriteLongs([10, 20, 1L << 40, -5]);
            w.Commit();
        }
        using var f = SafetensorsFile.Open(path);
        Assert.That(f.ReadIntegers(f["i32"]), Is.EqualTo(new long[] { 1, -2, 3 }));
        Assert.That(f.ReadIntegers(f["i64"]), Is.EqualTo(new long[] { 10, 20, 1L << 40, -5 }));
    }

    [Test]
    public void Writer_RefusesShortTensors_AndLeavesNoFile()
    {
        using var dir = new TempDir();
        var path = dir.File("short.safetensors");
        using (var w = new SafetensorsWriter(path))
        {
            w.Declare("x", TensorDType.F32, 4);
            w.WriteFloats([1f, 2f]);
            Assert.Throws<InvalidOperationException>(() => w.Commit());
        }
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty);
    }

    private static byte[] RawFile(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, "not valid JSON")]
    [TestCase("[1, 2]", 0, "not a JSON object")]
    [TestCase("{\"a\": {\"dtype\": \"F4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "dtype 'F4'")]
    [TestCase("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "dtype 'Q4'")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "overlap")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "past its end")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [1000000, 1000016]}}", 16, "past its end")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "needs 12 bytes")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "invalid data_offsets")]
    [TestCase("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "bad dimension")]
    [TestCase("{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "no dtype")]
    [TestCase("{\"__metadata__\": {\"k\": 5}}", 0, "not a string")]
    public void CorruptHeaders_AreRefused_WithAClearMessage(string header, int dataBytes, string message)
    {
        using var dir = new TempDir();
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, RawFile(header, dataBytes));
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.That(e!.Message, Does.Contain(message));
        Assert.That(e.Message, Does.Contain("bad.safetensors"));
    }

    [Test]
    public void TruncatedFiles_AreRefused_AtEveryLength()
    {
        using var dir = new TempDir();
        var good = dir.File("good.safetensors");
        SafetensorsWriter.WriteAll(good, [("w", [4, 4], new float[16])]);
        var bytes = File.ReadAllBytes(good);
        foreach (int len in new[] { 0, 3, 8, 20, bytes.Length - 64, bytes.Length - 1 })
        {
            var path = dir.File($"cut{len}.safetensors");
            File.WriteAllBytes(path, bytes[..len]);
            var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose(), $"length {len}");
            Assert.That(e!.Message, Does.Contain("truncated").Or.Contain("not valid JSON"), $"length {len}");
        }
    }

    [Test]
    public void HugeHeaderLength_IsRefused_WithoutAllocating()
    {
        using var dir = new TempDir();
        var path = dir.File("huge.safetensors");
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue - 3);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.That(e!.Message, Does.Contain("limit"));
    }

    [Test]
    public void MissingFile_AndDirectory_GiveClearErrors()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Open(dir.File("nope.safetensors")));
        Assert.Throws<IOException>(() => SafetensorsFile.Open(dir.Path));
    }

    [Test]
    public void ShardedIndex_OpensAllShards_AndRefusesPathTricks()
    {
        using var dir = new TempDir();
        SafetensorsWriter.WriteAll(dir.File("m-1.safetensors"), [("a.weight", [2, 2], [1, 2, 3, 4])]);
        SafetensorsWriter.WriteAll(dir.File("m-2.safetensors"), [("b.weight", [1, 2], [5, 6])]);
        var index = dir.File("model.safetensors.index.json");
        File.WriteAllText(index, "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {\"a.weight\": \"m-1.safetensors\", \"b.weight\": \"m-2.safetensors\"}}");
        using (var m = SafetensorsModel.Open(index))
        {
            Assert.That(m.Shards, Has.Count.EqualTo(2));
            var (f, e) = m.Find("b.weight");
            Assert.That(f.ReadFloats(e), Is.EqualTo(new[] { 5f, 6f }));
        }
        File.WriteAllText(index, "{\"weight_map\": {\"a.weight\": \"../m-1.safetensors\"}}");
        Assert.That(Assert.Throws<InvalidDataException>(() => SafetensorsModel.Open(index))!.Message, Does.Contain("plain file name"));
        File.WriteAllText(index, "{\"weight_map\": {\"zzz\": \"m-1.safetensors\"}}");
        Assert.That(Assert.Throws<InvalidDataException>(() => SafetensorsModel.Open(index))!.Message, Does.Contain("has no such tensor"));
        File.WriteAllText(index, "{\"weights\": {}}");
        Assert.That(Assert.Throws<InvalidDataException>(() => SafetensorsModel.Open(index))!.Message, Does.Contain("weight_map"));
    }

    [Test]
    public void EveryKnownSizeDType_Opens_F64ReadsAsValues_AndTheOthersAreRefusedOnlyWhenRead()
    {
        using var dir = new TempDir();
        var path = dir.File("mixed.safetensors");
        double[] f64 = [1.5, -0.25, 1e-30];
        PeftFiles.Write(path, [
            new PeftFiles.T("d", TensorDType.F64, [3], f64),
            new PeftFiles.T("u", TensorDType.U8, [2, 2], new byte[] { 1, 2, 3, 4 }),
            new PeftFiles.T("flags", TensorDType.BOOL, [3], new byte[] { 1, 0, 1 }),
            new PeftFiles.T("q", TensorDType.F8_E4M3, [4], new byte[] { 0x38, 0, 0, 0 }),
            new PeftFiles.T("w", TensorDType.F32, [2], new float[] { 1, 2 })]);
        using var f = SafetensorsFile.Open(path);
        Assert.That(f.Tensors.Select(t => t.DType), Is.EqualTo(new[] { TensorDType.F64, TensorDType.U8, TensorDType.BOOL, TensorDType.F8_E4M3, TensorDType.F32 }));
        Assert.That(f.ReadDoubles(f["d"]), Is.EqualTo(f64));
        Assert.That(f.ReadFloats("d"), Is.EqualTo(f64.Select(x => (float)x).ToArray()));
        Assert.That(f.Bytes(f["u"]).ToArray(), Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
        var e = Assert.Throws<InvalidDataException>(() => f.ReadFloats("u"));
        Assert.That(e!.Message, Does.Contain("'u'").And.Contain("U8"));
    }
}
