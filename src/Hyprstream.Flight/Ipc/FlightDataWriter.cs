using Apache.Arrow;
using Apache.Arrow.Ipc;
using Google.Protobuf;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Record batches out as FlightData: Apache.Arrow's <see cref="ArrowStreamWriter"/> encodes them (dictionaries, and
/// zstd/lz4 bodies when <see cref="IpcCompression"/> asks), and each IPC message becomes one FlightData. The first
/// message (the schema) carries the descriptor, when one is given (DoPut); a batch's app_metadata goes on its
/// record-batch message. Bodies are wrapped, not copied, and their buffers are reused once <c>send</c> returns, as
/// a gRPC stream writer has serialized the message by then.
/// </summary>
public sealed class FlightDataWriter : IDisposable
{
    private readonly IpcMessageSplitter _split = new();
    private readonly ArrowStreamWriter _writer;
    private readonly Func<FlightData, Task> _send;
    private FlightDescriptor? _descriptor;

    public FlightDataWriter(Schema schema, Func<FlightData, Task> send, FlightDescriptor? descriptor = null, IpcCompression compression = IpcCompression.None)
    {
        _writer = new ArrowStreamWriter(_split, schema, leaveOpen: true, IpcCompressionOptions.For(compression));
        _send = send;
        _descriptor = descriptor;
    }

    /// <summary>Arrow IPC bytes sent so far (metadata + bodies), for bytes-per-weight accounting.</summary>
    public long IpcBytes { get; private set; }

    /// <summary>Sends the schema now (otherwise it goes with the first batch).</summary>
    public async Task WriteSchemaAsync(CancellationToken ct = default)
    {
        await _writer.WriteStartAsync(ct).ConfigureAwait(false);
        await FlushAsync(null).ConfigureAwait(false);
    }

    public async Task WriteAsync(RecordBatch batch, ByteString? appMetadata = null, CancellationToken ct = default)
    {
        await _writer.WriteRecordBatchAsync(batch, ct).ConfigureAwait(false);
        await FlushAsync(appMetadata).ConfigureAwait(false);
    }

    private async Task FlushAsync(ByteString? appMetadata)
    {
        try
        {
            var messages = _split.Completed;
            for (int i = 0; i < messages.Count; i++)
            {
                var m = messages[i];
                var data = new FlightData
                {
                    DataHeader = UnsafeByteOperations.UnsafeWrap(m.Metadata),
                    DataBody = UnsafeByteOperations.UnsafeWrap(m.Body),
                };
                if (_descriptor != null) { data.FlightDescriptor = _descriptor; _descriptor = null; }
                if (appMetadata != null && m.Type == IpcMessage.HeaderRecordBatch) data.AppMetadata = appMetadata;
                IpcBytes += m.Metadata.Length + m.Body.Length;
                await _send(data).ConfigureAwait(false);
            }
        }
        finally { _split.Release(); }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _split.Dispose();
    }
}
