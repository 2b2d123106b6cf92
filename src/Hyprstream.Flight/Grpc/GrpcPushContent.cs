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

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken ct)
    {
        await foreach (var m in _messages.Reader.ReadAllAsync(ct).ConfigureAwait(false))
        {
            await stream.WriteAsync(m, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
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
