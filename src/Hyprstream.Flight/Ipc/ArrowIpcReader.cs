using System.Buffers.Binary;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Decodes Arrow IPC messages and checks them against their body before anything is read: buffer count and
/// 8-aligned offsets inside the body, node lengths, validity/value/offset buffer sizes, monotonic offsets. A lying
/// message is an InvalidDataException naming what is wrong. Types outside <see cref="ArrowTypeId"/> are refused.
/// </summary>
public static class ArrowIpcReader
{
    public enum MessageKind { Schema, RecordBatch, Other }

    /// <summary>The kind of a Message flatbuffer and its declared body length.</summary>
    public static (MessageKind Kind, long BodyLength) Peek(ReadOnlyMemory<byte> header)
    {
        var m = FlatBufferReader.Root(header);
        var kind = m.Byte(1) switch { ArrowIpcWriter.HeaderSchema => MessageKind.Schema, ArrowIpcWriter.HeaderRecordBatch => MessageKind.RecordBatch, _ => MessageKind.Other };
        long body = m.Long(3);
        if (body < 0) throw new InvalidDataException("invalid Arrow IPC message: negative body length");
        return (kind, body);
    }

    public static ArrowSchema ReadSchema(ReadOnlyMemory<byte> header)
    {
        var m = FlatBufferReader.Root(header);
        if (m.Byte(1) != ArrowIpcWriter.HeaderSchema) throw new InvalidDataException("expected an Arrow Schema message");
        var s = m.Table(2) ?? throw new InvalidDataException("Schema message without a schema");
        if (s.Short(0) != 0) throw new InvalidDataException("big-endian Arrow data is not supported");
        var fields = s.Tables(1).Select(ReadField).ToList();
        var meta = new Dictionary<string, string>();
        foreach (var kv in s.Tables(2))
            if (kv.String(0) is { } k) meta[k] = kv.String(1) ?? "";
        return new ArrowSchema(fields, meta);
    }

    /// <summary>An encapsulated schema (FlightInfo.schema), with or without the continuation marker.</summary>
    public static ArrowSchema ReadEncapsulatedSchema(ReadOnlyMemory<byte> bytes)
    {
        var s = bytes.Span;
        int at = s.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(s) == 0xFFFFFFFF ? 4 : 0;
        if (s.Length < at + 4) throw new InvalidDataException("encapsulated schema is truncated");
        int len = BinaryPrimitives.ReadInt32LittleEndian(s[at..]);
        if (len <= 0 || at + 4 + (long)len > s.Length) throw new InvalidDataException("encapsulated schema length is out of range");
        return ReadSchema(bytes.Slice(at + 4, len));
    }

    private static ArrowField ReadField(FlatBufferReader f)
    {
        var name = f.String(0) ?? "";
        if (f.Has(4)) throw new InvalidDataException($"field '{name}' is dictionary-encoded; send plain (non-dictionary) columns");
        var t = f.Table(3) ?? throw new InvalidDataException($"field '{name}' has no type");
        var children = f.Tables(5);
        ArrowType type = f.Byte(2) switch
        {
            ArrowIpcWriter.TypeInt => (t.Int(0), t.Bool(1)) switch
            {
                (32, true) => ArrowType.Int32,
                (64, true) => ArrowType.Int64,
                var (w, signed) => throw Unsupported(name, $"{(signed ? "" : "u")}int{w}"),
            },
            ArrowIpcWriter.TypeFloatingPoint => t.Short(0) switch
            {
                0 => ArrowType.Float16,
                1 => ArrowType.Float32,
                _ => throw Unsupported(name, "float64"),
            },
            ArrowIpcWriter.TypeUtf8 => ArrowType.Utf8,
            ArrowIpcWriter.TypeBinary => ArrowType.Binary,
            ArrowIpcWriter.TypeFixedSizeList => children.Count == 1 && t.Int(0) > 0
                ? new ArrowType(ArrowTypeId.FixedSizeList, t.Int(0), ReadField(children[0]))
                : throw new InvalidDataException($"field '{name}': fixed_size_list needs one child and a positive size"),
            var id => throw Unsupported(name, $"type id {id}"),
        };
        return new ArrowField(name, type, f.Bool(1));
    }

    private static NotSupportedException Unsupported(string name, string type) =>
        new($"field '{name}' has Arrow type {type}, which this server does not read (supported: int32, int64, float16, float32, utf8, binary, fixed_size_list<float32>)");

    /// <summary>A RecordBatch message and its body, checked against <paramref name="schema"/>.</summary>
    public static ArrowRecordBatch ReadRecordBatch(ArrowSchema schema, ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> body)
    {
        var m = FlatBufferReader.Root(header);
        if (m.Byte(1) != ArrowIpcWriter.HeaderRecordBatch) throw new InvalidDataException("expected an Arrow RecordBatch message");
        long declared = m.Long(3);
        if (declared > body.Length) throw new InvalidDataException($"RecordBatch declares a {declared}-byte body but {body.Length} bytes came");
        var rb = m.Table(2) ?? throw new InvalidDataException("RecordBatch message without a record batch");
        if (rb.Has(3)) throw new InvalidDataException("compressed record batches are not supported");
        long length = rb.Long(0);
        if (length < 0 || length > int.MaxValue) throw new InvalidDataException($"RecordBatch length {length} is out of range");
        var nodes = rb.LongPairs(1);
        var specs = rb.LongPairs(2);
        int expectNodes = 0, expectBuffers = 0;
        foreach (var f in schema.Fields) Count(f.Type, ref expectNodes, ref expectBuffers);
        if (nodes.Count != expectNodes) throw new InvalidDataException($"RecordBatch has {nodes.Count} field nodes; the schema needs {expectNodes}");
        if (specs.Count != expectBuffers) throw new InvalidDataException($"RecordBatch has {specs.Count} buffers; the schema needs {expectBuffers}");
        var buffers = new ReadOnlyMemory<byte>[specs.Count];
        for (int i = 0; i < specs.Count; i++)
        {
            var (off, len) = specs[i];
            if (off < 0 || len < 0 || off + len > body.Length)
                throw new InvalidDataException($"buffer {i} (offset {off}, length {len}) lies outside the {body.Length}-byte body");
            if (off % 8 != 0) throw new InvalidDataException($"buffer {i} does not start at an 8-byte aligned offset ({off})");
            buffers[i] = body.Slice((int)off, (int)len);
        }
        int node = 0, buffer = 0;
        var columns = new List<ArrowArray>(schema.Fields.Count);
        foreach (var f in schema.Fields) columns.Add(Build(f, (int)length, nodes, buffers, ref node, ref buffer));
        return new ArrowRecordBatch(schema, (int)length, columns);
    }

    private static void Count(ArrowType t, ref int nodes, ref int buffers)
    {
        nodes++;
        buffers += t.BufferCount;
        if (t.Child != null) Count(t.Child.Type, ref nodes, ref buffers);
    }

    private static ArrowArray Build(ArrowField f, int expectedLength, IReadOnlyList<(long, long)> nodes, ReadOnlyMemory<byte>[] buffers, ref int node, ref int buffer)
    {
        var (len, nulls) = nodes[node++];
        if (len != expectedLength) throw new InvalidDataException($"column '{f.Name}' has {len} values; {expectedLength} expected");
        if (nulls < 0 || nulls > len) throw new InvalidDataException($"column '{f.Name}' has null count {nulls} for {len} values");
        int n = (int)len;
        var own = buffers.AsSpan(buffer, f.Type.BufferCount).ToArray();
        buffer += own.Length;
        if (nulls > 0 && own[0].Length < (n + 7) / 8) throw new InvalidDataException($"column '{f.Name}': validity bitmap is shorter than {n} bits");
        if (!f.Nullable && nulls > 0) throw new InvalidDataException($"column '{f.Name}' is not nullable but has {nulls} nulls");
        switch (f.Type.Id)
        {
            case ArrowTypeId.FixedSizeList:
                long childLength = (long)n * f.Type.ListSize;
                if (childLength > int.MaxValue) throw new InvalidDataException($"column '{f.Name}': {n} lists of {f.Type.ListSize} values is too many");
                var child = Build(f.Type.Child!, (int)childLength, nodes, buffers, ref node, ref buffer);
                return new ArrowArray(f.Type, n, (int)nulls, own, child);
            case ArrowTypeId.Utf8 or ArrowTypeId.Binary:
                if (own[1].Length < 4L * (n + 1)) throw new InvalidDataException($"column '{f.Name}': offsets buffer is shorter than {n + 1} entries");
                var offsets = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(own[1].Span);
                if (offsets[0] < 0) throw new InvalidDataException($"column '{f.Name}': negative first offset");
                for (int i = 0; i < n; i++)
                    if (offsets[i + 1] < offsets[i]) throw new InvalidDataException($"column '{f.Name}': offsets decrease at {i}");
                if (offsets[n] > own[2].Length) throw new InvalidDataException($"column '{f.Name}': offsets point past the {own[2].Length}-byte data buffer");
                if (f.Type.Id == ArrowTypeId.Utf8 && !System.Text.Unicode.Utf8.IsValid(own[2].Span[offsets[0]..offsets[n]]))
                    throw new InvalidDataException($"column '{f.Name}' holds bytes that are not UTF-8");
                return new ArrowArray(f.Type, n, (int)nulls, own);
            default:
                if (own[1].Length < (long)f.Type.Width * n) throw new InvalidDataException($"column '{f.Name}': values buffer holds fewer than {n} values");
                return new ArrowArray(f.Type, n, (int)nulls, own);
        }
    }

    /// <summary>Reads a whole IPC stream (as written by <see cref="ArrowIpcWriter.WriteStream"/> or any Arrow library).</summary>
    public static (ArrowSchema Schema, List<ArrowRecordBatch> Batches) ReadStream(ReadOnlyMemory<byte> bytes)
    {
        ArrowSchema? schema = null;
        var batches = new List<ArrowRecordBatch>();
        int p = 0;
        while (p + 4 <= bytes.Length)
        {
            var s = bytes.Span;
            if (BinaryPrimitives.ReadUInt32LittleEndian(s[p..]) == 0xFFFFFFFF) p += 4;
            if (p + 4 > bytes.Length) throw new InvalidDataException("stream is truncated");
            int len = BinaryPrimitives.ReadInt32LittleEndian(s[p..]);
            p += 4;
            if (len == 0) break;
            if (len < 0 || p + (long)len > bytes.Length) throw new InvalidDataException("message length runs past the stream");
            var header = bytes.Slice(p, len);
            p += len;
            var (kind, bodyLen) = Peek(header);
            if (p + bodyLen > bytes.Length) throw new InvalidDataException("message body runs past the stream");
            var body = bytes.Slice(p, (int)bodyLen);
            p += (int)bodyLen;
            if (kind == MessageKind.Schema) schema = ReadSchema(header);
            else if (kind == MessageKind.RecordBatch)
                batches.Add(ReadRecordBatch(schema ?? throw new InvalidDataException("record batch before the schema"), header, body));
            else throw new InvalidDataException("unsupported IPC message (dictionary batches are not supported)");
        }
        return (schema ?? throw new InvalidDataException("stream has no schema"), batches);
    }
}
