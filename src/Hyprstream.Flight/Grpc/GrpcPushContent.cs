using System.Net;
using System.Threading.Channels;

namespace Hyprstream.Flight.Grpc;

/// <summary>
/// A request body written while the call runs: length-prefixed messages pushed through a channel and flushed one by
/// one, so client-streaming and bidi calls stream (HttpClient sends the HTTP/2 headers before the body is done).
/// </summary>
internal sealed class GrpcPushContent : HttpContent
{
    private readonly Channel<ReadOnlyMemory<byte>> _messages = Channel.CreateBounded<ReadOnlyMemory<byte>>(
        new BoundedChannelOptions(8) { SingleReader = true, SingleWriter = true });

    public ValueTask WriteAsync(ReadOnlyMemory<byte> framed, CancellationToken ct) => _messages.Writer.WriteAsync(framed, ct);

    public void Complete() => _messages.Writer.TryComplete();

    /// <summary>The call has ended: writers blocked on a full channel fail instead of waiting for a reader that is gone.</summary>
    public void Abort() => _messages.Writer.TryComplete(new InvalidOperationException("the call has ended"));

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken ct)
    {
        try
        {
            await foreach (var m in _messages.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await stream.WriteAsync(m, ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // The server ended the call (or it was cancelled): fail pending and later writes instead of blocking them.
            _messages.Writer.TryComplete(e);
            throw;
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
