using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// manifest.hsm: "HSM1", u32 CRC32C of the JSON, the JSON. Replaced atomically (temp + fsync + rename + directory
/// fsync), so a reader finds the old manifest or the new one. A CRC mismatch means real damage and is an error.
/// </summary>
public sealed class StoreManifest
{
    public const string FileName = "manifest.hsm";
    private static ReadOnlySpan<byte> Magic => "HSM1"u8;

    /// <summary>First WAL segment that is not folded into checkpoints.</summary>
    public long WalSegment { get; set; } = 1;
    /// <summary>Highest sequence any checkpoint holds (the WAL never reuses a lower one).</summary>
    public ulong MaxSeq { get; set; }
    public List<ManifestEntry> Adapters { get; set; } = [];

    public static StoreManifest Read(string dir)
    {
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return new StoreManifest();
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8 || !bytes.AsSpan(0, 4).SequenceEqual(Magic))
            throw new InvalidDataException($"{path} is not a hyprstream store manifest");
        var json = bytes.AsSpan(8);
        if (Crc32C.Compute(json) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)))
            throw new InvalidDataException($"{path}: manifest checksum mismatch (the file is damaged)");
        return JsonSerializer.Deserialize<StoreManifest>(json) ?? throw new InvalidDataException($"{path}: empty manifest");
    }

    public void Write(string dir)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(this);
        var bytes = new byte[8 + json.Length];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), Crc32C.Compute(json));
        json.CopyTo(bytes, 8);
        AtomicFile.Write(Path.Combine(dir, FileName), bytes);
    }

    public static byte[] EncodeEmbedding(ReadOnlySpan<float> v)
    {
        var raw = MemoryMarshal.AsBytes(v);
        var planes = new byte[raw.Length];
        ByteShuffle.Shuffle(raw, planes, 4);
        return Zstd.Compress(planes);
    }

    public static float[] DecodeEmbedding(byte[] frame)
    {
        var planes = Zstd.Decompress(frame);
        if (planes.Length % 4 != 0) throw new InvalidDataException("embedding is not a whole number of floats");
        var v = new float[planes.Length / 4];
        ByteShuffle.Unshuffle(planes, MemoryMarshal.AsBytes(v.AsSpan()), 4);
        return v;
    }
}
