using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// Quarantined adapters: kept (their last checkpoint in checkpoints/, their later records in quarantine/NAME.wal),
/// listed in stats, refused to readers and writers, and brought back by <see cref="Repair"/>.
/// </summary>
public sealed partial class AdapterStore
{
    private const string QuarantineFolder = "quarantine";

    /// <summary>The adapters this store holds but does not serve, with the reason.</summary>
    public IReadOnlyList<QuarantinedAdapter> Quarantined =>
        _quarantine.Values.OrderBy(q => q.Name, StringComparer.Ordinal)
            .Select(q => (Entry: q, File: RecordsFileOf(q.Name)))
            .Select(q => new QuarantinedAdapter(q.Entry.Name, q.Entry.Quarantine!, q.Entry.QuarantineSeq, File.Exists(q.File) ? q.File : null))
            .ToList();

    private string RecordsFileOf(string name) => Path.Combine(_dir, QuarantineFolder, FileStem(name) + ".wal");

    /// <summary>
    /// Copies every record of a quarantined adapter newer than its checkpoint out of the WAL (whose segments a
    /// checkpoint deletes) into quarantine/NAME.wal, merged with what that file already holds, then records the
    /// quarantine in the manifest. Runs during open, before anything is appended.
    /// </summary>
    private void KeepQuarantinedRecords(IReadOnlyList<string> segments, ulong maxSeq)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(_dir, QuarantineFolder));
        var kept = _quarantine.Keys.ToDictionary(n => n, _ => new SortedDictionary<ulong, WalRecord>(), StringComparer.Ordinal);
        foreach (var (name, records) in kept)
            if (File.Exists(RecordsFileOf(name)))
                foreach (var r in WriteAheadLog.ReadSegment(RecordsFileOf(name), cut: false).Records) records[r.Seq] = r;
        foreach (var path in segments)
            foreach (var r in WriteAheadLog.ReadSegment(path, cut: false).Records)
                if (_quarantine.TryGetValue(r.Adapter, out var q) && r.Seq > q.CheckpointSeq) kept[r.Adapter][r.Seq] = r;
        foreach (var (name, records) in kept)
        {
            using var ms = new MemoryStream();
            foreach (var r in records.Values) ms.Write(r.Encode());
            AtomicFile.Write(RecordsFileOf(name), ms.GetBuffer().AsSpan(0, (int)ms.Length));
        }
        lock (_manifestLock) WriteManifestLocked(maxSeq);
    }

    /// <summary>
    /// Brings a quarantined adapter back: its last checkpoint, then its kept records in order up to (not including)
    /// the first that cannot be applied — the adapter as it was just before that record. The result is logged as one
    /// record that replaces whatever the log holds for the name, and the log is folded by a checkpoint; the dropped
    /// records stay in the quarantine file (renamed *.repaired-SEQ). With <paramref name="drop"/> the adapter is deleted instead. The operator runs this
    /// with the server stopped (`hyprstream store repair DIR`).
    /// </summary>
    public RepairReport Repair(string name, bool drop = false)
    {
        ThrowIfDisposed();
        var wal = Wal;
        lock (_checkpointLock)
        {
            if (!_quarantine.TryGetValue(name, out var q)) throw new KeyNotFoundException($"adapter '{name}' is not quarantined");
            var file = RecordsFileOf(name);
            var records = File.Exists(file) ? WriteAheadLog.ReadSegment(file, cut: false).Records.OrderBy(r => r.Seq).ToList() : [];
            SparseAdapter? state = null;
            string? baseModel = q.BaseModel, failure = null;
            string[] tags = q.Tags;
            byte[]? embedding = q.Embedding;
            int applied = 0;
            try
            {
                if (!drop)
                {
                    if (q.Checkpoint != null)
                    {
                        try { state = LoadCheckpoint(name, q.Checkpoint); }
                        catch (StoreDamagedException ex)
                        {
                            throw new StoreDamagedException($"{ex.Message} (its later records cannot be applied without it; `store repair --drop` deletes it)", ex);
                        }
                    }
                    foreach (var r in records)
                    {
                        try { ApplyRecord(ref state, ref baseModel, ref tags, ref embedding, name, r); applied++; }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            failure = $"WAL record {r.Seq} ({r.Op}): {ex.Message}";
                            break;
                        }
                    }
                }
                bool restored = state != null;
                ulong seq = restored
                    ? wal.Append(WalOp.CreateFrom, name, BatchCodec.EncodeAdapter(baseModel, AdapterBatch.FromAdapter(state!)))
                    : wal.Append(WalOp.DeleteAdapter, name, []);
                if (restored && (tags.Length > 0 || embedding != null))
                    seq = wal.Append(WalOp.Describe, name, EncodeDescription(tags, embedding));
                wal.WaitDurable(seq);
                long active = state?.ActiveCount ?? 0;
                lock (_metaLock)
                {
                    _quarantine.TryRemove(name, out _);
                    if (restored)
                    {
                        InstallEntry(name, baseModel, seq, state!);
                        state = null; // the cache owns it now
                        var e = _adapters[name];
                        e.Tags = tags;
                        e.Embedding = embedding;
                    }
                }
                _cache.Settle();
                // Fold the log now: its older records of this name must never be replayed on top of the repaired state.
                // A crash before this completes leaves the manifest saying "quarantined", and repair runs again.
                Checkpoint();
                string? keptAt = null;
                if (File.Exists(file))
                {
                    keptAt = $"{file}.repaired-{seq}";
                    File.Move(file, keptAt, overwrite: true);
                }
                return new RepairReport(name, restored, applied, records.Count - applied, failure, active, keptAt);
            }
            finally { state?.Dispose(); }
        }
    }

    /// <summary>One record applied to a standalone adapter by the rules the live store checks it with (repair's replay).</summary>
    private static void ApplyRecord(ref SparseAdapter? state, ref string? baseModel, ref string[] tags, ref byte[]? embedding, string name, WalRecord r)
    {
        switch (r.Op)
        {
            case WalOp.CreateAdapter:
                baseModel = DecodeBaseModel(r.Payload);
                state?.Dispose();
                state = new SparseAdapter(name, baseModel);
                (tags, embedding) = ([], null);
                break;
            case WalOp.CreateFrom:
            {
                var (bm, batch) = BatchCodec.DecodeAdapter(r.Payload);
                var built = batch.Build(name, bm, validate: true);
                state?.Dispose();
                (state, baseModel, tags, embedding) = (built, bm, [], null);
                break;
            }
            case WalOp.DeleteAdapter:
                state?.Dispose();
                (state, tags, embedding) = (null, [], null);
                break;
            case WalOp.Update:
            {
                var adapter = state ?? throw new InvalidDataException($"it updates adapter '{name}', which does not exist at that point");
                BatchCodec.Decode(r.Payload).ApplyValidated(adapter);
                break;
            }
            case WalOp.Describe:
                if (state == null) throw new InvalidDataException($"it describes adapter '{name}', which does not exist at that point");
                (tags, embedding) = DecodeDescription(r.Payload);
                break;
            default:
                throw new InvalidDataException($"unknown op {(byte)r.Op}");
        }
    }
}
