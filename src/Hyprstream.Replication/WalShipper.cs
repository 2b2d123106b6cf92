using System.Buffers.Binary;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// Reads the local WAL for the leader from a cursor (segment, byte offset): the whole records after it whose
/// sequence is locally durable, never spanning two segments, verbatim (a chunk is the local segment's bytes). A
/// segment is left for the next only once a later one exists and this one is read to its end (appends never go back
/// to a rotated segment). Records at or below the bucket's shipped sequence are stepped over (a restarted leader).
/// Only the leader's loop uses it (not thread-safe).
/// </summary>
public sealed class WalShipper(string walDir)
{
    /// <summary>The segment the cursor is in: it and every later one are not wholly shipped.</summary>
    public long Segment { get; private set; } = -1;
    /// <summary>Byte offset in <see cref="Segment"/> of the first record not shipped.</summary>
    public long Offset { get; private set; }

    /// <summary>Puts the cursor at the start of <paramref name="segment"/> (or the first local segment after it).</summary>
    public void StartAt(long segment)
    {
        Segment = segment;
        Offset = 0;
    }

    /// <summary>After the chunk is committed: the cursor moves past it.</summary>
    public void Shipped(WalChunkRead chunk)
    {
        if (chunk.Segment != Segment || chunk.Offset > Offset)
            throw new InvalidOperationException($"chunk {chunk.Key} is not at the shipping cursor ({Segment}:{Offset})");
        Offset = chunk.End;
    }

    /// <summary>
    /// The next chunk to ship: records with a sequence above <paramref name="shipped"/> and at most
    /// <paramref name="durable"/>, up to <paramref name="maxBytes"/> (one record at least); null when there is none yet.
    /// </summary>
    public WalChunkRead? Next(ulong shipped, ulong durable, int maxBytes)
    {
        while (true)
        {
            var segments = WriteAheadLog.Segments(walDir).Select(s => s.Segment).ToList();
            if (segments.Count == 0) return null;
            if (!segments.Contains(Segment))
            {
                // Not there (yet, or folded away at open): the first segment after the cursor, if any.
                var after = segments.Where(s => s > Segment).DefaultIfEmpty(-1).Min();
                if (after < 0) return null;
                StartAt(after);
            }
            bool later = segments.Any(s => s > Segment); // checked before reading: then this segment is complete
            var read = Read(Path.Combine(walDir, WriteAheadLog.SegmentName(Segment)), shipped, durable, maxBytes, out bool atEnd);
            if (read != null) return read;
            if (!atEnd || !later) return null;
            StartAt(segments.First(s => s > Segment));
        }
    }

    /// <summary>The first record's sequence in local segment <paramref name="segment"/>; null when it has none (or is gone).</summary>
    public ulong? FirstSequenceOf(long segment)
    {
        var path = Path.Combine(walDir, WriteAheadLog.SegmentName(segment));
        if (!File.Exists(path)) return null;
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return NextRecord(f, f.Length, out _) is { } r ? r.Seq : null;
        }
        catch (FileNotFoundException) { return null; }
    }

    private WalChunkRead? Read(string path, ulong shipped, ulong durable, int maxBytes, out bool atEnd)
    {
        atEnd = false;
        FileStream f;
        try { f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16); }
        catch (FileNotFoundException) { return null; }
        using (f)
        {
            long length = f.Length;
            f.Seek(Offset, SeekOrigin.Begin);
            long at = Offset;
            var data = new MemoryStream();
            long start = -1;
            ulong first = 0, last = 0;
            int records = 0;
            while (true)
            {
                if (at >= length) { atEnd = true; break; }
                var r = NextRecord(f, length - at, out var bytes);
                if (r is not { } rec || rec.Seq > durable) break; // torn (still being written) or not yet durable
                if (rec.Seq <= shipped)
                {
                    // Already in the bucket: step over it (only before the first record of this chunk).
                    if (start < 0) Offset = at + bytes.Length;
                    else break;
                    at += bytes.Length;
                    continue;
                }
                if (start >= 0 && (data.Length + bytes.Length > maxBytes || rec.Seq != last + 1)) break;
                if (start < 0) { start = at; first = rec.Seq; }
                data.Write(bytes);
                last = rec.Seq;
                records++;
                at += bytes.Length;
            }
            if (start < 0) return null;
            return new WalChunkRead(Segment, start, at, first, last, records, data.ToArray());
        }
    }

    /// <summary>One whole record at the stream's position (<see cref="WriteAheadLog.ReadRecordBytes"/>); null when it is torn or not all there yet.</summary>
    private static (ulong Seq, int Length)? NextRecord(Stream f, long available, out byte[] bytes)
    {
        bytes = WriteAheadLog.ReadRecordBytes(f, available, out _) ?? [];
        if (bytes.Length == 0) return null;
        return (BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(WalRecord.HeaderBytes)), bytes.Length);
    }
}
