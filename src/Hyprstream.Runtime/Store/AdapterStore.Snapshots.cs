using System.Collections.Concurrent;
using System.Diagnostics;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The read form on disk: every checkpoint writes, beside the adapter's `.vdb`, its NanoVDB snapshot file
/// (`.nvdb`, CRC32C over table and grid, temp + fsync + rename). A cold read maps that file and reads it in place
/// (no grid is built); a write promotes it to a writable grid by copying leaves. A file this process wrote, or
/// already checked in full, is checked structurally when mapped; any other file (after a restart, or copied in)
/// has its CRC32C checked the first time. A snapshot file that is missing or fails a check is never served: it is
/// rebuilt from the `.vdb` (whose state the WAL replay starts from) and the rebuild is logged and counted.
/// With <see cref="StoreOptions.SnapshotFp16"/> each checkpoint also writes the Fp16 snapshot file
/// (`STEM.SEQ.fp16.nvdb`), handled the same way in every respect (<see cref="OpenCheckpointSnapshot"/> reads it).
/// </summary>
public sealed partial class AdapterStore
{
    /// <summary>Snapshot files this process wrote (and fsynced) or checked in full: mapped with structural checks only.</summary>
    private readonly ConcurrentDictionary<string, bool> _verifiedSnapshots = new(StringComparer.Ordinal);
    private long _snapshotRebuilds, _promotions, _promotionTicks, _promotedWeights;

    /// <summary>The float32 snapshot file that belongs to a checkpoint file (same stem and sequence).</summary>
    public static string SnapshotFileOf(string checkpointFile) => Path.ChangeExtension(checkpointFile, ".nvdb");

    /// <summary>The snapshot file of the given precision that belongs to a checkpoint file: `STEM.SEQ.nvdb` or `STEM.SEQ.fp16.nvdb`.</summary>
    public static string SnapshotFileOf(string checkpointFile, SnapshotPrecision precision) => precision switch
    {
        SnapshotPrecision.Float32 => SnapshotFileOf(checkpointFile),
        SnapshotPrecision.Fp16 => Path.ChangeExtension(checkpointFile, ".fp16.nvdb"),
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown precision"),
    };

    /// <summary>The snapshot files each checkpoint of this store has: float32, and Fp16 with <see cref="StoreOptions.SnapshotFp16"/>.</summary>
    private IEnumerable<string> SnapshotFilesOf(string checkpointFile)
    {
        yield return SnapshotFileOf(checkpointFile);
        if (_options.SnapshotFp16) yield return SnapshotFileOf(checkpointFile, SnapshotPrecision.Fp16);
    }

    /// <summary>Writes the adapter's checkpoint: its snapshot file(s), then its `.vdb` (each atomic); returns the `.vdb` name.</summary>
    private string SaveCheckpoint(SparseAdapter a, ulong seq)
    {
        var file = $"{FileStem(a.Name)}.{seq}.vdb";
        WriteSnapshotFile(a, SnapshotFileOf(file), SnapshotPrecision.Float32);
        if (_options.SnapshotFp16) WriteSnapshotFile(a, SnapshotFileOf(file, SnapshotPrecision.Fp16), SnapshotPrecision.Fp16);
        a.Save(Path.Combine(_checkpointDir, file), CheckpointSave);
        return file;
    }

    /// <summary>
    /// Checkpoints are written uncompressed: Blosc/LZ4 does not shrink float32 weights (4.29 bytes per weight with it,
    /// 4.1 without: `bench storage`), and compressing took about a third of the checkpointer's CPU in a tile DoPut's
    /// profile. The file is an ordinary .vdb either way; readers need no setting.
    /// </summary>
    private static readonly SaveOptions CheckpointSave = new() { Compression = FileCompression.None };

    private void WriteSnapshotFile(SparseAdapter a, string snapshotFile, SnapshotPrecision precision)
    {
        using (var snap = AdapterSnapshot.Create(a, precision)) snap.Save(Path.Combine(_checkpointDir, snapshotFile));
        _verifiedSnapshots[snapshotFile] = true;
    }

    /// <summary>Deletes a checkpoint's `.vdb` and its snapshot files (a mapped snapshot stays readable until unmapped).</summary>
    private void DeleteCheckpointFiles(string checkpointFile)
    {
        File.Delete(Path.Combine(_checkpointDir, checkpointFile));
        // Both precisions, whatever this store's option: a file no checkpoint owns is never left behind.
        foreach (var precision in new[] { SnapshotPrecision.Float32, SnapshotPrecision.Fp16 })
        {
            var snap = SnapshotFileOf(checkpointFile, precision);
            File.Delete(Path.Combine(_checkpointDir, snap));
            _verifiedSnapshots.TryRemove(snap, out _);
        }
    }

    private void TryDeleteCheckpointFiles(string checkpointFile)
    {
        try { DeleteCheckpointFiles(checkpointFile); }
        catch (IOException) { } // left for the next open, which deletes files no manifest names
    }

    /// <summary>
    /// The cache's cold-read callback (no cache lock held): maps the snapshot file of the adapter's checkpoint,
    /// rebuilding it first when it is missing or damaged; null when the adapter has no checkpoint yet.
    /// </summary>
    private (AdapterSnapshot Snapshot, ulong Seq, string Path)? MapSnapshot(TieredCache.Entry entry)
    {
        if (entry.Owner is not { } e) return null;
        string? file;
        ulong seq;
        lock (_manifestLock) { file = e.CheckpointFile; seq = e.CheckpointSeq; }
        if (file == null) return null;
        ColdLoadHook?.Invoke(e.Name);
        return (MapOrRebuild(e.Name, file), seq, Path.Combine(_checkpointDir, SnapshotFileOf(file)));
    }

    private AdapterSnapshot MapOrRebuild(string name, string checkpointFile, SnapshotPrecision precision = SnapshotPrecision.Float32)
    {
        var snapFile = SnapshotFileOf(checkpointFile, precision);
        var path = Path.Combine(_checkpointDir, snapFile);
        bool verified = _verifiedSnapshots.ContainsKey(snapFile);
        string why;
        try
        {
            var snap = AdapterSnapshot.Map(path, verifyChecksum: !verified);
            string? wrong = snap.Name != name ? $"'{path}' holds adapter '{snap.Name}', not '{name}'"
                : snap.Precision != precision ? $"'{path}' holds a {snap.Precision} snapshot, not {precision}"
                : null;
            if (wrong != null)
            {
                snap.Dispose();
                throw new InvalidDataException(wrong);
            }
            _verifiedSnapshots[snapFile] = true;
            return snap;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            why = ex.Message;
        }
        // Never served: rebuilt from the checkpoint .vdb (the same state) and written again.
        var sw = Stopwatch.StartNew();
        using var adapter = LoadCheckpoint(name, checkpointFile);
        Interlocked.Increment(ref _snapshotRebuilds);
        if (_readOnly)
        {
            _options.Log?.Invoke($"snapshot of adapter '{name}' ({CheckpointFolder}/{snapFile}) not used: {why}; built from its checkpoint in memory");
            return AdapterSnapshot.Create(adapter, precision);
        }
        WriteSnapshotFile(adapter, snapFile, precision);
        _options.Log?.Invoke($"snapshot of adapter '{name}' ({CheckpointFolder}/{snapFile}) rebuilt from its checkpoint in {sw.ElapsedMilliseconds} ms: {why}");
        return AdapterSnapshot.Map(path, verifyChecksum: false);
    }

    /// <summary>
    /// The adapter's snapshot of <paramref name="precision"/> mapped from its checkpoint's file, when that file holds
    /// its current state: this store writes that precision at every checkpoint (<see cref="StoreOptions.SnapshotFp16"/>)
    /// and the adapter has not changed since its last checkpoint. Null otherwise: the caller converts the current
    /// state. The caller owns the snapshot (dispose it); Seq is the checkpoint's sequence. A missing or damaged file is
    /// rebuilt from the `.vdb`, never served, as for the float32 file. Float32 is read through <see cref="LeaseSnapshot"/>.
    /// </summary>
    internal (AdapterSnapshot Snapshot, ulong Seq)? OpenCheckpointSnapshot(string name, SnapshotPrecision precision)
    {
        if (precision != SnapshotPrecision.Fp16 || !_options.SnapshotFp16) return null;
        var e = Find(name);
        string? file;
        ulong seq;
        lock (_manifestLock) { file = e.CheckpointFile; seq = e.CheckpointSeq; }
        // Read after the checkpoint: any change since makes the file older than the adapter, and it is not used.
        if (file == null || e.LastSeq > seq) return null;
        try { return (MapOrRebuild(name, file, precision), seq); }
        catch (Exception ex) when (ex is IOException or InvalidDataException && CheckpointMoved(e, file))
        {
            return null; // a write and a newer checkpoint replaced the files meanwhile: the state moved on, convert it
        }
    }

    private bool CheckpointMoved(StoredAdapter e, string file)
    {
        lock (_manifestLock) return e.Deleted || e.CheckpointFile != file;
    }

    /// <summary>
    /// The cache's cold-load callback: a writable adapter for an adapter in no tier (a write, or a reader that needs
    /// a grid), called without the cache's lock. Promoted from its snapshot file by copying leaves (a damaged or
    /// missing snapshot file is rebuilt from the `.vdb` first).
    /// </summary>
    private SparseAdapter LoadFromCheckpoint(TieredCache.Entry entry)
    {
        var e = entry.Owner ?? throw new InvalidOperationException($"adapter '{entry.Name}' has no store record (store invariant broken)");
        string? file;
        lock (_manifestLock) file = e.CheckpointFile;
        if (file == null) throw new InvalidOperationException($"adapter '{e.Name}' has no checkpoint and is not cached (store invariant broken)");
        ColdLoadHook?.Invoke(e.Name);
        var sw = Stopwatch.StartNew();
        SparseAdapter a;
        // Its own mapping of the file (cheap: the pages are shared with any reader's), so no cache state is touched.
        using (var snap = MapOrRebuild(e.Name, file)) a = snap.ToAdapter(e.Name);
        Interlocked.Increment(ref _promotions);
        Interlocked.Add(ref _promotionTicks, sw.ElapsedTicks);
        Interlocked.Add(ref _promotedWeights, a.ActiveCount);
        return a;
    }

    /// <summary>Test hook: runs at the start of every cold map or load of an adapter, outside the cache's lock.</summary>
    internal static Action<string>? ColdLoadHook;

    /// <summary>
    /// A snapshot of the adapter's current state that the caller owns (the apply kernels' and GPU's read form), with
    /// the WAL sequence of that state: in L2 or L3 (or no tier: its file is mapped into L3), a copy of the cache's
    /// snapshot (a buffer copy, no conversion); in L1, converted from the grid. The snapshot tier leases the cache's
    /// own snapshot instead (<see cref="LeaseSnapshot"/>).
    /// </summary>
    public (AdapterSnapshot Snapshot, ulong Seq) OpenSnapshot(string name)
    {
        var (snapshot, seq, release) = LeaseSnapshot(name);
        if (release == null) return (snapshot, seq);
        try { return (snapshot.Copy(), seq); }
        finally { release(); }
    }

    /// <summary>
    /// The adapter's current state as a snapshot without a copy where a tier holds one (L2 buffer, L3 mapped file, or
    /// its checkpoint's file, mapped into L3): the cache's own snapshot on a lease, given back by calling
    /// <c>Release</c> (never dispose it). In L1, a snapshot converted from the grid that the caller owns (Release null).
    /// </summary>
    internal (AdapterSnapshot Snapshot, ulong Seq, Action? Release) LeaseSnapshot(string name)
    {
        var e = Find(name);
        var (lease, cached) = _cache.AcquireRead(e.Cache);
        if (cached == null)
        {
            var l = lease!.Value;
            try
            {
                using (l.Adapter.ReadScope()) return (AdapterSnapshot.Create(l.Adapter), SequenceOf(name), null);
            }
            finally { _cache.Release(l, false); }
        }
        int released = 0;
        return (cached.Snapshot, cached.Seq, () => { if (Interlocked.Exchange(ref released, 1) == 0) _cache.ReleaseSnapshot(cached); });
    }
}
