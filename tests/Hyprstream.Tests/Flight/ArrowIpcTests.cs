using System.Buffers.Binary;
using Hyprstream.Flight.Ipc;

namespace Hyprstream.Tests.Flight;

/// <summary>The Arrow IPC layer on its own: round trips of every supported type, layout rules, lying messages.</summary>
[TestFixture]
public sealed class ArrowIpcTests
{
    private static ArrowRecordBatch AllTypes()
    {
        var schema = new ArrowSchema([
            new ArrowField("i64", ArrowType.Int64, false),
            new ArrowField("f32", ArrowType.Float32),
            new ArrowField("f16", ArrowType.Float16),
            new ArrowField("s", ArrowType.Utf8),
            new ArrowField("b", ArrowType.Binary),
            new ArrowField("v", ArrowType.FixedSizeList(3, ArrowType.Float32)),
            new ArrowField("i32", ArrowType.Int32),
        ], new Dictionary<string, string> { ["k"] = "v" });
        return new ArrowRecordBatch(schema, 3, [
            ArrowArray.Int64([1, -2, long.MaxValue]),
            ArrowArray.Float32([0.5f, 0f, -3.25f], validity: [0b101], nullCount: 1),
            ArrowArray.Float16([(Half)1.5, (Half)(-2), (Half)0.25]),
            ArrowArray.Utf8(["ä", null, "hello"]),
            ArrowArray.Binary([[1, 2], [], null]),
            ArrowArray.FixedSizeListFloat32(3, [1, 2, 3, 4, 5, 6, 7, 8, 9]),
            ArrowArray.Int32([7, 8, 9]),
        ]);
    }

    [Test]
    public void Stream_RoundTrips_EveryType_WithNulls()
    {
        var ms = new MemoryStream();
        var batch = AllTypes();
        ArrowIpcWriter.WriteStream(ms, batch.Schema, [batch, batch]);
        var (schema, batches) = ArrowIpcReader.ReadStream(ms.ToArray());
        Assert.That(schema.SameColumns(batch.Schema), Is.True, schema.ToString());
        Assert.That(schema.Fields[0].Nullable, Is.False);
        Assert.That(schema.Metadata["k"], Is.EqualTo("v"));
        Assert.That(batches, Has.Count.EqualTo(2));
        var b = batches[1];
        Assert.That(b.Column("i64").Values<long>().ToArray(), Is.EqualTo(new[] { 1L, -2, long.MaxValue }));
        var f32 = b.Column("f32");
        Assert.That(new[] { f32.IsValid(0), f32.IsValid(1), f32.IsValid(2) }, Is.EqualTo(new[] { true, false, true }));
        Assert.That(f32.Values<float>()[2], Is.EqualTo(-3.25f));
        Assert.That(b.Column("f16").Values<Half>().ToArray(), Is.EqualTo(new[] { (Half)1.5, (Half)(-2), (Half)0.25 }));
        var s = b.Column("s");
        Assert.That((s.GetString(0), s.IsValid(1), s.GetString(2)), Is.EqualTo(("ä", false, "hello")));
        var bin = b.Column("b");
        Assert.That(bin.Bytes(0).ToArray(), Is.EqualTo(new byte[] { 1, 2 }));
        Assert.That(bin.IsValid(2), Is.False);
        Assert.That(b.Column("v").Child!.Values<float>().ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }));
        Assert.That(b.Column("i32").Values<int>().ToArray(), Is.EqualTo(new[] { 7, 8, 9 }));
    }

    [Test]
    public void RecordBatch_Layout_PreOrderNodes_AlignedBuffers_PaddedMessages()
    {
        var (header, body) = ArrowIpcWriter.RecordBatchMessage(AllTypes());
        var rb = FlatBufferReader.Root(header).Table(2)!.Value;
        var nodes = rb.LongPairs(1);
        var buffers = rb.LongPairs(2);
        // 7 columns + the FixedSizeList child; 2+2+2+3+3+1(+2 child)+2 buffers.
        Assert.That(nodes, Has.Count.EqualTo(8));
        Assert.That(nodes[6], Is.EqualTo((9L, 0L)), "the list's child node holds length × list size values");
        Assert.That(buffers, Has.Count.EqualTo(17));
        Assert.That(buffers.All(b => b.Item1 % 8 == 0), Is.True);
        Assert.That(body.Length % 8, Is.EqualTo(0));
        Assert.That(FlatBufferReader.Root(header).Long(3), Is.EqualTo(body.Length));
        Assert.That(FlatBufferReader.Root(header).Short(0), Is.EqualTo(4), "MetadataVersion V5");
        var prefix = ArrowIpcWriter.EncapsulatedPrefix(header);
        Assert.That(prefix.Length % 8, Is.EqualTo(0));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(prefix), Is.EqualTo(0xFFFFFFFF));
    }

    private static (ArrowSchema, byte[] Header, byte[] Body) Encoded()
    {
        var batch = AllTypes();
        var (h, body) = ArrowIpcWriter.RecordBatchMessage(batch);
        return (batch.Schema, h, body.ToArray());
    }

    [Test]
    public void TruncatedBody_IsInvalidData()
    {
        var (schema, h, body) = Encoded();
        var e = Assert.Throws<InvalidDataException>(() => ArrowIpcReader.ReadRecordBatch(schema, h, body.AsMemory(0, body.Length - 16)));
        Assert.That(e!.Message, Does.Contain("body"));
    }

    [Test]
    public void BufferPastTheBody_WrongBufferCount_DecreasingOffsets_AreInvalidData()
    {
        var (schema, _, body) = Encoded();
        FlatBufferTable Rb(IReadOnlyList<(long, long)> nodes, IReadOnlyList<(long, long)> bufs, long length = 3) =>
            new FlatBufferTable().Short(0, 4).Byte(1, 3).Table(2, new FlatBufferTable().Long(0, length).LongPairs(1, nodes).LongPairs(2, bufs)).Long(3, body.Length);
        var real = FlatBufferReader.Root(Encoded().Header).Table(2)!.Value;
        var nodes = real.LongPairs(1).ToList();
        var bufs = real.LongPairs(2).ToList();

        var past = bufs.ToList();
        past[1] = (past[1].Item1, body.Length * 2L);
        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, FlatBufferWriter.Finish(Rb(nodes, past)), body), Throws.TypeOf<InvalidDataException>().With.Message.Contains("outside"));

        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, FlatBufferWriter.Finish(Rb(nodes, bufs.Take(10).ToList())), body),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("buffers"));
        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, FlatBufferWriter.Finish(Rb(nodes.Take(5).ToList(), bufs)), body),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("field nodes"));
        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, FlatBufferWriter.Finish(Rb(nodes, bufs, length: 1000)), body),
            Throws.TypeOf<InvalidDataException>());

        var unaligned = bufs.ToList();
        unaligned[1] = (unaligned[1].Item1 + 4, unaligned[1].Item2);
        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, FlatBufferWriter.Finish(Rb(nodes, unaligned)), body),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("aligned"));

        // Utf8 offsets that decrease: corrupt the body's offsets buffer for column "s" (buffers 7..9: validity, offsets, data).
        var bad = body.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan((int)bufs[7].Item1 + 4), 1000);
        Assert.That(() => ArrowIpcReader.ReadRecordBatch(schema, Encoded().Header, bad), Throws.TypeOf<InvalidDataException>());
    }

    [Test]
    public void EveryTruncationAndByteFlip_OfTheMetadata_FailsCleanly()
    {
        var (schema, h, body) = Encoded();
        var rng = new Random(5);
        for (int n = 0; n < h.Length; n++)
            AssertClean(() => ArrowIpcReader.ReadRecordBatch(schema, h.AsMemory(0, n), body));
        for (int i = 0; i < 2000; i++)
        {
            var c = h.ToArray();
            c[rng.Next(c.Length)] ^= (byte)(1 << rng.Next(8));
            AssertClean(() => ArrowIpcReader.ReadRecordBatch(schema, c, body));
        }
        var schemaBytes = ArrowIpcWriter.SchemaMessage(schema);
        for (int i = 0; i < 2000; i++)
        {
            var c = schemaBytes.ToArray();
            c[rng.Next(c.Length)] ^= (byte)(1 << rng.Next(8));
            AssertClean(() => ArrowIpcReader.ReadSchema(c));
        }
    }

    /// <summary>Either decodes or throws one of the documented exceptions — never an index or overflow error.</summary>
    private static void AssertClean(Action read)
    {
        try { read(); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException) { }
    }

    [Test]
    public void DictionaryEncodedField_IsRefusedWithAClearMessage()
    {
        var field = new FlatBufferTable().String(0, "module").Bool(1, true).Byte(2, 5).Table(3, new FlatBufferTable())
            .Table(4, new FlatBufferTable().Long(0, 0)).Tables(5, []);
        var msg = new FlatBufferTable().Short(0, 4).Byte(1, 1).Table(2, new FlatBufferTable().Tables(1, [field]));
        var e = Assert.Throws<InvalidDataException>(() => ArrowIpcReader.ReadSchema(FlatBufferWriter.Finish(msg)));
        Assert.That(e!.Message, Does.Contain("dictionary"));
    }
}
