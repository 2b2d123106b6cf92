using System.Buffers.Binary;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// What the FlightData layer must know of an Arrow IPC `Message` (Message.fbs) before Apache.Arrow reads it: its
/// header type and body length, to split the writer's stream into FlightData messages and to check that a received
/// body is as long as its header says; and, for a Schema, that its fields nest at most <see cref="MaxDepth"/> deep
/// (a flatbuffer can point a field's children back at the field itself, and a reader that recurses would never
/// stop). Every offset is bounds-checked: damaged metadata is <see cref="InvalidDataException"/>.
/// </summary>
public static class IpcMessage
{
    public const byte HeaderSchema = 1, HeaderDictionaryBatch = 2, HeaderRecordBatch = 3;

    /// <summary>The deepest field nesting a schema may have.</summary>
    public const int MaxDepth = 16;

    /// <summary>The most fields (at all levels) a schema may declare.</summary>
    public const int MaxFields = 4096;

    public static (byte HeaderType, long BodyLength) Read(ReadOnlySpan<byte> metadata)
    {
        int message = Root(metadata);
        byte type = Field(metadata, message, 1) is int t ? Byte(metadata, t) : (byte)0;
        long body = Field(metadata, message, 3) is int b ? Long(metadata, b) : 0;
        if (body < 0) throw new InvalidDataException($"Arrow IPC message declares a negative body length ({body})");
        if (type == HeaderSchema) CheckSchema(metadata, message);
        return (type, body);
    }

    private static void CheckSchema(ReadOnlySpan<byte> m, int message)
    {
        int schema = Field(m, message, 2) is int h ? Offset(m, h) : throw new InvalidDataException("Arrow IPC schema message has no schema");
        int seen = 0;
        if (Field(m, schema, 1) is int fields) CheckFields(m, Offset(m, fields), 1, ref seen);
    }

    private static void CheckFields(ReadOnlySpan<byte> m, int vector, int depth, ref int seen)
    {
        if (depth > MaxDepth) throw new InvalidDataException($"Arrow schema nests fields more than {MaxDepth} deep");
        int count = Int(m, vector);
        if (count < 0 || count > MaxFields - seen) throw new InvalidDataException($"Arrow schema declares more than {MaxFields} fields");
        seen += count;
        for (int i = 0; i < count; i++)
        {
            int at = checked(vector + 4 + 4 * i);
            int field = Offset(m, at);
            if (Field(m, field, 5) is int children) CheckFields(m, Offset(m, children), depth + 1, ref seen);
        }
    }

    // ---- bounds-checked flatbuffer access ----

    private static int Root(ReadOnlySpan<byte> m) => Offset(m, 0);

    /// <summary>The absolute position a uoffset stored at <paramref name="at"/> points to.</summary>
    private static int Offset(ReadOnlySpan<byte> m, int at)
    {
        long target = (long)at + (uint)Int(m, at);
        if (target + 4 > m.Length) throw new InvalidDataException("Arrow IPC metadata points past its end");
        return (int)target;
    }

    /// <summary>The position of field <paramref name="index"/> of the table at <paramref name="table"/>, or null when absent.</summary>
    private static int? Field(ReadOnlySpan<byte> m, int table, int index)
    {
        long vtable = (long)table - Int(m, table);
        if (vtable < 0 || vtable + 4 > m.Length) throw new InvalidDataException("Arrow IPC metadata has a vtable out of bounds");
        int size = Short(m, (int)vtable);
        int slot = 4 + 2 * index;
        if (slot + 2 > size) return null;
        if (vtable + size > m.Length) throw new InvalidDataException("Arrow IPC metadata has a vtable out of bounds");
        int off = Short(m, (int)vtable + slot);
        if (off == 0) return null;
        long at = (long)table + off;
        if (at >= m.Length) throw new InvalidDataException("Arrow IPC metadata has a field out of bounds");
        return (int)at;
    }

    private static int Int(ReadOnlySpan<byte> m, int at) =>
        at >= 0 && at + 4 <= m.Length ? BinaryPrimitives.ReadInt32LittleEndian(m[at..]) : throw Truncated();

    private static ushort Short(ReadOnlySpan<byte> m, int at) =>
        at >= 0 && at + 2 <= m.Length ? BinaryPrimitives.ReadUInt16LittleEndian(m[at..]) : throw Truncated();

    private static long Long(ReadOnlySpan<byte> m, int at) =>
        at >= 0 && at + 8 <= m.Length ? BinaryPrimitives.ReadInt64LittleEndian(m[at..]) : throw Truncated();

    private static byte Byte(ReadOnlySpan<byte> m, int at) => at >= 0 && at < m.Length ? m[at] : throw Truncated();

    private static InvalidDataException Truncated() => new("Arrow IPC metadata is truncated");
}
