using System.Buffers.Binary;
using System.Text;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// A snapshot of an index: three sections (settings, entries, graph), each length-prefixed and CRC32C-checked,
/// so a damaged graph is rebuilt from the entries and damaged entries are detected, never half-read.
/// </summary>
internal static class IndexSnapshot
{
    private const uint Magic = 0x58495348; // "HSIX"
    private const int Version = 1;

    public sealed record Entry(string Name, string[] Tags, int Level, double[] Vector);

    public sealed record Image(DistanceMetric Metric, int Dim, HnswParameters Parameters, ulong LastSeq, List<Entry> Entries,
        int[]? Levels, int[][]? Links, int Entry0, bool GraphDamaged);

    public static void Write(string path, Image image)
    {
        var temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var head = new byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(head, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(4), Version);
            f.Write(head);
            WriteSection(f, w =>
            {
                w.Write((byte)image.Metric); w.Write(image.Dim); w.Write(image.Parameters.M); w.Write(image.Parameters.EfConstruction);
                w.Write(image.Parameters.EfSearch); w.Write(image.Parameters.QuantizeInt8); w.Write(image.Parameters.Seed); w.Write(image.LastSeq);
            });
            WriteSection(f, w =>
            {
                w.Write(image.Entries.Count);
                foreach (var e in image.Entries)
                {
                    w.Write(e.Name);
                    w.Write(e.Tags.Length);
                    foreach (var t in e.Tags) w.Write(t);
                    w.Write(e.Level);
                    foreach (var x in e.Vector) w.Write(x);
                }
            });
            WriteSection(f, w =>
            {
                w.Write(image.Entry0);
                foreach (var l in image.Links!)
                {
                    w.Write(l.Length);
                    foreach (var x in l) w.Write(x);
                }
            });
            f.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a snapshot. Damaged settings or entries throw InvalidDataException; a damaged graph section
    /// comes back as <see cref="Image.GraphDamaged"/> so the caller rebuilds the graph from the entries.</summary>
    public static Image Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
            throw new InvalidDataException($"'{path}' is not an index snapshot");
        int version = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (version != Version) throw new InvalidDataException($"'{path}' has snapshot version {version}; this build reads {Version}");
        int pos = 8;
        var settings = ReadSection(bytes, ref pos, path, "settings") ?? throw new InvalidDataException($"'{path}': settings section is damaged");
        var entries = ReadSection(bytes, ref pos, path, "entries") ?? throw new InvalidDataException($"'{path}': entries section is damaged");
        var graph = ReadSection(bytes, ref pos, path, "graph");

        using var s = Reader(settings);
        var metric = (DistanceMetric)s.ReadByte();
        if (!Enum.IsDefined(metric)) throw new InvalidDataException($"'{path}': unknown metric {(int)metric}");
        int dim = s.ReadInt32();
        var p = new HnswParameters { M = s.ReadInt32(), EfConstruction = s.ReadInt32(), EfSearch = s.ReadInt32(), QuantizeInt8 = s.ReadBoolean(), Seed = s.ReadInt32() };
        ulong lastSeq = s.ReadUInt64();
        if (dim <= 0 || dim > 65536) throw new InvalidDataException($"'{path}': dimension {dim}");

        using var e = Reader(entries);
        int n = e.ReadInt32();
        if (n < 0 || (long)n * dim * 8 > entries.Length) throw new InvalidDataException($"'{path}': entry count {n} does not fit the section");
        var list = new List<Entry>(n);
        for (int i = 0; i < n; i++)
        {
            string name = e.ReadString();
            var tags = new string[e.ReadInt32()];
            for (int t = 0; t < tags.Length; t++) tags[t] = e.ReadString();
            int level = e.ReadInt32();
            var v = new double[dim];
            for (int d = 0; d < dim; d++) v[d] = e.ReadDouble();
            list.Add(new Entry(name, tags, level, v));
        }

        int[][]? links = null;
        int entry0 = -1;
        if (graph != null)
        {
            try
            {
                using var g = Reader(graph);
                entry0 = g.ReadInt32();
                links = new int[n][];
                for (int i = 0; i < n; i++)
                {
                    int len = g.ReadInt32();
                    if (len < 0 || len > 1 << 16) throw new InvalidDataException("link list length");
                    links[i] = new int[len];
                    for (int j = 0; j < len; j++) links[i][j] = g.ReadInt32();
                }
            }
            catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException) { links = null; }
        }
        return new Image(metric, dim, p, lastSeq, list, list.Select(x => x.Level).ToArray(), links, entry0, links == null);
    }

    private static void WriteSection(Stream f, Action<BinaryWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) body(w);
        var data = ms.ToArray();
        var head = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), Crc32C.Compute(data));
        f.Write(head);
        f.Write(data);
    }

    /// <summary>The section's bytes, or null when it is truncated or fails its CRC.</summary>
    private static byte[]? ReadSection(byte[] bytes, ref int pos, string path, string what)
    {
        if (bytes.Length - pos < 8) return null;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos));
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 4));
        if (len > bytes.Length - pos - 8) return null;
        var data = bytes.AsSpan(pos + 8, (int)len).ToArray();
        pos += 8 + (int)len;
        return Crc32C.Compute(data) == crc ? data : null;
    }

    private static BinaryReader Reader(byte[] data) => new(new MemoryStream(data), Encoding.UTF8);
}
