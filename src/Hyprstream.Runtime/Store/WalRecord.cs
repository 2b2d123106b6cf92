using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// One WAL record: u32 body length, u32 CRC32C of the body, then the body — u64 sequence, u8 op, u16 adapter name
/// length + UTF-8 name, u8 flags (bit 0: payload is a zstd frame), u32 payload length, payload.
/// </summary>
public sealed record WalRecord(ulong Seq, WalOp Op, string Adapter, byte[] Payload)
{
    public const int HeaderBytes = 8;
    public const int MaxBodyBytes = 1 << 30;
    private const byte FlagZstd = 1;
    /// <summary>Payloads at least this large are compressed.</summary>
    private const int CompressFrom = 256;

    /// <summary>zstd level of the payload (any level makes the same kind of frame; readers do not need it).</summary>
    public int CompressionLevel { get; init; } = 1;

    public byte[] Encode()
    {
        var rented = EncodeRented(Seq, Op, Adapter, Payload, CompressionLevel, out int length);
        try { return rented.AsSpan(0, length).ToArray(); }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    /// <summary>
    /// A record encoded into a buffer rented from <see cref="ArrayPool{T}.Shared"/> (the caller returns it); its first
    /// <paramref name="length"/> bytes are the record. The payload is compressed straight into the buffer, so the WAL's
    /// write path allocates no array per record (a large tile batch would otherwise cost several large-object-heap
    /// arrays: the frame, its trimmed copy and the record).
    /// </summary>
    public static byte[] EncodeRented(ulong seq, WalOp op, string adapter, ReadOnlySpan<byte> payload, int compressionLevel, out int length)
    {
        int nameLength = Encoding.UTF8.GetByteCount(adapter);
        int at = 11 + nameLength; // the flags byte, after seq, op, name length and name
        bool zstd = payload.Length >= CompressFrom;
        long capacity = HeaderBytes + at + 5L + (zstd ? Math.Max(Zstd.CompressBound(payload.Length), payload.Length) : payload.Length);
        if (capacity > Array.MaxLength) throw TooLarge(payload.Length, payload.Length);
        var buf = ArrayPool<byte>.Shared.Rent((int)capacity);
        try
        {
            var s = buf.AsSpan(HeaderBytes, (int)capacity - HeaderBytes);
            var stored = s[(at + 5)..];
            int storedLength = zstd ? Zstd.Compress(payload, stored, compressionLevel) : 0;
            if (!zstd || storedLength >= payload.Length)
            {
                zstd = false;
                payload.CopyTo(stored);
                storedLength = payload.Length;
            }
            long body64 = at + 5L + storedLength;
            // Recovery treats a longer record as corruption and would drop it and everything after: refuse it here.
            if (body64 > MaxBodyBytes) throw TooLarge(payload.Length, storedLength);
            int body = (int)body64;
            BinaryPrimitives.WriteUInt64LittleEndian(s, seq);
            s[8] = (byte)op;
            BinaryPrimitives.WriteUInt16LittleEndian(s[9..], (ushort)nameLength);
            Encoding.UTF8.GetBytes(adapter, s[11..]);
            s[at] = zstd ? FlagZstd : (byte)0;
            BinaryPrimitives.WriteInt32LittleEndian(s[(at + 1)..], storedLength);
            BinaryPrimitives.WriteUInt32LittleEndian(buf, (uint)body);
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(4), Crc32C.Compute(s[..body]));
            length = HeaderBytes + body;
            return buf;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buf);
            throw;
        }
    }

    private static ArgumentException TooLarge(long payload, long stored) =>
        new($"a change of {payload:N0} bytes ({stored:N0} compressed) is larger than one WAL record may be ({MaxBodyBytes:N0}); split it into smaller batches");

    /// <summary>
    /// Puts a sequence number into a record encoded with another one (and fixes its CRC): the log compresses and
    /// encodes outside its append lock, and numbers the record under it.
    /// </summary>
    public static void Stamp(byte[] encoded, ulong seq) => Stamp(encoded.AsSpan(), seq);

    /// <summary>As <see cref="Stamp(byte[], ulong)"/>, for a record that is exactly <paramref name="encoded"/>.</summary>
    public static void Stamp(Span<byte> encoded, ulong seq)
    {
        var body = encoded[HeaderBytes..];
        // The body was checksummed when encoded: only the sequence's 8 bytes change (no second pass over the body).
        uint crc = Crc32C.ReplacePrefix(BinaryPrimitives.ReadUInt32LittleEndian(encoded[4..]), BinaryPrimitives.ReadUInt64LittleEndian(body), seq, body.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(body, seq);
        BinaryPrimitives.WriteUInt32LittleEndian(encoded[4..], crc);
    }

    /// <summary>Decodes a body whose CRC already matched; a structurally bad body is InvalidDataException.</summary>
    public static WalRecord DecodeBody(ReadOnlySpan<byte> s)
    {
        if (s.Length < 16) throw new InvalidDataException("WAL record body too short");
        ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(s);
        var op = (WalOp)s[8];
        if (op is < WalOp.CreateAdapter or > WalOp.CreateFrom) throw new InvalidDataException($"unknown WAL op {(byte)op}");
        int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(s[9..]);
        if (11 + nameLen + 5 > s.Length) throw new InvalidDataException("WAL record name overruns the body");
        var name = Encoding.UTF8.GetString(s.Slice(11, nameLen));
        int at = 11 + nameLen;
        byte flags = s[at];
        int len = BinaryPrimitives.ReadInt32LittleEndian(s[(at + 1)..]);
        if (len < 0 || at + 5 + len != s.Length) throw new InvalidDataException("WAL record payload length does not match the body");
        var stored = s.Slice(at + 5, len);
        var payload = (flags & FlagZstd) != 0 ? Zstd.Decompress(stored) : stored.ToArray();
        return new WalRecord(seq, op, name, payload);
    }
}
