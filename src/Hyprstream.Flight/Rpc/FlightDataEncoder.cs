using System.Buffers;
using Google.Protobuf;
using Hyprstream.Flight.Grpc;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// Writes one gRPC-framed FlightData message straight into an output buffer: the protobuf tags and lengths by hand,
/// then the IPC metadata and each body buffer copied from its own memory (with its 8-byte padding), so a record
/// batch never exists as one contiguous protobuf. Field order on the wire: 1 descriptor, 2 data_header,
/// 3 app_metadata, 1000 data_body.
/// </summary>
public static class FlightDataEncoder
{
    private const byte TagDescriptor = (1 << 3) | 2, TagHeader = (2 << 3) | 2, TagAppMetadata = (3 << 3) | 2;
    private static ReadOnlySpan<byte> TagBody => [0xC2, 0x3E]; // field 1000, wire type 2

    public static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> header, IpcBody body, ReadOnlySpan<byte> appMetadata = default,
        FlightDescriptor? descriptor = null)
    {
        int descSize = descriptor?.CalculateSize() ?? 0;
        long size = 0;
        if (descriptor != null) size += 1 + CodedOutputStream.ComputeLengthSize(descSize) + descSize;
        if (header.Length > 0) size += 1 + CodedOutputStream.ComputeLengthSize(header.Length) + header.Length;
        if (appMetadata.Length > 0) size += 1 + CodedOutputStream.ComputeLengthSize(appMetadata.Length) + appMetadata.Length;
        if (body.Length > 0) size += 2 + CodedOutputStream.ComputeLengthSize((int)body.Length) + body.Length;
        if (size > int.MaxValue) throw new ArgumentException("FlightData message larger than 2 GiB");

        var prefix = output.GetSpan(GrpcFraming.PrefixSize);
        GrpcFraming.WritePrefix(prefix, (int)size);
        output.Advance(GrpcFraming.PrefixSize);
        if (descriptor != null)
        {
            Tag(output, TagDescriptor, descSize);
            var span = output.GetSpan(descSize);
            descriptor.WriteTo(span[..descSize]);
            output.Advance(descSize);
        }
        if (header.Length > 0) { Tag(output, TagHeader, header.Length); output.Write(header); }
        if (appMetadata.Length > 0) { Tag(output, TagAppMetadata, appMetadata.Length); output.Write(appMetadata); }
        if (body.Length > 0)
        {
            output.Write(TagBody);
            Varint(output, (uint)body.Length);
            Span<byte> zeros = stackalloc byte[8];
            zeros.Clear();
            foreach (var b in body.Buffers)
            {
                output.Write(b.Span);
                int pad = IpcBody.Padded(b.Length) - b.Length;
                if (pad > 0) output.Write(zeros[..pad]);
            }
        }
    }

    /// <summary>A framed FlightData carrying only a Schema message (the first message of DoGet and DoPut).</summary>
    public static void WriteSchema(IBufferWriter<byte> output, ArrowSchema schema, FlightDescriptor? descriptor = null) =>
        Write(output, ArrowIpcWriter.SchemaMessage(schema), IpcBody.Empty, default, descriptor);

    public static void WriteBatch(IBufferWriter<byte> output, ArrowRecordBatch batch, ReadOnlySpan<byte> appMetadata = default)
    {
        var (header, body) = ArrowIpcWriter.RecordBatchMessage(batch);
        Write(output, header, body, appMetadata);
    }

    private static void Tag(IBufferWriter<byte> o, byte tag, int length)
    {
        o.GetSpan(1)[0] = tag;
        o.Advance(1);
        Varint(o, (uint)length);
    }

    private static void Varint(IBufferWriter<byte> o, uint v)
    {
        var s = o.GetSpan(5);
        int n = 0;
        while (v >= 0x80) { s[n++] = (byte)(v | 0x80); v >>= 7; }
        s[n++] = (byte)v;
        o.Advance(n);
    }
}
