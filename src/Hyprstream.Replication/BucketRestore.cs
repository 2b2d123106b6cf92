using System.Diagnostics;
using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>What a restore from the bucket wrote: files, bytes, the last sequence it holds, how long it took.</summary>
public sealed record RestoreReport(int Adapters, int CheckpointFiles, int Chunks, long Bytes, ulong LastSequence, TimeSpan Elapsed);

/// <summary>
/// Turns the bucket's state (<see cref="BucketManifest"/>) into a local store directory that <see cref="AdapterStore"/>
/// opens as if it had written it: the checkpoint files under checkpoints/, each local WAL segment rebuilt from its
/// chunks under wal/, and manifest.hsm. Recovery then replays the segments as it always does. Used by a leader that
/// starts on an empty data directory and by a follower's bootstrap.
/// The directory is built beside the target and moved into place at the end, so an interrupted restore never leaves
/// something that looks like a store. Every object is verified (checksum, and the chunks' records against the
/// manifest's sequence ranges: a gap or a foreign record is an error, not a silent loss).
/// </summary>
public static class BucketRestore
{
    public static async Task<RestoreReport> MaterializeAsync(ObjectStore store, BucketManifest manifest, string dir,
        Action<string>? progress = null, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        dir = Path.GetFullPath(dir);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new IOException($"{dir} is not empty: a store is restored from the bucket only into an empty or new directory");
        var parent = Path.GetDirectoryName(dir) ?? throw new IOException($"{dir} has no parent directory");
        Directory.CreateDirectory(parent);
        var work = Path.Combine(parent, $".{Path.GetFileName(dir)}.restoring-{Guid.NewGuid():N}");
        try
        {
            var checkpoints = Path.Combine(work, AdapterStore.CheckpointFolder);
            var wal = Path.Combine(work, "wal");
            Directory.CreateDirectory(checkpoints);
            Directory.CreateDirectory(wal);

            var files = manifest.Store.Adapters.Where(a => a.Checkpoint != null)
                .SelectMany(a => new[] { a.Checkpoint!, AdapterStore.SnapshotFileOf(a.Checkpoint!) }).Distinct().ToList();
            long bytes = 0;
            int done = 0;
            await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (file, token) =>
            {
                if (file.Contains('/') || file.Contains('\\') || file is "." or "..")
                    throw new InvalidDataException($"the bucket manifest names a checkpoint file '{file}' outside checkpoints/");
                var path = Path.Combine(checkpoints, file);
                if (!await store.GetToFileAsync(BucketLayout.Checkpoint(file), path, ct: token).ConfigureAwait(false))
                {
                    // A snapshot file the store can rebuild from its .vdb; a missing .vdb is a lost checkpoint.
                    if (file.EndsWith(".nvdb", StringComparison.Ordinal)) return;
                    throw new InvalidDataException($"{store.Root}/{BucketLayout.Checkpoint(file)} is missing, though the bucket manifest names it");
                }
                Interlocked.Add(ref bytes, new FileInfo(path).Length);
                var n = Interlocked.Increment(ref done);
                progress?.Invoke($"checkpoint {n}/{files.Count}: {file}");
            }).ConfigureAwait(false);

            ulong last = manifest.Store.MaxSeq, expect = 0;
            foreach (var group in manifest.Chunks.GroupBy(c => c.Segment).OrderBy(g => g.Key))
            {
                var path = Path.Combine(wal, WriteAheadLog.SegmentName(group.Key));
                await using (var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    foreach (var chunk in group)
                    {
                        if (expect != 0 && chunk.FirstSeq != expect)
                            throw new InvalidDataException($"the bucket's WAL chunks skip from sequence {expect - 1} to {chunk.FirstSeq} ({chunk.Key}): records are missing");
                        var o = await store.GetAsync(chunk.Key, ct: ct).ConfigureAwait(false)
                            ?? throw new InvalidDataException($"{store.Root}/{chunk.Key} is missing, though the bucket manifest names it");
                        CheckChunk(store, chunk, o.Data);
                        await f.WriteAsync(o.Data, ct).ConfigureAwait(false);
                        bytes += o.Data.Length;
                        expect = chunk.LastSeq + 1;
                        last = Math.Max(last, chunk.LastSeq);
                    }
                    f.Flush(flushToDisk: true);
                }
                progress?.Invoke($"WAL segment {group.Key}: {group.Count()} chunk(s)");
            }
            manifest.Store.Write(work);
            if (Directory.Exists(dir)) Directory.Delete(dir);
            Directory.Move(work, dir);
            return new RestoreReport(manifest.Store.Adapters.Count, done, manifest.Chunks.Count, bytes, last, sw.Elapsed);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>A chunk's bytes must be whole records whose sequences run from its first to its last without a gap.</summary>
    public static List<WalRecord> CheckChunk(ObjectStore store, WalChunk chunk, byte[] data)
    {
        var records = WriteAheadLog.ParseRecords(data, out var why);
        var where = $"{store.Root}/{chunk.Key}";
        if (why != null) throw new DamagedObjectException(chunk.Key, $"{where} is damaged: {why}");
        if (records.Count == 0 || records[0].Seq != chunk.FirstSeq || records[^1].Seq != chunk.LastSeq
            || (ulong)records.Count != chunk.LastSeq - chunk.FirstSeq + 1)
            throw new DamagedObjectException(chunk.Key,
                $"{where} holds records {(records.Count == 0 ? "none" : $"{records[0].Seq}..{records[^1].Seq} ({records.Count})")} where the manifest says {chunk.FirstSeq}..{chunk.LastSeq}");
        return records;
    }
}
