using Hyprstream.Runtime.Store;

namespace Hyprstream.Replication;

/// <summary>
/// Checkpoint shipping: once the local store has checkpointed (its manifest.hsm names a later first WAL segment than
/// the bucket's), the checkpoint files it names are uploaded (those the bucket lacks), then the manifest is committed
/// with that store manifest and only the chunks of segments it did not fold. What the checkpoint holds is every
/// record of the folded segments: the bucket's shipped sequence (and its store manifest's MaxSeq, so a store restored
/// from it never reuses a sequence) becomes the record before the first one of the new segment.
/// </summary>
public sealed partial class ReplicationLeader
{
    private async Task ShipCheckpointAsync(AdapterStore store, CancellationToken ct)
    {
        var path = Path.Combine(store.Directory, StoreManifest.FileName);
        if (!File.Exists(path)) return;
        var stamp = File.GetLastWriteTimeUtc(path);
        if (stamp == _localManifestTime) return;
        var local = StoreManifest.Read(store.Directory);
        var w = local.WalSegment;
        if (w <= _m.Store.WalSegment) { _localManifestTime = stamp; return; }

        // What the checkpoint holds: every record before segment w's first; with w still empty (and no later segment
        // yet), every record handed out before we looked.
        ulong last = store.LastSequence;
        ulong covered;
        if (_wal!.FirstSequenceOf(w) is { } first) covered = first - 1;
        else if (File.Exists(Path.Combine(store.WalDirectory, WriteAheadLog.SegmentName(w)))
                 && !File.Exists(Path.Combine(store.WalDirectory, WriteAheadLog.SegmentName(w + 1))))
            covered = last;
        else return; // another checkpoint moved on meanwhile: the next round reads its manifest

        var files = local.Adapters.Where(a => a.Checkpoint != null)
            .SelectMany(a => new[] { a.Checkpoint!, AdapterStore.SnapshotFileOf(a.Checkpoint!) }).Distinct().ToList();
        long bytes = 0;
        int uploaded = 0;
        foreach (var file in files)
        {
            var key = BucketLayout.Checkpoint(file);
            if (_inBucket.Contains(key)) continue;
            var source = Path.Combine(store.Directory, AdapterStore.CheckpointFolder, file);
            if (!File.Exists(source))
            {
                if (file.EndsWith(".nvdb", StringComparison.Ordinal)) continue; // rebuilt from its .vdb where needed
                return; // replaced meanwhile (a later checkpoint or write-back): the next round ships the newer manifest
            }
            try { await _bucket.PutFileAsync(key, source, ct).ConfigureAwait(false); }
            catch (IOException) when (!File.Exists(source)) { return; }
            _inBucket.Add(key);
            bytes += new FileInfo(source).Length;
            uploaded++;
        }

        var next = Copy(_m);
        var store2 = StoreManifest.Read(store.Directory);
        if (store2.WalSegment != w) return; // changed while uploading: next round
        next.Store = local;
        next.Store.MaxSeq = Math.Max(local.MaxSeq, covered);
        next.Chunks = _m.Chunks.Where(c => c.Segment >= w).ToList();
        next.ShippedSeq = Math.Max(_m.ShippedSeq, covered);
        next.ShippedAt = DateTime.UtcNow;
        var before = Named(_m);
        if (!await CommitAsync(next, ct).ConfigureAwait(false)) return;
        _localManifestTime = stamp;
        var after = Named(next);
        Retire(before.Where(k => !after.Contains(k)));
        if (_wal.Segment < w) _wal.StartAt(w);
        KeepFrom(store, _wal.Segment);
        _o.Log?.Invoke($"checkpoint shipped to {_o.Root}: {local.Adapters.Count} adapters ({uploaded} files, {bytes:N0} bytes uploaded), " +
                       $"WAL from segment {w}, records up to {next.ShippedSeq}; {before.Count(k => !after.Contains(k))} objects retired");
    }
}
