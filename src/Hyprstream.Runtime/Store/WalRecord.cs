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
        var name = Encoding.UTF8.GetBytes(Adapter);
        bool zstd = Payload.Length >= CompressFrom;
        var stored = zstd ? Zstd.Compress(Payload, CompressionLevel) : Payload;
        if (zstd && stored.Length >= Payload.Length) { zstd = false; stored = Payload; }
        long body64 = 8 + 1 + 2 + name.Length + 1 + 4L + stored.Length;
        // Recovery treats a longer record as corruption and would drop it and everything after: refuse it here.
        if (body64 > MaxBodyBytes)
            throw new ArgumentException($"a change of {Payload.Length:N0} bytes ({stored.Length:N0} compressed) is larger than one WAL record may be ({MaxBodyBytes:N0}); split it into smaller batches");
        int body = (int)body64;
        var buf = GC.AllocateUninitializedArray<byte>(HeaderBytes + body); // every byte is written below
        var s = buf.AsSpan(HeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(s, Seq);
        s[8] = (byte)Op;
        BinaryPrimitives.WriteUInt16LittleEndian(s[9..], (ushort)name.Length);
        name.CopyTo(s[11..]);
        int at = 11 + name.Length;
        s[at] = zstd ? FlagZstd : (byte)0;
        BinaryPrimitives.WriteInt32LittleEndian(s[(at + 1)..], stored.Length);
        stored.CopyTo(s[(at + 5)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(buf, (uint)body);
        BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(4), Crc32C.Compute(s));
        return buf;
    }

    /// <summary>
    /// Puts a sequence number into a record encoded with another one (and fixes its CRC): the log compresses and
    /// encodes outside its append lock, and numbers the record under it.
    /// </summary>
    public static void Stamp(byte[] encoded, ulong seq)
    {
        var body = encoded.AsSpan(HeaderBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(body, seq);
        BinaryPrimitives.WriteUInt32LittleEndian(encoded.AsSpan(4), Crc32C.Compute(body));
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
