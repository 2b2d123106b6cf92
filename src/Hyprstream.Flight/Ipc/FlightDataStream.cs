using System.Buffers.Binary;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// FlightData messages presented as the Arrow IPC stream they carry, for <see cref="Apache.Arrow.Ipc.ArrowStreamReader"/>:
/// each message with a data_header becomes 0xFFFFFFFF, the padded metadata length, the metadata, its padding and
/// the body. A body whose length differs from what its metadata declares is refused before Arrow sees it. Messages
/// without a header (app_metadata only) are skipped. Failures of the source (the call itself) are remembered so the
/// reader can tell them from bad data.
/// </summary>
internal sealed class FlightDataStream(Func<CancellationToken, ValueTask<FlightData?>> next) : Stream
{
    private readonly byte[] _prefix = new byte[8];
    private readonly List<ReadOnlyMemory<byte>> _parts = [];
    private int _part;
    private bool _ended;

    /// <summary>The message most recently taken from the source (the one a just-read batch came in).</summary>
    public FlightData? Current { get; private set; }

    /// <summary>The descriptor of the first message, if it had one.</summary>
    public FlightDescriptor? Descriptor { get; private set; }

    public long Messages { get; private set; }
    public long IpcBytes { get; private set; }

    /// <summary>Set when the source itself failed (not the data): the exception is the call's, not Arrow's.</summary>
    public bool SourceFailed { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        while (_part >= _parts.Count)
        {
            if (_ended || !await NextAsync(ct).ConfigureAwait(false)) return 0;
        }
        var part = _parts[_part];
        int n = Math.Min(part.Length, buffer.Length);
        part[..n].CopyTo(buffer);
        if (n == part.Length) _part++;
        else _parts[_part] = part[n..];
        return n;
    }

    private async ValueTask<bool> NextAsync(CancellationToken ct)
    {
        FlightData? data;
        try { data = await next(ct).ConfigureAwait(false); }
        catch
        {
            SourceFailed = true;
            throw;
        }
        if (data == null) { _ended = true; return false; }
        if (Messages++ == 0) Descriptor = data.FlightDescriptor;
        Current = data;
        _parts.Clear();
        _part = 0;
        if (data.DataHeader.IsEmpty)
        {
            if (!data.DataBody.IsEmpty) throw new InvalidDataException("a FlightData message has a body but no data_header");
            return true;
        }
        var header = data.DataHeader.Memory;
        var (_, declared) = IpcMessage.Read(header.Span);
        if (declared != data.DataBody.Length)
            throw new InvalidDataException($"a FlightData body is {data.DataBody.Length:N0} bytes but its Arrow header declares {declared:N0}");
        int padded = (header.Length + 7) & ~7;
        BinaryPrimitives.WriteUInt32LittleEndian(_prefix, 0xFFFFFFFF);
        BinaryPrimitives.WriteInt32LittleEndian(_prefix.AsSpan(4), padded);
        _parts.Add(_prefix);
        _parts.Add(header);
        if (padded > header.Length) _parts.Add(new byte[padded - header.Length]);
        if (!data.DataBody.IsEmpty) _parts.Add(data.DataBody.Memory);
        IpcBytes += header.Length + data.DataBody.Length;
        return true;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
