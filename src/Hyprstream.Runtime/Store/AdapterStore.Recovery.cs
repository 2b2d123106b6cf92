using System.Diagnostics;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// Opening a store: the manifest, leftovers of interrupted work, then the WAL replayed record by record. A record that
/// cannot be replayed (it should never happen: every record is checked by the same rules before it is logged)
/// quarantines its adapter instead of failing the open: the rest of the store is served, and the adapter's last
/// checkpoint and records are kept for `hyprstream store repair`.
/// </summary>
public sealed partial class AdapterStore
{
    private void Recover()
    {
        var sw = Stopwatch.StartNew();
        var manifest = StoreManifest.Read(_dir);
        var basis = new Dictionary<string, ManifestEntry>(StringComparer.Ordinal);
        foreach (var m in manifest.Adapters)
        {
            basis[m.Name] = m;
            if (m.Quarantine != null) { _quarantine[m.Name] = m; continue; }
            var e = new StoredAdapter(m.Name, _cache.GetOrAdd(m.Name));
            e.BaseModel = m.BaseModel; e.CheckpointFile = m.Checkpoint; e.CheckpointSeq = m.CheckpointSeq; e.Cache.LastSeq = m.CheckpointSeq;
            e.Tags = m.Tags; e.Embedding = m.Embedding;
            _adapters[m.Name] = e;
        }
        int orphans = _readOnly ? 0 : RemoveLeftovers(manifest);

        // A checkpoint may hold records past MaxSeq (appended between its read of the last sequence and its rotation):
        // the WAL must not hand out their sequences again, or replay would skip the new records as folded.
        ulong maxSeq = Math.Max(manifest.MaxSeq, manifest.Adapters.Select(a => a.CheckpointSeq).DefaultIfEmpty(0UL).Max());
        long replayed = 0, skipped = 0, bytesRead = 0, dropped = 0, held = 0;
        string? reason = null;
        int segments = 0;
        long last = manifest.WalSegment;
        var segmentFiles = System.IO.Directory.Exists(_walDir) ? WriteAheadLog.Segments(_walDir).ToList() : [];
        var read = new List<string>();
        foreach (var (n, path) in segmentFiles)
        {
            if (reason != null)
            {
                // Everything after the first bad record is dropped, later segments included.
                dropped += new FileInfo(path).Length;
                if (!_readOnly) File.Delete(path);
                continue;
            }
            segments++;
            read.Add(path);
            bytesRead += new FileInfo(path).Length;
            var (records, cut, why) = WriteAheadLog.ReadSegment(path, cut: !_readOnly);
            foreach (var r in records)
            {
                maxSeq = Math.Max(maxSeq, r.Seq);
                if (_quarantine.ContainsKey(r.Adapter)) { held++; continue; }
                try
                {
                    if (Replay(r)) replayed++; else skipped++;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Quarantine(r, ex, basis.GetValueOrDefault(r.Adapter));
                    held++;
                }
            }
            if (why != null) { reason = $"{Path.GetFileName(path)}: {why}"; dropped += cut; }
            last = n;
        }
        _walSegment = manifest.WalSegment;
        if (!_readOnly)
        {
            if (held > 0) KeepQuarantinedRecords(read, maxSeq);
            _wal = new WriteAheadLog(_walDir, last, maxSeq + 1, _options.Fsync);
            _cache.Settle(); // the replayed adapters within budget (write-backs need the log)
        }
        Recovery = new RecoveryReport(_adapters.Count, segments, replayed, skipped, bytesRead, dropped, reason, orphans, sw.Elapsed)
        {
            QuarantinedAdapters = _quarantine.Count,
            RecordsHeld = held,
            LastSequence = maxSeq,
        };
    }

    /// <summary>
    /// Deletes what an interrupted checkpoint or manifest swap left behind: files the manifest does not name (Fp16
    /// snapshot files too, when this store no longer writes them).
    /// </summary>
    private int RemoveLeftovers(StoreManifest manifest)
    {
        int orphans = 0;
        var live = manifest.Adapters.Where(a => a.Checkpoint != null).SelectMany(a => SnapshotFilesOf(a.Checkpoint!).Prepend(a.Checkpoint!))
            .ToHashSet(StringComparer.Ordinal);
        foreach (var f in System.IO.Directory.EnumerateFiles(_checkpointDir))
            if (!live.Contains(Path.GetFileName(f))) { File.Delete(f); orphans++; }
        var tmp = Path.Combine(_dir, StoreManifest.FileName + ".tmp");
        if (File.Exists(tmp)) { File.Delete(tmp); orphans++; }
        foreach (var (n, path) in WriteAheadLog.Segments(_walDir).ToList())
            if (n < manifest.WalSegment) { File.Delete(path); orphans++; }
        return orphans;
    }

    /// <summary>Applies one logged record during recovery, by the rules it was checked by before it was logged; false when a checkpoint already holds it.</summary>
    private bool Replay(WalRecord r)
    {
        _adapters.TryGetValue(r.Adapter, out var e);
        if (e != null && r.Seq <= e.CheckpointSeq) return false;
        switch (r.Op)
        {
            case WalOp.CreateAdapter:
            {
                var baseModel = DecodeBaseModel(r.Payload);
                var created = new SparseAdapter(r.Adapter, baseModel);
                if (e != null) DropAdapter(e);
                InstallEntry(r.Adapter, baseModel, r.Seq, created);
                return true;
            }
            case WalOp.CreateFrom:
            {
                var (baseModel, batch) = BatchCodec.DecodeAdapter(r.Payload);
                var built = batch.Build(r.Adapter, baseModel, validate: true);
                if (e != null) DropAdapter(e);
                InstallEntry(r.Adapter, baseModel, r.Seq, built);
                return true;
            }
            case WalOp.DeleteAdapter:
                if (e != null) DropAdapter(e);
                return true;
            case WalOp.Update:
            {
                if (e == null) throw new InvalidDataException($"WAL record {r.Seq} updates adapter '{r.Adapter}', which does not exist");
                var batch = BatchCodec.Decode(r.Payload);
                var lease = _cache.Acquire(e.Cache, write: true);
                try
                {
                    batch.ApplyValidated(lease.Adapter); // refused: nothing applied, the adapter is as before the record
                    _cache.MarkDirty(e.Cache, r.Seq);
                }
                finally { _cache.Release(lease, true); }
                return true;
            }
            case WalOp.Describe:
            {
                if (e == null) throw new InvalidDataException($"WAL record {r.Seq} describes adapter '{r.Adapter}', which does not exist");
                var (tags, emb) = DecodeDescription(r.Payload);
                lock (_metaLock) { e.Tags = tags; e.Embedding = emb; }
                _cache.MarkDirty(e.Cache, r.Seq);
                return true;
            }
        }
        throw new InvalidDataException($"WAL record {r.Seq} has unknown op {(byte)r.Op}");
    }

    /// <summary>
    /// Takes an adapter out of service because record <paramref name="r"/> could not be replayed. What it rests on is
    /// its manifest entry (the last checkpoint, or none); the records after that are kept by <see cref="KeepQuarantinedRecords"/>.
    /// </summary>
    private void Quarantine(WalRecord r, Exception ex, ManifestEntry? checkpoint)
    {
        if (_adapters.TryRemove(r.Adapter, out var e))
        {
            e.Deleted = true;
            _cache.Remove(e.Cache);
        }
        var why = $"WAL record {r.Seq} ({r.Op}) could not be replayed: {ex.Message}";
        _quarantine[r.Adapter] = new ManifestEntry
        {
            Name = r.Adapter, BaseModel = checkpoint?.BaseModel, Checkpoint = checkpoint?.Checkpoint, CheckpointSeq = checkpoint?.CheckpointSeq ?? 0,
            Tags = checkpoint?.Tags ?? [], Embedding = checkpoint?.Embedding, Quarantine = why, QuarantineSeq = r.Seq,
        };
    }
}
