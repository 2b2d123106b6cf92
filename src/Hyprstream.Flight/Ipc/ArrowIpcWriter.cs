using System.Buffers.Binary;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Encodes Arrow IPC messages (format V5): the FlatBuffers `Message` metadata for a Schema or a RecordBatch, and
/// the encapsulated framing (0xFFFFFFFF, metadata length, metadata padded to 8, body). Field and type ids follow
/// Message.fbs / Schema.fbs.
/// </summary>
public static class ArrowIpcWriter
{
    internal const short MetadataV5 = 4;
    internal const byte HeaderSchema = 1, HeaderRecordBatch = 3;
    internal const byte TypeInt = 2, TypeFloatingPoint = 3, TypeBinary = 4, TypeUtf8 = 5, TypeFixedSizeList = 16;

    /// <summary>The Message flatbuffer of a Schema (what FlightData.data_header carries).</summary>
    public static byte[] SchemaMessage(ArrowSchema schema)
    {
        var s = new FlatBufferTable().Short(0, 0).Tables(1, schema.Fields.Select(FieldTable).ToList());
        if (schema.Metadata.Count > 0)
            s.Tables(2, schema.Metadata.Select(kv => new FlatBufferTable().String(0, kv.Key).String(1, kv.Value)).ToList());
        return FlatBufferWriter.Finish(new FlatBufferTable().Short(0, MetadataV5).Byte(1, HeaderSchema).Table(2, s).Long(3, 0));
    }

    private static FlatBufferTable FieldTable(ArrowField f)
    {
        var (typeId, type) = TypeTable(f.Type);
        var children = f.Type.Child is { } c ? new List<FlatBufferTable> { FieldTable(c) } : new List<FlatBufferTable>();
        // Arrow C++ requires `children` even when empty, so it is always written.
        return new FlatBufferTable().String(0, f.Name).Bool(1, f.Nullable).Byte(2, typeId).Table(3, type).Tables(5, children);
    }

    private static (byte, FlatBufferTable) TypeTable(ArrowType t) => t.Id switch
    {
        ArrowTypeId.Int32 => (TypeInt, new FlatBufferTable().Int(0, 32).Bool(1, true)),
        ArrowTypeId.Int64 => (TypeInt, new FlatBufferTable().Int(0, 64).Bool(1, true)),
        ArrowTypeId.Float16 => (TypeFloatingPoint, new FlatBufferTable().Short(0, 0)),
        ArrowTypeId.Float32 => (TypeFloatingPoint, new FlatBufferTable().Short(0, 1)),
        ArrowTypeId.Utf8 => (TypeUtf8, new FlatBufferTable()),
        ArrowTypeId.Binary => (TypeBinary, new FlatBufferTable()),
        ArrowTypeId.FixedSizeList => (TypeFixedSizeList, new FlatBufferTable().Int(0, t.ListSize)),
        _ => throw new NotSupportedException(t.ToString()),
    };

    /// <summary>The Message flatbuffer of a RecordBatch and its body (buffers in pre-order, 8-aligned offsets).</summary>
    public static (byte[] Header, IpcBody Body) RecordBatchMessage(ArrowRecordBatch batch)
    {
        var nodes = new List<(long, long)>();
        var buffers = new List<ReadOnlyMemory<byte>>();
        foreach (var c in batch.Columns) Flatten(c, nodes, buffers);
        var body = new IpcBody(buffers);
        var specs = new List<(long, long)>(buffers.Count);
        long offset = 0;
        foreach (var b in buffers)
        {
            specs.Add((offset, b.Length));
            offset += IpcBody.Padded(b.Length);
        }
        var rb = new FlatBufferTable().Long(0, batch.Length).LongPairs(1, nodes).LongPairs(2, specs);
        var header = FlatBufferWriter.Finish(new FlatBufferTable().Short(0, MetadataV5).Byte(1, HeaderRecordBatch).Table(2, rb).Long(3, body.Length));
        return (header, body);
    }

    private static void Flatten(ArrowArray a, List<(long, long)> nodes, List<ReadOnlyMemory<byte>> buffers)
    {
        nodes.Add((a.Length, a.NullCount));
        buffers.AddRange(a.Buffers);
        if (a.Child != null) Flatten(a.Child, nodes, buffers);
    }

    /// <summary>0xFFFFFFFF, the padded metadata length, the metadata and its padding (the body follows).</summary>
    public static byte[] EncapsulatedPrefix(ReadOnlySpan<byte> metadata)
    {
        int padded = IpcBody.Padded(8 + metadata.Length) - 8;
        var o = new byte[8 + padded];
        BinaryPrimitives.WriteUInt32LittleEndian(o, 0xFFFFFFFF);
        BinaryPrimitives.WriteInt32LittleEndian(o.AsSpan(4), padded);
        metadata.CopyTo(o.AsSpan(8));
        return o;
    }

    /// <summary>The encapsulated Schema message, as FlightInfo.schema and SchemaResult.schema carry it.</summary>
    public static byte[] EncapsulatedSchema(ArrowSchema schema) => EncapsulatedPrefix(SchemaMessage(schema));

    /// <summary>Writes a whole IPC stream (schema, batches, end-of-stream marker).</summary>
    public static void WriteStream(Stream s, ArrowSchema schema, IEnumerable<ArrowRecordBatch> batches)
    {
        s.Write(EncapsulatedSchema(schema));
        foreach (var b in batches)
        {
            var (h, body) = RecordBatchMessage(b);
            s.Write(EncapsulatedPrefix(h));
            s.Write(body.ToArray());
        }
        s.Write([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
    }
}
