using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// Turns a FlightData stream back into a schema and record batches (both directions: DoGet on the client, DoPut on
/// the server). FlightData without an IPC header (descriptor or metadata only) is allowed and carries no batch.
/// </summary>
public sealed class FlightDataDecoder
{
    public ArrowSchema? Schema { get; private set; }

    /// <summary>Feeds one message; returns its record batch, or null for the schema and metadata-only messages.</summary>
    public ArrowRecordBatch? Decode(FlightData data) =>
        Decode(new FlightDataView { Header = data.DataHeader.Memory, Body = data.DataBody.Memory, AppMetadata = data.AppMetadata.Memory, Descriptor = data.FlightDescriptor });

    public ArrowRecordBatch? Decode(FlightDataView data)
    {
        if (data.Header.IsEmpty) return null;
        var header = data.Header;
        var (kind, bodyLength) = ArrowIpcReader.Peek(header);
        switch (kind)
        {
            case ArrowIpcReader.MessageKind.Schema:
                if (Schema != null) throw new InvalidDataException("a second Schema message in one stream");
                Schema = ArrowIpcReader.ReadSchema(header);
                return null;
            case ArrowIpcReader.MessageKind.RecordBatch:
                if (Schema == null) throw new InvalidDataException("a record batch came before the schema");
                if (bodyLength > data.Body.Length)
                    throw new InvalidDataException($"RecordBatch declares a {bodyLength}-byte body but {data.Body.Length} bytes came");
                return ArrowIpcReader.ReadRecordBatch(Schema, header, data.Body);
            default:
                throw new InvalidDataException("unsupported IPC message type in FlightData (dictionary batches are not supported)");
        }
    }
}
