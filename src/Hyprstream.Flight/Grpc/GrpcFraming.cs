using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Hyprstream.Flight.Grpc;

/// <summary>
/// The gRPC Length-Prefixed-Message: 1 byte compressed flag, 4 bytes big-endian length, then the message. DATA frame
/// boundaries are unrelated to message boundaries, so reads buffer across the pipe until a whole message is there.
/// </summary>
public static class GrpcFraming
{
    public const int PrefixSize = 5;

    /// <summary>Writes the 5-byte prefix for an uncompressed message of <paramref name="length"/> bytes.</summary>
    public static void WritePrefix(Span<byte> dest, int length)
    {
        dest[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(dest[1..], (uint)length);
    }

    /// <summary>
    /// Reads one message; null at a clean end of stream. A message over <paramref name="maxMessageSize"/> is refused
    /// before it is buffered (RESOURCE_EXHAUSTED); a stream that ends inside a message is INTERNAL; a compressed
    /// message is refused because no grpc-encoding is ever advertised.
    /// </summary>
    public static async ValueTask<byte[]?> ReadMessageAsync(PipeReader reader, int maxMessageSize, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryParse(ref buffer, maxMessageSize, out var message))
            {
                reader.AdvanceTo(buffer.Start);
                return message;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                bool empty = buffer.IsEmpty;
                reader.AdvanceTo(buffer.End);
                if (empty) return null;
                throw new GrpcException(GrpcStatusCode.Internal, "the stream ended inside a gRPC message");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool TryParse(ref ReadOnlySequence<byte> buffer, int maxMessageSize, out byte[]? message)
    {
        message = null;
        if (buffer.Length < PrefixSize) return false;
        Span<byte> prefix = stackalloc byte[PrefixSize];
        buffer.Slice(0, PrefixSize).CopyTo(prefix);
        if (prefix[0] != 0)
            throw new GrpcException(GrpcStatusCode.Unimplemented, "compressed gRPC messages are not supported (no grpc-encoding was advertised)");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
        if (length > (uint)maxMessageSize)
            throw new GrpcException(GrpcStatusCode.ResourceExhausted, $"message of {length} bytes is larger than the limit of {maxMessageSize} bytes");
        if (buffer.Length < PrefixSize + length) return false;
        message = buffer.Slice(PrefixSize, length).ToArray();
        buffer = buffer.Slice(PrefixSize + length);
        return true;
    }
}
