using Apache.Arrow;
using Apache.Arrow.Ipc;
using Google.Protobuf;
using Grpc.Core;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Record batches in from FlightData: Apache.Arrow's <see cref="ArrowStreamReader"/> decodes them (dictionary
/// batches, zstd/lz4 bodies) from the messages as they arrive. Anything wrong with the data — a malformed header,
/// a body of the wrong length, buffers past the body, an allocation above <see cref="BoundedAllocator"/>'s ceiling
/// — is <see cref="InvalidDataException"/>; failures of the call itself pass through as they are.
/// </summary>
public sealed class FlightDataReader : IDisposable
{
    private readonly FlightDataStream _stream;
    private readonly ArrowStreamReader _reader;

    /// <param name="next">The next FlightData, or null at the end of the stream.</param>
    /// <param name="maxBuffer">The largest buffer (body or decompressed buffer) that may be allocated.</param>
    public FlightDataReader(Func<CancellationToken, ValueTask<FlightData?>> next, long maxBuffer = 256 << 20)
    {
        _stream = new FlightDataStream(next);
        _reader = new ArrowStreamReader(_stream, new BoundedAllocator(maxBuffer), IpcCompressionOptions.Codecs, leaveOpen: true);
    }

    public static FlightDataReader From(IAsyncStreamReader<FlightData> source, long maxBuffer = 256 << 20) =>
        new(async ct => await source.MoveNext(ct).ConfigureAwait(false) ? source.Current : null, maxBuffer);

    /// <summary>Reads pooled messages, returning each one's array when the next is asked for (the reader has copied it by then).</summary>
    public static FlightDataReader From(IAsyncStreamReader<Rpc.PooledFlightData> source, long maxBuffer = 256 << 20)
    {
        Rpc.PooledFlightData? previous = null;
        var reader = new FlightDataReader(async ct =>
        {
            previous?.Dispose();
            previous = null;
            previous = await source.MoveNext(ct).ConfigureAwait(false) ? source.Current : null;
            return previous?.Data;
        }, maxBuffer);
        reader._release = () => previous?.Dispose();
        return reader;
    }

    private System.Action? _release;

    /// <summary>The descriptor the first message carried (DoPut), once the schema has been read.</summary>
    public FlightDescriptor? Descriptor => _stream.Descriptor;

    /// <summary>app_metadata of the message the latest batch came in.</summary>
    public ByteString AppMetadata => _stream.Current?.AppMetadata ?? ByteString.Empty;

    /// <summary>Arrow IPC bytes received so far (metadata + bodies).</summary>
    public long IpcBytes => _stream.IpcBytes;

    /// <summary>How many FlightData messages have been taken from the source.</summary>
    public long Messages => _stream.Messages;

    /// <summary>The stream's schema (null when the stream ended before one).</summary>
    public ValueTask<Schema?> ReadSchemaAsync(CancellationToken ct = default) => Guard(async () => (Schema?)await _reader.GetSchema(ct).ConfigureAwait(false));

    /// <summary>The next record batch, or null at the end. The caller disposes it.</summary>
    public ValueTask<RecordBatch?> ReadAsync(CancellationToken ct = default) => Guard(async () =>
    {
        var batch = await _reader.ReadNextRecordBatchAsync(ct).ConfigureAwait(false);
        if (batch != null)
        {
            try { BatchCheck.Validate(batch); }
            catch { batch.Dispose(); throw; }
        }
        return (RecordBatch?)batch;
    });

    private async ValueTask<T> Guard<T>(Func<ValueTask<T>> read)
    {
        try { return await read().ConfigureAwait(false); }
        catch (Exception e) when (!_stream.SourceFailed && e is not OperationCanceledException and not InvalidDataException)
        {
            throw new InvalidDataException($"malformed Arrow IPC data: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
        _release?.Invoke();
    }
}
