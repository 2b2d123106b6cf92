using System.Buffers.Binary;
using System.Text;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// The index's write-ahead log: one record per upsert/remove — u32 payload length, u32 CRC32C of the payload, then
/// the payload (u64 sequence, u8 op, name, tags, vector) — appended and fsynced before the change is applied.
/// Replay stops at the first torn or corrupt record and cuts the file there.
/// </summary>
internal sealed class IndexLog : IDisposable
{
    public enum Op : byte { Upsert = 1, Remove = 2 }

    public sealed record Record(ulong Seq, Op Kind, string Name, string[] Tags, double[] Vector);

    private readonly FileStream _file;
    public string Path { get; }
    public long Records { get; private set; }

    private IndexLog(string path, FileStream file, long records)
    {
        Path = path;
        _file = file;
        Records = records;
    }

    /// <summary>Opens (or creates) a log for appending; nothing is read.</summary>
    public static IndexLog OpenForAppend(string path)
    {
        var f = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.None);
        f.Seek(0, SeekOrigin.End);
        return new IndexLog(path, f, 0);
    }

    public void Append(Record r)
    {
        var payload = Encode(r);
        var head = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), Crc32C.Compute(payload));
        long start = _file.Position;
        try
        {
            _file.Write(head);
            _file.Write(payload);
            _file.Flush(flushToDisk: true);
        }
        catch
        {
            // A failed append (disk full) must not leave half a record for the next append to follow.
            try { _file.SetLength(start); _file.Seek(start, SeekOrigin.Begin); } catch (IOException) { }
            throw;
        }
        Records++;
    }

    /// <summary>Reads every intact record; cuts a torn or corrupt tail off the file and reports its size.</summary>
    public static (List<Record> Records, long DroppedBytes) Replay(string path)
    {
        var list = new List<Record>();
        if (!File.Exists(path)) return (list, 0);
        var bytes = File.ReadAllBytes(path);
        int pos = 0;
        while (bytes.Length - pos >= 8)
        {
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos));
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 4));
            if (len > bytes.Length - pos - 8) break;
            var payload = bytes.AsSpan(pos + 8, (int)len);
            if (Crc32C.Compute(payload) != crc) break;
            try { list.Add(Decode(payload)); }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or EndOfStreamException) { break; }
            pos += 8 + (int)len;
        }
        long dropped = bytes.Length - pos;
        if (dropped > 0)
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) { f.SetLength(pos); f.Flush(true); }
        return (list, dropped);
    }

    private static byte[] Encode(Record r)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.UTF8);
        w.Write(r.Seq);
        w.Write((byte)r.Kind);
        w.Write(r.Name);
        w.Write(r.Tags.Length);
        foreach (var t in r.Tags) w.Write(t);
        w.Write(r.Vector.Length);
        foreach (var x in r.Vector) w.Write(x);
        w.Flush();
        return ms.ToArray();
    }

    private static Record Decode(ReadOnlySpan<byte> payload)
    {
        using var r = new BinaryReader(new MemoryStream(payload.ToArray()), Encoding.UTF8);
        ulong seq = r.ReadUInt64();
        var op = (Op)r.ReadByte();
        if (op is not (Op.Upsert or Op.Remove)) throw new InvalidDataException($"unknown log op {(byte)op}");
        string name = r.ReadString();
        int nt = r.ReadInt32();
        if (nt < 0 || nt > 4096) throw new InvalidDataException("implausible tag count");
        var tags = new string[nt];
        for (int i = 0; i < nt; i++) tags[i] = r.ReadString();
        int dim = r.ReadInt32();
        if (dim < 0 || dim > 65536) throw new InvalidDataException("implausible dimension");
        var v = new double[dim];
        for (int i = 0; i < dim; i++) v[i] = r.ReadDouble();
        return new Record(seq, op, name, tags, v);
    }

    public void Dispose() => _file.Dispose();
}
