using Apache.Arrow;
using Apache.Arrow.Types;
using Google.Protobuf;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Tests.Flight;

/// <summary>
/// The thin layer between FlightData and Apache.Arrow's IPC stream: what the writer sends the reader gets back
/// (dictionaries, fixed-size lists, half floats, zstd and lz4 bodies), and damaged or lying messages fail with
/// InvalidDataException — never another exception, a hang, or an allocation the sender merely declared.
/// </summary>
[TestFixture]
public sealed class FlightDataLayerTests
{
    private static readonly StringArray Names = Columns.Utf8(["q_proj", "k_proj", "v_proj"]);

    private static (Schema, RecordBatch) Rows(int n, int seed = 1)
    {
        var rng = new Random(seed);
        var type = Columns.DictionaryOf(Names.Length);
        var schema = new Schema([new Field("module", type, false), new Field("row", Int32Type.Default, false), new Field("value", FloatType.Default, false)], null);
        var idx = Enumerable.Range(0, n).Select(i => (short)(i % 3)).ToArray();
        var rows = Enumerable.Range(0, n).Select(_ => rng.Next(1000)).ToArray();
        var vals = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        return (schema, new RecordBatch(schema, [new DictionaryArray(type, Columns.Int16(idx, n), Names), Columns.Int32(rows, n), Columns.Float32(vals, n)], n));
    }

    private static (Schema, RecordBatch) Tiles(int tiles, bool half)
    {
        var items = half
            ? (IArrowArray)new HalfFloatArray(ArrayMemory<Half>.Buffer(Enumerable.Range(0, tiles * 512).Select(i => (Half)(i % 97 * 0.5f)).ToArray(), tiles * 512), ArrowBuffer.Empty, tiles * 512, 0, 0)
            : Columns.Float32(Enumerable.Range(0, tiles * 512).Select(i => i % 97 * 0.5f).ToArray(), tiles * 512);
        var list = Columns.FixedSizeList(items, 512, tiles);
        var schema = new Schema([new Field("tile_row", Int32Type.Default, false), new Field("values", list.Data.DataType, false)], null);
        return (schema, new RecordBatch(schema, [Columns.Int32(Enumerable.Range(0, tiles).ToArray(), tiles), list], tiles));
    }

    [TestCase(IpcCompression.None)]
    [TestCase(IpcCompression.Zstd)]
    [TestCase(IpcCompression.Lz4)]
    public void RowsWithADictionary_RoundTrip_ValueByValue(IpcCompression compression)
    {
        var (schema, a) = Rows(5000, 1);
        var (_, b) = Rows(3000, 2);
        var messages = FlightMessages.Of(schema, [a, b], new FlightDescriptor { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { "x" } }, compression);
        Assert.That(messages[0].FlightDescriptor.Path, Is.EqualTo(new[] { "x" }), "the descriptor goes with the schema");
        Assert.That(messages.Count(m => m.DataBody.Length > 0), Is.EqualTo(3), "one dictionary batch, then the two record batches");
        var got = FlightMessages.Read(messages);
        Assert.That(got.Select(x => x.Length), Is.EqualTo(new[] { 5000, 3000 }));
        foreach (var (sent, back) in new[] { (a, got[0]), (b, got[1]) })
        {
            var (names, idx) = Columns.Strings(back.Column(0), "module");
            for (int i = 0; i < sent.Length; i++) Assert.That(names[idx[i]], Is.EqualTo(Names.GetString(i % 3)));
            Assert.That(((Int32Array)back.Column(1)).Values.ToArray(), Is.EqualTo(((Int32Array)sent.Column(1)).Values.ToArray()));
            Assert.That(((FloatArray)back.Column(2)).Values.ToArray(), Is.EqualTo(((FloatArray)sent.Column(2)).Values.ToArray()));
        }
    }

    [TestCase(false, IpcCompression.None)]
    [TestCase(true, IpcCompression.None)]
    [TestCase(false, IpcCompression.Zstd)]
    public void Tiles_RoundTrip_AndCompressionShrinksTheBody(bool half, IpcCompression compression)
    {
        var (schema, batch) = Tiles(64, half);
        var plain = FlightMessages.Of(schema, [batch]);
        var messages = FlightMessages.Of(schema, [batch], compression: compression);
        if (compression != IpcCompression.None)
            Assert.That(messages[^1].DataBody.Length, Is.LessThan(plain[^1].DataBody.Length / 2), "values repeat every 97: zstd must shrink them");
        var back = FlightMessages.Read(messages).Single();
        var list = (FixedSizeListArray)back.Column(1);
        Assert.That(list.Length, Is.EqualTo(64));
        var want = (FixedSizeListArray)batch.Column(1);
        if (half) Assert.That(((HalfFloatArray)list.Values).Values.ToArray(), Is.EqualTo(((HalfFloatArray)want.Values).Values.ToArray()));
        else Assert.That(((FloatArray)list.Values).Values.ToArray(), Is.EqualTo(((FloatArray)want.Values).Values.ToArray()));
    }

    [Test]
    public void SchemaBytes_RoundTrip_WithMetadata()
    {
        var (schema, _) = Rows(1);
        var withMeta = new Schema(schema.FieldsList, new Dictionary<string, string> { ["hyprstream.adapter"] = "a" });
        var back = SchemaBytes.Decode(SchemaBytes.Encode(withMeta));
        Assert.That(back.FieldsList.Select(f => f.Name), Is.EqualTo(new[] { "module", "row", "value" }));
        Assert.That(back.Metadata["hyprstream.adapter"], Is.EqualTo("a"));
        Assert.That(back.GetFieldByIndex(0).DataType, Is.TypeOf<DictionaryType>());
    }

    [Test]
    public void EveryTruncationAndByteFlip_OfTheMetadata_FailsCleanly()
    {
        var (schema, batch) = Rows(40);
        var messages = FlightMessages.Of(schema, [batch]);
        int refused = 0, read = 0;
        for (int which = 0; which < messages.Count; which++)
        {
            var header = messages[which].DataHeader.ToByteArray();
            var variants = new List<byte[]>();
            for (int cut = 0; cut < header.Length; cut++) variants.Add(header[..cut]);
            for (int at = 0; at < header.Length; at++)
            {
                var f = (byte[])header.Clone();
                f[at] ^= 0xFF;
                variants.Add(f);
            }
            foreach (var v in variants)
            {
                var damaged = messages.Select(m => m.Clone()).ToList();
                damaged[which].DataHeader = ByteString.CopyFrom(v);
                try
                {
                    var batches = FlightMessages.Read(damaged, maxBuffer: 1 << 20);
                    // A flip that leaves a readable stream must still give columns whose values can be read.
                    foreach (var b in batches)
                        for (int c = 0; c < b.ColumnCount; c++) _ = b.Column(c) is PrimitiveArray<int> p ? p.Values.Length : 0;
                    read++;
                }
                catch (InvalidDataException) { refused++; }
            }
        }
        TestContext.Out.WriteLine($"{refused} damaged streams refused, {read} still readable");
        Assert.That(refused, Is.GreaterThan(read), "most damage must be detected");
    }

    [Test]
    public void ABodyOfTheWrongLength_IsRefusedBeforeArrowReadsIt()
    {
        var (schema, batch) = Rows(100);
        var messages = FlightMessages.Of(schema, [batch]);
        messages[^1].DataBody = ByteString.CopyFrom(messages[^1].DataBody.Span[..24]);
        var e = Assert.Throws<InvalidDataException>(() => FlightMessages.Read(messages));
        Assert.That(e!.Message, Does.Contain("declares"));
    }

    [Test]
    public void ACompressedBufferThatClaimsMoreThanTheCeiling_IsNotAllocated()
    {
        var (schema, batch) = Tiles(256, half: false); // 512 KB of values, compressed to a few KB
        var messages = FlightMessages.Of(schema, [batch], compression: IpcCompression.Zstd);
        Assert.That(messages[^1].DataBody.Length, Is.LessThan(64 << 10));
        var e = Assert.Throws<InvalidDataException>(() => FlightMessages.Read(messages, maxBuffer: 64 << 10));
        Assert.That(e!.Message, Does.Contain("declared"));
        Assert.That(FlightMessages.Read(messages, maxBuffer: 1 << 20).Single().Length, Is.EqualTo(256), "under a ceiling it fits, it reads");
    }

    [Test]
    public void ASchemaNestedDeeperThanTheLimit_IsRefused()
    {
        IArrowType t = Int32Type.Default;
        for (int i = 0; i < IpcMessage.MaxDepth + 2; i++) t = new ListType(new Field("item", t, true));
        var bytes = SchemaBytes.Encode(new Schema([new Field("deep", t, true)], null));
        var e = Assert.Throws<InvalidDataException>(() => SchemaBytes.Decode(bytes));
        Assert.That(e!.Message, Does.Contain("deep"));
    }
}
