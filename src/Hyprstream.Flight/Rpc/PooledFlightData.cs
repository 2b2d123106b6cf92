using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// A received FlightData whose bytes live in one pooled array: data_header, app_metadata and data_body are wrapped
/// slices of it (found with Google.Protobuf's CodedInputStream), not fresh arrays. The generated parser allocates a
/// new array per body — for 512 KB tile batches a large-object-heap allocation each, which measured as the client's
/// main cost. Valid until <see cref="Dispose"/>, which returns the array.
/// </summary>
public sealed class PooledFlightData : IDisposable
{
    private byte[]? _buffer;

    private PooledFlightData(byte[] buffer, FlightData data)
    {
        _buffer = buffer;
        Data = data;
    }

    public FlightData Data { get; }

    public void Dispose()
    {
        var b = Interlocked.Exchange(ref _buffer, null);
        if (b != null) ArrayPool<byte>.Shared.Return(b);
    }

    /// <summary>
    /// A marshaller that reads FlightData this way (serializing as usual); a malformed message is an RpcException
    /// with <paramref name="onMalformed"/> (INVALID_ARGUMENT on a server, INTERNAL on a client).
    /// </summary>
    public static Marshaller<PooledFlightData> Marshaller(StatusCode onMalformed) => Marshallers.Create<PooledFlightData>(
        (m, context) => FlightMethods.Write(m.Data, context),
        context => Parse(context.PayloadAsReadOnlySequence(), onMalformed));

    public static PooledFlightData Parse(ReadOnlySequence<byte> payload, StatusCode onMalformed = StatusCode.InvalidArgument)
    {
        int length = checked((int)payload.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            payload.CopyTo(buffer);
            var data = new FlightData();
            var input = new CodedInputStream(buffer, 0, length);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                int field = WireFormat.GetTagFieldNumber(tag);
                if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited || field is not (1 or 2 or 3 or 1000))
                {
                    input.SkipLastField();
                    continue;
                }
                int start = (int)input.Position;
                input.SkipLastField();
                int end = (int)input.Position;
                var prefix = new CodedInputStream(buffer, start, end - start);
                int size = prefix.ReadLength();
                var slice = buffer.AsMemory(end - size, size);
                switch (field)
                {
                    case 1: data.FlightDescriptor = FlightDescriptor.Parser.ParseFrom(slice.Span); break;
                    case 2: data.DataHeader = UnsafeByteOperations.UnsafeWrap(slice); break;
                    case 3: data.AppMetadata = UnsafeByteOperations.UnsafeWrap(slice); break;
                    case 1000: data.DataBody = UnsafeByteOperations.UnsafeWrap(slice); break;
                }
            }
            return new PooledFlightData(buffer, data);
        }
        catch (InvalidProtocolBufferException e)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new RpcException(new Status(onMalformed, $"malformed FlightData message: {e.Message}"));
        }
    }
}
