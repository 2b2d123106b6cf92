using System.Buffers.Binary;
using System.Text;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// A bounds-checked view of one FlatBuffers table. Every offset is checked against the buffer, so hostile metadata
/// ends in InvalidDataException, never an out-of-range read or a huge allocation.
/// </summary>
public readonly struct FlatBufferReader
{
    private readonly ReadOnlyMemory<byte> _buf;
    private readonly int _table;
    private readonly int _vtable;
    private readonly int _vtableSize;

    private FlatBufferReader(ReadOnlyMemory<byte> buf, int table)
    {
        _buf = buf;
        _table = table;
        long vt = table - (long)I32(buf.Span, table);
        if (vt < 0 || vt + 4 > buf.Length) throw Bad("vtable offset out of range");
        _vtable = (int)vt;
        _vtableSize = BinaryPrimitives.ReadUInt16LittleEndian(buf.Span[_vtable..]);
        if (_vtableSize < 4 || _vtableSize % 2 != 0 || _vtable + _vtableSize > buf.Length) throw Bad("vtable size out of range");
    }

    public static FlatBufferReader Root(ReadOnlyMemory<byte> buf)
    {
        if (buf.Length < 8) throw Bad("metadata too short");
        return new FlatBufferReader(buf, Forward(buf.Span, 0));
    }

    private int FieldPos(int id, int size)
    {
        int slot = 4 + 2 * id;
        if (slot + 2 > _vtableSize) return -1;
        int off = BinaryPrimitives.ReadUInt16LittleEndian(_buf.Span[(_vtable + slot)..]);
        if (off == 0) return -1;
        long pos = (long)_table + off;
        if (pos + size > _buf.Length) throw Bad($"field {id} lies outside the metadata");
        return (int)pos;
    }

    public bool Has(int id) => FieldPos(id, 0) >= 0;
    public byte Byte(int id, byte def = 0) => FieldPos(id, 1) is var p and >= 0 ? _buf.Span[p] : def;
    public bool Bool(int id) => Byte(id) != 0;
    public short Short(int id, short def = 0) => FieldPos(id, 2) is var p and >= 0 ? BinaryPrimitives.ReadInt16LittleEndian(_buf.Span[p..]) : def;
    public int Int(int id, int def = 0) => FieldPos(id, 4) is var p and >= 0 ? I32(_buf.Span, p) : def;
    public long Long(int id, long def = 0) => FieldPos(id, 8) is var p and >= 0 ? BinaryPrimitives.ReadInt64LittleEndian(_buf.Span[p..]) : def;

    public FlatBufferReader? Table(int id) => FieldPos(id, 4) is var p and >= 0 ? new FlatBufferReader(_buf, Forward(_buf.Span, p)) : null;

    public string? String(int id)
    {
        int p = FieldPos(id, 4);
        if (p < 0) return null;
        int s = Forward(_buf.Span, p);
        long len = BinaryPrimitives.ReadUInt32LittleEndian(_buf.Span[s..]);
        if (s + 4 + len > _buf.Length) throw Bad("string runs past the metadata");
        try { return new UTF8Encoding(false, true).GetString(_buf.Span.Slice(s + 4, (int)len)); }
        catch (DecoderFallbackException) { throw Bad("string is not UTF-8"); }
    }

    /// <summary>A vector field: (position of the first element, count), or (-1, 0) when absent.</summary>
    private (int Pos, int Count) Vector(int id, int elementSize)
    {
        int p = FieldPos(id, 4);
        if (p < 0) return (-1, 0);
        int v = Forward(_buf.Span, p);
        long count = BinaryPrimitives.ReadUInt32LittleEndian(_buf.Span[v..]);
        if (v + 4 + count * elementSize > _buf.Length) throw Bad($"vector field {id} runs past the metadata");
        return (v + 4, (int)count);
    }

    public int VectorLength(int id, int elementSize = 4) => Vector(id, elementSize).Count;

    public IReadOnlyList<FlatBufferReader> Tables(int id)
    {
        var (pos, count) = Vector(id, 4);
        var list = new FlatBufferReader[count];
        for (int i = 0; i < count; i++) list[i] = new FlatBufferReader(_buf, Forward(_buf.Span, pos + 4 * i));
        return list;
    }

    public IReadOnlyList<(long, long)> LongPairs(int id)
    {
        var (pos, count) = Vector(id, 16);
        var list = new (long, long)[count];
        var s = _buf.Span;
        for (int i = 0; i < count; i++)
            list[i] = (BinaryPrimitives.ReadInt64LittleEndian(s[(pos + 16 * i)..]), BinaryPrimitives.ReadInt64LittleEndian(s[(pos + 16 * i + 8)..]));
        return list;
    }

    public IReadOnlyList<long> Longs(int id)
    {
        var (pos, count) = Vector(id, 8);
        var list = new long[count];
        for (int i = 0; i < count; i++) list[i] = BinaryPrimitives.ReadInt64LittleEndian(_buf.Span[(pos + 8 * i)..]);
        return list;
    }

    private static int I32(ReadOnlySpan<byte> s, int pos)
    {
        if (pos < 0 || pos + 4 > s.Length) throw Bad("offset outside the metadata");
        return BinaryPrimitives.ReadInt32LittleEndian(s[pos..]);
    }

    private static int Forward(ReadOnlySpan<byte> s, int pos)
    {
        if (pos < 0 || pos + 4 > s.Length) throw Bad("offset outside the metadata");
        long target = pos + (long)BinaryPrimitives.ReadUInt32LittleEndian(s[pos..]);
        if (target + 4 > s.Length) throw Bad("offset points past the metadata");
        return (int)target;
    }

    private static InvalidDataException Bad(string what) => new($"invalid Arrow IPC metadata: {what}");
}
