using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The byte form of an <see cref="AdapterBatch"/> (WAL payloads and the cache's compressed tier):
/// version byte, i32 op count, then each op: u8 kind, the module as a length-prefixed UTF-8 string (7-bit encoded
/// length, as BinaryWriter writes it), then the op's fields; index and value arrays are i32 count + three byte-planed
/// arrays (see <see cref="ByteShuffle"/>) so zstd finds the shared high bytes. Tile ops (SetTiles, AddTiles) are
/// i32 tile count, then tile rows, tile cols and 512 values per tile, each as byte planes. Encoding and decoding work on spans
/// (planes go straight between the arrays and the buffer); decoding checks every length against the input.
/// </summary>
public static class BatchCodec
{
    private const byte Version = 1;

    public static byte[] Encode(AdapterBatch batch)
    {
        var buf = GC.AllocateUninitializedArray<byte>(EncodedSize(batch)); // every byte is written (checked below)
        Encode(batch, buf);
        return buf;
    }

    /// <summary>
    /// The batch encoded into a buffer rented from <see cref="ArrayPool{T}.Shared"/> (the caller returns it); its
    /// first <paramref name="length"/> bytes are what <see cref="Encode(AdapterBatch)"/> returns. The store's write path
    /// uses it so that a large tile batch costs no new large-object-heap array.
    /// </summary>
    public static byte[] EncodeRented(AdapterBatch batch, out int length)
    {
        length = EncodedSize(batch);
        var buf = ArrayPool<byte>.Shared.Rent(length);
        try { Encode(batch, buf.AsSpan(0, length)); }
        catch { ArrayPool<byte>.Shared.Return(buf); throw; }
        return buf;
    }

    private static int EncodedSize(AdapterBatch batch)
    {
        long size = 1 + 4;
        foreach (var op in batch.Ops) size += 1 + StringSize(op.Module) + FieldsSize(op);
        if (size > Array.MaxLength) throw new ArgumentException($"the batch encodes to {size:N0} bytes, more than one buffer holds; split it");
        return (int)size;
    }

    private static void Encode(AdapterBatch batch, Span<byte> buf)
    {
        var w = new Writer(buf);
        w.Byte(Version);
        w.Int(batch.Ops.Count);
        foreach (var op in batch.Ops)
        {
            w.Byte((byte)op.Kind);
            w.String(op.Module);
            switch (op.Kind)
            {
                case BatchOpKind.DefineModule:
                    w.Int(op.Rows); w.Int(op.Cols); w.Float(op.Scalar);
                    break;
                case BatchOpKind.Set or BatchOpKind.Add:
                    w.Int(op.Values!.Length);
                    w.Planes(MemoryMarshal.AsBytes(op.RowIndex.AsSpan()));
                    w.Planes(MemoryMarshal.AsBytes(op.ColIndex.AsSpan()));
                    w.Planes(MemoryMarshal.AsBytes(op.Values.AsSpan()));
                    break;
                case BatchOpKind.SetTiles or BatchOpKind.AddTiles:
                    w.Int(op.RowIndex!.Length);
                    w.Planes(MemoryMarshal.AsBytes(op.RowIndex.AsSpan()));
                    w.Planes(MemoryMarshal.AsBytes(op.ColIndex.AsSpan()));
                    w.Planes(MemoryMarshal.AsBytes(op.Values.AsSpan()));
                    break;
                case BatchOpKind.Prune:
                    w.Float(op.Scalar);
                    break;
                case BatchOpKind.KeepTop:
                    w.Float(op.Scalar); w.Int(op.Rows);
                    break;
                case BatchOpKind.SetMetadata:
                    w.String(op.Key!); w.String(op.Text!);
                    break;
            }
        }
        if (w.Position != buf.Length) throw new InvalidOperationException($"batch encoding wrote {w.Position} of {buf.Length} bytes");
    }

    /// <summary>
    /// The zstd level for an encoded batch: <see cref="Zstd.FloatPlanesLevel"/> when tile values are most of it (their
    /// planes gain only from literal coding, at twice level 1's speed), else level 1 (index planes gain from matches).
    /// </summary>
    public static int CompressionLevel(AdapterBatch batch)
    {
        long tileValues = 0, all = 0;
        foreach (var op in batch.Ops)
        {
            long n = op.Values?.Length ?? 0;
            all += op.RowIndex == null ? n * 4 : n * 4 + 8L * op.RowIndex.Length;
            if (op.Kind is BatchOpKind.SetTiles or BatchOpKind.AddTiles) tileValues += n * 4;
        }
        return tileValues * 2 > all ? Zstd.FloatPlanesLevel : 1;
    }

    /// <summary>
    /// A whole adapter: i32 base-model length, the base model (UTF-8, empty for none), then the batch that builds it
    /// (the cache's L2/L3 frames and the WAL's create-with-content records).
    /// </summary>
    public static byte[] EncodeAdapter(string? baseModel, AdapterBatch content)
    {
        var head = Encoding.UTF8.GetBytes(baseModel ?? "");
        var body = Encode(content);
        var all = new byte[4 + head.Length + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(all, head.Length);
        head.CopyTo(all, 4);
        body.CopyTo(all, 4 + head.Length);
        return all;
    }

    public static (string? BaseModel, AdapterBatch Content) DecodeAdapter(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(bytes) : -1;
        if (n < 0 || 4 + (long)n > bytes.Length) throw new InvalidDataException("adapter record is truncated");
        var baseModel = Encoding.UTF8.GetString(bytes.Slice(4, n));
        return (baseModel.Length == 0 ? null : baseModel, Decode(bytes[(4 + n)..]));
    }

    private static long FieldsSize(BatchOp op) => op.Kind switch
    {
        BatchOpKind.DefineModule => 12,
        BatchOpKind.Set or BatchOpKind.Add => 4 + 12L * op.Values!.Length,
        BatchOpKind.SetTiles or BatchOpKind.AddTiles => 4 + 8L * op.RowIndex!.Length + 4L * op.Values!.Length,
        BatchOpKind.Prune => 4,
        BatchOpKind.KeepTop => 8,
        BatchOpKind.SetMetadata => StringSize(op.Key!) + StringSize(op.Text!),
        _ => 0,
    };

    private static int StringSize(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s), prefix = 1;
        for (uint v = (uint)n; v >= 0x80; v >>= 7) prefix++;
        return prefix + n;
    }

    public static AdapterBatch Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        if (r.Byte() != Version) throw new InvalidDataException("unknown batch encoding version");
        int count = r.Int();
        if (count < 0 || count > bytes.Length) throw new InvalidDataException($"batch claims {count} ops");
        var b = new AdapterBatch();
        for (int i = 0; i < count; i++)
        {
            var kind = (BatchOpKind)r.Byte();
            var module = r.String();
            switch (kind)
            {
                case BatchOpKind.DefineModule:
                {
                    int rows = r.Int(), cols = r.Int();
                    b.AddOp(new BatchOp(kind, module, rows, cols, r.Float()));
                    break;
                }
                case BatchOpKind.Set or BatchOpKind.Add:
                {
                    int n = r.Int();
                    if (n < 0 || (long)n * 12 > r.Remaining) throw new InvalidDataException($"batch op claims {n} weights, more than the record holds");
                    var rows = GC.AllocateUninitializedArray<int>(n);
                    var cols = GC.AllocateUninitializedArray<int>(n);
                    var vals = GC.AllocateUninitializedArray<float>(n);
                    r.Planes(MemoryMarshal.AsBytes(rows.AsSpan()));
                    r.Planes(MemoryMarshal.AsBytes(cols.AsSpan()));
                    r.Planes(MemoryMarshal.AsBytes(vals.AsSpan()));
                    b.AddOp(new BatchOp(kind, module, RowIndex: rows, ColIndex: cols, Values: vals));
                    break;
                }
                case BatchOpKind.SetTiles or BatchOpKind.AddTiles:
                {
                    int n = r.Int();
                    const long TileBytes = 8 + 4L * TileMapping.TileSize;
                    if (n < 0 || n * TileBytes > r.Remaining) throw new InvalidDataException($"batch op claims {n} tiles, more than the record holds");
                    var rows = GC.AllocateUninitializedArray<int>(n);
                    var cols = GC.AllocateUninitializedArray<int>(n);
                    var vals = GC.AllocateUninitializedArray<float>(n * TileMapping.TileSize);
                    r.Planes(MemoryMarshal.AsBytes(rows.AsSpan()));
                    r.Planes(MemoryMarshal.AsBytes(cols.AsSpan()));
                    r.Planes(MemoryMarshal.AsBytes(vals.AsSpan()));
                    b.AddOp(new BatchOp(kind, module, RowIndex: rows, ColIndex: cols, Values: vals));
                    break;
                }
                case BatchOpKind.Prune:
                    b.AddOp(new BatchOp(kind, module, Scalar: r.Float()));
                    break;
                case BatchOpKind.KeepTop:
                {
                    float fraction = r.Float();
                    b.AddOp(new BatchOp(kind, module, Rows: r.Int(), Scalar: fraction));
                    break;
                }
                case BatchOpKind.RemoveModule:
                    b.AddOp(new BatchOp(kind, module));
                    break;
                case BatchOpKind.SetMetadata:
                {
                    var key = r.String();
                    b.AddOp(new BatchOp(kind, module, Key: key, Text: r.String()));
                    break;
                }
                default:
                    throw new InvalidDataException($"unknown batch op {(byte)kind}");
            }
        }
        if (r.Remaining != 0) throw new InvalidDataException("trailing bytes after the last batch op");
        return b;
    }

    private ref struct Writer(Span<byte> buf)
    {
        private readonly Span<byte> _buf = buf;
        public int Position;

        public void Byte(byte v) => _buf[Position++] = v;
        public void Int(int v) { BinaryPrimitives.WriteInt32LittleEndian(_buf[Position..], v); Position += 4; }
        public void Float(float v) { BinaryPrimitives.WriteSingleLittleEndian(_buf[Position..], v); Position += 4; }

        public void String(string s)
        {
            uint n = (uint)Encoding.UTF8.GetByteCount(s);
            for (; n >= 0x80; n >>= 7) Byte((byte)(n | 0x80));
            Byte((byte)n);
            Position += Encoding.UTF8.GetBytes(s, _buf[Position..]);
        }

        public void Planes(ReadOnlySpan<byte> data)
        {
            ByteShuffle.Shuffle(data, _buf.Slice(Position, data.Length), 4);
            Position += data.Length;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> buf)
    {
        private readonly ReadOnlySpan<byte> _buf = buf;
        private int _at;

        public readonly int Remaining => _buf.Length - _at;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > Remaining) throw new InvalidDataException("batch record is truncated");
            var s = _buf.Slice(_at, n);
            _at += n;
            return s;
        }

        public byte Byte() => Take(1)[0];
        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

        public string String()
        {
            int n = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (shift > 28) throw new InvalidDataException("bad string length in a batch record");
                byte b = Byte();
                n |= (b & 0x7F) << shift;
                if (b < 0x80) break;
            }
            try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(n)); }
            catch (DecoderFallbackException e) { throw new InvalidDataException("a string in a batch record is not UTF-8", e); }
        }

        public void Planes(Span<byte> dst) => ByteShuffle.Unshuffle(Take(dst.Length), dst, 4);
    }
}
