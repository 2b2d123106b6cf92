using System.Buffers.Binary;
using Apache.Arrow;
using Apache.Arrow.Ipc;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// A schema as the encapsulated IPC message that FlightInfo.schema and SchemaResult.schema carry (0xFFFFFFFF,
/// metadata length, the Schema message), written and read by Apache.Arrow.
/// </summary>
public static class SchemaBytes
{
    public static byte[] Encode(Schema schema)
    {
        using var ms = new MemoryStream();
        using (var w = new ArrowStreamWriter(ms, schema, leaveOpen: true)) w.WriteStart();
        return ms.ToArray();
    }

    public static Schema Decode(ReadOnlyMemory<byte> bytes)
    {
        var s = bytes.Span;
        if (s.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(s) != 0xFFFFFFFF)
            throw new InvalidDataException("a schema must be an encapsulated Arrow IPC message (0xFFFFFFFF, length, Schema message)");
        int length = BinaryPrimitives.ReadInt32LittleEndian(s[4..]);
        if (length <= 0 || length > s.Length - 8) throw new InvalidDataException($"the schema message declares {length} bytes of metadata; {s.Length - 8} follow");
        var (type, _) = IpcMessage.Read(s.Slice(8, length));
        if (type != IpcMessage.HeaderSchema) throw new InvalidDataException($"expected a Schema message, got message type {type}");
        try
        {
            using var reader = new ArrowStreamReader(bytes[..(8 + length)]);
            return reader.Schema ?? throw new InvalidDataException("no schema in the message");
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            throw new InvalidDataException($"malformed Arrow schema: {e.Message}", e);
        }
    }
}
