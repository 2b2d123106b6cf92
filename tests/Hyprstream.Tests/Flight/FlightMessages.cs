using Apache.Arrow;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Tests.Flight;

/// <summary>FlightData messages made by the real writer, kept (copied) for tests that send, cut or damage them.</summary>
internal static class FlightMessages
{
    public static List<FlightData> Of(Schema schema, IEnumerable<RecordBatch> batches, FlightDescriptor? descriptor = null, IpcCompression compression = IpcCompression.None)
    {
        var list = new List<FlightData>();
        using var w = new FlightDataWriter(schema, d => { list.Add(FlightData.Parser.ParseFrom(d.ToByteArray())); return Task.CompletedTask; }, descriptor, compression);
        w.WriteSchemaAsync().GetAwaiter().GetResult();
        foreach (var b in batches) w.WriteAsync(b).GetAwaiter().GetResult();
        return list;
    }

    /// <summary>Reads every batch of the messages with the real reader, or throws what the reader throws.</summary>
    public static List<RecordBatch> Read(IEnumerable<FlightData> messages, long maxBuffer = 256 << 20)
    {
        var queue = new Queue<FlightData>(messages);
        using var reader = new FlightDataReader(_ => ValueTask.FromResult(queue.Count > 0 ? queue.Dequeue() : null), maxBuffer);
        var batches = new List<RecordBatch>();
        while (reader.ReadAsync().AsTask().GetAwaiter().GetResult() is { } b) batches.Add(b);
        return batches;
    }

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    /// <summary>A method of the Flight service with raw bytes in and out, for messages no generated client would send.</summary>
    public static Method<byte[], byte[]> Raw(MethodType type, string name) => new(type, FlightMethods.Service, name, Bytes, Bytes);
}
