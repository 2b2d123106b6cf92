using System.Buffers;
using System.Buffers.Binary;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// The stream an <see cref="Apache.Arrow.Ipc.ArrowStreamWriter"/> writes into: it cuts the IPC stream back into its
/// encapsulated messages (0xFFFFFFFF, metadata length, metadata, body) so each can travel as one FlightData
/// (data_header = the metadata, data_body = the body). Bodies are collected in pooled buffers that stay valid until
/// <see cref="Release"/>; the end-of-stream marker is dropped (a Flight stream ends with the call).
/// </summary>
internal sealed class IpcMessageSplitter : Stream
{
    public readonly record struct Message(byte Type, ReadOnlyMemory<byte> Metadata, ReadOnlyMemory<byte> Body);

    private readonly List<Message> _done = [];
    private readonly List<byte[]> _rented = [];
    private readonly byte[] _prefix = new byte[8];
    private int _prefixFill;
    private byte[]? _metadata;
    private int _metadataFill;
    private byte _type;
    private byte[]? _body;
    private int _bodyLength, _bodyFill;

    /// <summary>The messages completed since the last <see cref="Release"/>, in order.</summary>
    public IReadOnlyList<Message> Completed => _done;

    /// <summary>Forgets the completed messages and returns their buffers to the pool.</summary>
    public void Release()
    {
        _done.Clear();
        foreach (var b in _rented) ArrayPool<byte>.Shared.Return(b);
        _rented.Clear();
    }

    public override void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            if (_metadata == null)
            {
                int n = Math.Min(8 - _prefixFill, data.Length);
                data[..n].CopyTo(_prefix.AsSpan(_prefixFill));
                _prefixFill += n;
                data = data[n..];
                if (_prefixFill < 8) continue;
                _prefixFill = 0;
                if (BinaryPrimitives.ReadUInt32LittleEndian(_prefix) != 0xFFFFFFFF)
                    throw new InvalidOperationException("the Arrow writer produced a message without the continuation marker");
                int length = BinaryPrimitives.ReadInt32LittleEndian(_prefix.AsSpan(4));
                if (length == 0) continue; // end of stream
                _metadata = new byte[length];
                _metadataFill = 0;
            }
            else if (_body == null)
            {
                int n = Math.Min(_metadata.Length - _metadataFill, data.Length);
                data[..n].CopyTo(_metadata.AsSpan(_metadataFill));
                _metadataFill += n;
                data = data[n..];
                if (_metadataFill < _metadata.Length) continue;
                var (type, body) = IpcMessage.Read(_metadata);
                _type = type;
                _bodyLength = checked((int)body);
                _bodyFill = 0;
                _body = _bodyLength == 0 ? [] : ArrayPool<byte>.Shared.Rent(_bodyLength);
                if (_bodyLength > 0) _rented.Add(_body);
                if (_bodyLength == 0) Finish();
            }
            else
            {
                int n = Math.Min(_bodyLength - _bodyFill, data.Length);
                data[..n].CopyTo(_body.AsSpan(_bodyFill));
                _bodyFill += n;
                data = data[n..];
                if (_bodyFill == _bodyLength) Finish();
            }
        }
    }

    private void Finish()
    {
        _done.Add(new Message(_type, _metadata!, _body.AsMemory(0, _bodyLength)));
        _metadata = null;
        _body = null;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) Release();
        base.Dispose(disposing);
    }
}
