using System.Buffers.Binary;
using System.Text;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Serialises a <see cref="FlatBufferTable"/> tree front to back: root offset, then each table's vtable, the table,
/// and its children after it (FlatBuffers offsets are unsigned and point forward; a table's soffset to its vtable is
/// signed, so the vtable may precede it). Scalars are aligned to their size, 8-byte structs and longs to 8, relative
/// to the buffer start; an Arrow IPC message places the buffer at an 8-aligned position, so this holds there too.
/// </summary>
public static class FlatBufferWriter
{
    public static byte[] Finish(FlatBufferTable root)
    {
        var w = new Buf();
        w.U32(0);
        int rootPos = WriteTable(w, root);
        w.PatchU32(0, (uint)rootPos);
        w.AlignTo(8);
        return w.ToArray();
    }

    private static int WriteTable(Buf w, FlatBufferTable t)
    {
        // Inline layout: soffset at 0, then fields by size (largest first) aligned to their size.
        var fields = t.Fields.OrderByDescending(f => f.Size).ToList();
        var offsets = new int[fields.Count];
        int cursor = 4;
        for (int i = 0; i < fields.Count; i++)
        {
            int size = fields[i].Size;
            cursor = (cursor + size - 1) / size * size;
            offsets[i] = cursor;
            cursor += size;
        }
        int inlineSize = cursor;
        int slots = t.Fields.Count == 0 ? 0 : t.Fields.Max(f => f.Id) + 1;
        w.AlignTo(2);
        int vtable = w.Pos;
        w.U16((ushort)(4 + 2 * slots));
        w.U16((ushort)inlineSize);
        var slot = new ushort[slots];
        for (int i = 0; i < fields.Count; i++) slot[fields[i].Id] = (ushort)offsets[i];
        foreach (var s in slot) w.U16(s);
        w.AlignTo(8);
        int table = w.Pos;
        w.I32(table - vtable);
        w.Zero(inlineSize - 4);
        for (int i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            if (f.Kind == FlatBufferTable.Kind.Scalar) w.PatchScalar(table + offsets[i], f.Size, f.Scalar);
        }
        for (int i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            int at = table + offsets[i];
            int target = f.Kind switch
            {
                FlatBufferTable.Kind.Scalar => -1,
                FlatBufferTable.Kind.Table => WriteTable(w, (FlatBufferTable)f.Ref!),
                FlatBufferTable.Kind.String => WriteString(w, (string)f.Ref!),
                FlatBufferTable.Kind.TableVector => WriteTableVector(w, (IReadOnlyList<FlatBufferTable>)f.Ref!),
                FlatBufferTable.Kind.StructVector => WritePairs(w, (IReadOnlyList<(long, long)>)f.Ref!),
                FlatBufferTable.Kind.LongVector => WriteLongs(w, (IReadOnlyList<long>)f.Ref!),
                _ => throw new InvalidOperationException(),
            };
            if (target >= 0) w.PatchU32(at, (uint)(target - at));
        }
        return table;
    }

    private static int WriteString(Buf w, string s)
    {
        w.AlignTo(4);
        int pos = w.Pos;
        var bytes = Encoding.UTF8.GetBytes(s);
        w.U32((uint)bytes.Length);
        w.Bytes(bytes);
        w.Zero(1);
        return pos;
    }

    private static int WriteTableVector(Buf w, IReadOnlyList<FlatBufferTable> v)
    {
        w.AlignTo(4);
        int pos = w.Pos;
        w.U32((uint)v.Count);
        int first = w.Pos;
        w.Zero(4 * v.Count);
        for (int i = 0; i < v.Count; i++)
        {
            int t = WriteTable(w, v[i]);
            w.PatchU32(first + 4 * i, (uint)(t - (first + 4 * i)));
        }
        return pos;
    }

    private static int WritePairs(Buf w, IReadOnlyList<(long, long)> v)
    {
        AlignForLongs(w);
        int pos = w.Pos;
        w.U32((uint)v.Count);
        foreach (var (a, b) in v)
        {
            w.I64(a);
            w.I64(b);
        }
        return pos;
    }

    private static int WriteLongs(Buf w, IReadOnlyList<long> v)
    {
        AlignForLongs(w);
        int pos = w.Pos;
        w.U32((uint)v.Count);
        foreach (var x in v) w.I64(x);
        return pos;
    }

    /// <summary>The elements after the 4-byte count must be 8-aligned.</summary>
    private static void AlignForLongs(Buf w)
    {
        w.AlignTo(4);
        if ((w.Pos + 4) % 8 != 0) w.Zero(4);
    }

    private sealed class Buf
    {
        private byte[] _b = new byte[512];
        public int Pos { get; private set; }

        private Span<byte> Take(int n)
        {
            if (Pos + n > _b.Length) Array.Resize(ref _b, Math.Max(_b.Length * 2, Pos + n));
            var s = _b.AsSpan(Pos, n);
            Pos += n;
            return s;
        }

        public void AlignTo(int a) { while (Pos % a != 0) Take(1)[0] = 0; }
        public void Zero(int n) => Take(n).Clear();
        public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Take(b.Length));
        public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
        public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
        public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
        public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
        public void PatchU32(int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_b.AsSpan(at), v);

        public void PatchScalar(int at, int size, long v)
        {
            var s = _b.AsSpan(at, size);
            switch (size)
            {
                case 1: s[0] = (byte)v; break;
                case 2: BinaryPrimitives.WriteInt16LittleEndian(s, (short)v); break;
                case 4: BinaryPrimitives.WriteInt32LittleEndian(s, (int)v); break;
                default: BinaryPrimitives.WriteInt64LittleEndian(s, v); break;
            }
        }

        public byte[] ToArray() => _b.AsSpan(0, Pos).ToArray();
    }
}
