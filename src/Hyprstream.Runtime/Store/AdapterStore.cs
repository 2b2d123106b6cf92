using System.Diagnostics;
using System.Text;
using Hyprstream.Runtime.Bytes;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// A durable, cached store of adapters in one directory:
///   manifest.hsm       adapters → checkpoint file, folded WAL sequence, tags, embedding (replaced atomically)
///   wal/NNNNNN.log     write-ahead log segments (see <see cref="WriteAheadLog"/>)
///   checkpoints/*.vdb  one OpenVDB file per adapter: its state at a WAL sequence, written temp + fsync + rename
///   checkpoints/*.nvdb beside each, the same state as a NanoVDB snapshot file (CRC32C): the form cold reads map
///   checkpoints/*.fp16.nvdb  with StoreOptions.SnapshotFp16: the same state as an Fp16 snapshot file (Fp16 tiers map it)
///   cache/*.nvdb       the cache's L3 spill files: snapshots of changed adapters not yet checkpointed (discarded on open)
/// Every change is one WAL record, appended and applied under the adapter's gate, acknowledged once durable per the
/// fsync policy. A checkpoint rotates the WAL, writes the changed adapters from private copies (readers keep
/// reading), swaps the manifest and deletes the folded segments. Opening replays the unfolded segments and stops at
/// the first torn or corrupt record.
/// Must never: acknowledge an update that is not in the WAL, apply part of a batch, or block readers on a checkpoint.
/// Note: a reader may see an update before its fsync has completed (it is acknowledged only after).
/// </summary>
public sealed partial class AdapterStore : IDisposable
{
    private readonly string _dir, _walDir, _checkpointDir;
    private readonly StoreOptions _options;
    // Lock order: an adapter's Gate, then _metaLock, then the cache's lock, then _manifestLock. The cache calls back
    // write-backs, cold loads and maps without its lock; none of them takes _metaLock or a gate.
    private readonly object _metaLock = new();
    private readonly object _manifestLock = new();
    private readonly object _checkpointLock = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StoredAdapter> _adapters = new(StringComparer.Ordinal);
    // Checkpoint files of deleted or replaced adapters, deleted after the next manifest swap.
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _retired = new();
    // Adapters whose WAL could not be replayed, as their manifest entries (with Quarantine set); never in _adapters.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ManifestEntry> _quarantine = new(StringComparer.Ordinal);
    private readonly TieredCache _cache;
    private WriteAheadLog? _wal;
    private readonly bool _readOnly;
    private long _walSegment;
    private long _checkpoints;
    private readonly Thread? _checkpointer;
    private readonly FileStream? _lockFile;
    private volatile bool _disposed;
    private Exception? _checkpointFailure;

    /// <summary>The folder of the adapters' checkpoints (their states at a WAL sequence, as .vdb files).</summary>
    public const string CheckpointFolder = "checkpoints";

    public string Directory => _dir;
    public RecoveryReport Recovery { get; private set; } = null!;
    public FsyncPolicy Fsync => _options.Fsync;

    private AdapterStore(string dir, StoreOptions options, bool readOnly)
    {
        _dir = Path.GetFullPath(dir);
        _options = options;
        _readOnly = readOnly;
        _walDir = Path.Combine(_dir, "wal");
        _checkpointDir = Path.Combine(_dir, CheckpointFolder);
        // Stores written before the folder was named for what it holds keep their checkpoints in snapshots/.
        var legacy = Path.Combine(_dir, "snapshots");
        if (System.IO.Directory.Exists(legacy) && !System.IO.Directory.Exists(_checkpointDir))
        {
            if (readOnly) _checkpointDir = legacy;
            else System.IO.Directory.Move(legacy, _checkpointDir);
        }
        if (readOnly)
        {
            // Nothing is written: no lock, no spill folder, no WAL segment; everything replayed stays in memory.
            _cache = new TieredCache(null, new CacheBudgets(long.MaxValue / 4, 0, CacheBudgets.Default.L3Bytes), options.PromoteAfter, LoadFromCheckpoint, WriteBack, MapSnapshot);
            return;
        }
        System.IO.Directory.CreateDirectory(_walDir);
        System.IO.Directory.CreateDirectory(_checkpointDir);
        // One process per store: two writers appending to one WAL would interleave records.
        try { _lockFile = new FileStream(Path.Combine(_dir, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) { throw new IOException($"the store in {_dir} is open in another process ({e.Message})", e); }
        _cache = new TieredCache(Path.Combine(_dir, "cache"), options.Budgets, options.PromoteAfter, LoadFromCheckpoint, WriteBack, MapSnapshot);
        if (options.CheckpointWalBytes > 0)
            _checkpointer = new Thread(CheckpointLoop) { IsBackground = true, Name = "hyprstream-checkpointer" };
    }

    /// <summary>Opens (creating if needed) the store in <paramref name="dir"/> and recovers it.</summary>
    public static AdapterStore Open(string dir, StoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        var s = new AdapterStore(dir, options ?? new StoreOptions(), readOnly: false);
        try { s.Recover(); }
        catch { s._cache.Dispose(); s._lockFile?.Dispose(); throw; }
        s.StartMetrics();
        s._checkpointer?.Start();
        return s;
    }

    /// <summary>
    /// Opens an existing store to look at it without changing a byte: recovery runs in memory (a torn WAL tail is
    /// skipped, not cut; leftover files stay), no lock is taken, and every changing call throws. A directory that is
    /// not a store is refused.
    /// </summary>
    public static AdapterStore OpenReadOnly(string dir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        if (!IsStore(dir))
            throw new InvalidDataException($"{Path.GetFullPath(dir)} is not a hyprstream store (it has no {StoreManifest.FileName} and no wal/ folder)");
        var s = new AdapterStore(dir, new StoreOptions { CheckpointWalBytes = 0 }, readOnly: true);
        try { s.Recover(); }
        catch { s._cache.Dispose(); throw; }
        return s;
    }

    /// <summary>True when <paramref name="dir"/> holds a store (a manifest or a WAL folder).</summary>
    public static bool IsStore(string dir) =>
        File.Exists(Path.Combine(dir, StoreManifest.FileName)) || System.IO.Directory.Exists(Path.Combine(dir, "wal"));

    public bool IsReadOnly => _readOnly;

    /// <summary>The log, for every changing call (a read-only store has none).</summary>
    private WriteAheadLog Wal => _wal ?? throw new InvalidOperationException($"the store in {_dir} is open read-only");

    // ---- public operations ----

    public IReadOnlyList<string> Names { get { lock (_metaLock) return _adapters.Keys.Order(StringComparer.Ordinal).ToList(); } }

    /// <summary>Whether an adapter of that name exists: one lock-free probe of the in-memory table (a Bloom filter in
    /// front of it was slower for known and unknown names alike; see docs/benchmarks.md, "lookup").</summary>
    public bool Contains(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _adapters.ContainsKey(name);
    }

    /// <summary>Creates an empty adapter; returns the WAL sequence of its creation once durable.</summary>
    public ulong Create(string name, string? baseModel = null)
    {
        var seq = Log(name, baseModel, null, replace: false, out _) ?? throw new InvalidOperationException($"adapter '{name}' already exists");
        _cache.Settle();
        WaitDurable(seq);
        return seq;
    }

    /// <summary>
    /// Creates an adapter whose first state is <paramref name="content"/>, as one WAL record: after a crash it exists
    /// whole or not at all. With <paramref name="replace"/>, an adapter of that name is replaced in the same record.
    /// Returns the record's sequence once durable.
    /// </summary>
    public ulong Create(string name, string? baseModel, AdapterBatch content, bool replace = false)
    {
        ArgumentNullException.ThrowIfNull(content);
        var seq = Log(name, baseModel, content, replace, out bool replaced) ?? throw new InvalidOperationException($"adapter '{name}' already exists");
        _cache.Settle();
        WaitDurable(seq);
        if (replaced) Dropped?.Invoke(name, seq);
        return seq;
    }

    /// <summary>Creates an empty adapter unless one of that name exists; true when this call created it (durably).</summary>
    public bool CreateIfMissing(string name, string? baseModel = null) => CreateIfMissing(name, baseModel, null);

    /// <summary>
    /// Creates an adapter with first state <paramref name="content"/> (e.g. its declared modules) as one record, unless
    /// one of that name exists; true when this call created it (durably). A refused content creates nothing.
    /// </summary>
    public bool CreateIfMissing(string name, string? baseModel, AdapterBatch? content)
    {
        if (content is { Ops.Count: 0 }) content = null;
        if (Log(name, baseModel, content, replace: false, out _) is not { } seq) return false;
        _cache.Settle();
        WaitDurable(seq);
        return true;
    }

    /// <summary>Logs and installs a new adapter; null when it exists and <paramref name="replace"/> is false. Not yet durable.</summary>
    private ulong? Log(string name, string? baseModel, AdapterBatch? content, bool replace, out bool replaced)
    {
        replaced = false;
        AdapterNames.ValidateAdapter(name);
        ThrowIfDisposed();
        ThrowIfWritesRefused();
        // Built and checked before anything is logged: a bad batch logs nothing.
        var adapter = (content ?? new AdapterBatch()).Build(name, baseModel, validate: true);
        try
        {
            _adapters.TryGetValue(name, out var old);
            if (old != null && !replace) { adapter.Dispose(); return null; }
            // The replaced adapter's gate keeps its writers out; then the manifest lock (the order Delete uses).
            lock (old?.Gate ?? new object())
            lock (_metaLock)
            {
                if (_quarantine.TryGetValue(name, out var q)) throw new AdapterQuarantinedException(name, q.Quarantine!);
                _adapters.TryGetValue(name, out var now);
                if (now != old)
                {
                    adapter.Dispose();
                    if (!replace) return null;
                    throw new InvalidOperationException($"adapter '{name}' changed while it was being replaced; try again");
                }
                ulong seq = content == null && !replace
                    ? Wal.Append(WalOp.CreateAdapter, name, EncodeBaseModel(baseModel))
                    : Wal.Append(WalOp.CreateFrom, name, BatchCodec.EncodeAdapter(baseModel, content ?? new AdapterBatch()));
                if (old != null) DropAdapter(old);
                replaced = old != null;
                InstallEntry(name, baseModel, seq, adapter);
                return seq;
            }
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private void InstallEntry(string name, string? baseModel, ulong seq, SparseAdapter adapter)
    {
        var e = new StoredAdapter(name, _cache.GetOrAdd(name)) { BaseModel = baseModel };
        _cache.MarkDirty(e.Cache, seq);
        _cache.Install(e.Cache, adapter);
        // Published last: Find is lock-free, so a reader must never find an entry the cache does not hold yet (it
        // would look for a checkpoint that does not exist).
        _adapters[name] = e;
    }

    /// <summary>Logs and applies one batch as one record; returns its sequence once it is durable (the acknowledgement).</summary>
    public ulong Apply(string name, AdapterBatch batch)
    {
        var staged = Stage(name, batch);
        WaitDurable(staged.Seq);
        return staged.Seq;
    }

    /// <summary>
    /// Logs and applies one batch without waiting for its fsync: readers see it at once, but it counts as
    /// acknowledged only once <see cref="WhenDurableAsync"/> (or <see cref="WaitDurable"/>) for its sequence
    /// completes. One writer can so stream many batches that share fsyncs (the Flight DoPut path).
    /// </summary>
    public StagedUpdate Stage(string name, AdapterBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Stage(name, _ => batch);
    }

    /// <summary>
    /// As <see cref="Stage(string, AdapterBatch)"/>, with the batch planned against the adapter's current state under
    /// its write lock (a merge needs the destination's module scales).
    /// </summary>
    public StagedUpdate Stage(string name, Func<SparseAdapter, AdapterBatch> plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ThrowIfDisposed();
        ThrowIfWritesRefused();
        var e = Find(name);
        ulong seq;
        BatchOutcome outcome;
        lock (e.Gate)
        {
            if (e.Deleted) throw new KeyNotFoundException($"adapter '{name}' was deleted");
            var lease = _cache.Acquire(e.Cache, write: true);
            try
            {
                using (lease.Adapter.WriteScope())
                {
                    var batch = plan(lease.Adapter);
                    batch.Validate(lease.Adapter);
                    var payload = BatchCodec.EncodeRented(batch, out int length);
                    try { seq = Wal.Append(WalOp.Update, name, payload.AsSpan(0, length), BatchCodec.CompressionLevel(batch)); }
                    finally { System.Buffers.ArrayPool<byte>.Shared.Return(payload); }
                    outcome = batch.ApplyTo(lease.Adapter);
                }
                // Outside the adapter's write lock (lock order: cache lock, then adapter lock); still under the gate.
                _cache.MarkDirty(e.Cache, seq);
            }
            finally { _cache.Release(lease, true, settle: false); }
        }
        _cache.Settle(); // evictions this write caused, outside its gate (they may write back another adapter)
        return new StagedUpdate(seq, outcome);
    }

    // WaitDurable and WhenDurableAsync (the acknowledgement: local fsync, and the remote commit with --ack remote)
    // are in AdapterStore.Replication.cs.

    /// <summary>
    /// <c>dst += scale · src</c> on effective deltas (module scales honoured, as <see cref="SparseAdapter.MergeFrom"/>),
    /// logged with the source's weights so replay never depends on src's later state. Returns once durable.
    /// </summary>
    public ulong Merge(string dst, string src, float scale = 1f)
    {
        var staged = StageMerge(dst, src, scale);
        WaitDurable(staged.Seq);
        return staged.Seq;
    }

    /// <summary>The merge, logged and applied but not yet waited for (see <see cref="Stage(string, AdapterBatch)"/>).</summary>
    public StagedUpdate StageMerge(string dst, string src, float scale = 1f)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException($"merge scale {scale} must be finite");
        using var source = Get(src);
        return Stage(dst, target =>
        {
            var batch = new AdapterBatch();
            foreach (var m in source.Modules)
            {
                float factor = scale;
                if (target.Modules.TryGet(m.Name, out var d))
                {
                    if (d.Rows != m.Rows || d.Cols != m.Cols)
                        throw new ArgumentException($"cannot merge '{src}' into '{dst}': module '{m.Name}' is {m.Rows}x{m.Cols} there and {d.Rows}x{d.Cols} here");
                    factor = SparseAdapter.MergeFactor(dst, m.Name, d.Scale, m.Scale, scale);
                }
                else batch.DefineModule(m.Name, m.Rows, m.Cols, m.Scale);
                var (r, c, v) = m.ReadActive();
                if (factor != 1f) for (int i = 0; i < v.Length; i++) v[i] *= factor;
                if (v.Length > 0) batch.Add(m.Name, r, c, v);
            }
            return batch;
        });
    }

    /// <summary>
    /// Raised (outside the store's locks, once durable) when an adapter and with it its tags and embedding are gone:
    /// deleted, or replaced by a new adapter of that name. Carries the record's sequence. The routing index listens.
    /// </summary>
    public event Action<string, ulong>? Dropped;

    /// <summary>Sets an adapter's tags and embedding (durably); returns the record's sequence.</summary>
    public ulong Describe(string name, IReadOnlyList<string> tags, ReadOnlySpan<float> embedding)
    {
        ThrowIfDisposed();
        ThrowIfWritesRefused();
        var e = Find(name);
        var emb = embedding.IsEmpty ? null : StoreManifest.EncodeEmbedding(embedding);
        var payload = EncodeDescription(tags, emb);
        ulong seq;
        lock (e.Gate)
        {
            if (e.Deleted) throw new KeyNotFoundException($"adapter '{name}' was deleted");
            seq = Wal.Append(WalOp.Describe, name, payload);
            lock (_metaLock) { e.Tags = tags.ToArray(); e.Embedding = emb; }
            _cache.MarkDirty(e.Cache, seq);
        }
        WaitDurable(seq);
        return seq;
    }

    public (string[] Tags, float[]? Embedding) Description(string name)
    {
        var e = Find(name);
        lock (_metaLock) return (e.Tags.ToArray(), e.Embedding == null ? null : StoreManifest.DecodeEmbedding(e.Embedding));
    }

    public ulong Delete(string name)
    {
        ThrowIfDisposed();
        ThrowIfReplicaRefuses();
        var e = Find(name);
        ulong seq;
        lock (e.Gate)
        lock (_metaLock)
        {
            if (e.Deleted) throw new KeyNotFoundException($"adapter '{name}' was deleted");
            seq = Wal.Append(WalOp.DeleteAdapter, name, []);
            DropAdapter(e);
        }
        WaitDurable(seq);
        Dropped?.Invoke(name, seq);
        return seq;
    }

    private void DropAdapter(StoredAdapter e)
    {
        e.Deleted = true;
        _adapters.TryRemove(e.Name, out _);
        _cache.Remove(e.Cache);
        // Its checkpoint file goes once a manifest that no longer names it is in place (the next checkpoint).
        if (Volatile.Read(ref e.CheckpointFile) is { } file) _retired.Enqueue(file);
    }

    /// <summary>Runs <paramref name="reader"/> on a consistent state of the adapter (no batch is half-applied).</summary>
    public T Read<T>(string name, Func<SparseAdapter, T> reader)
    {
        var e = Find(name);
        var lease = _cache.Acquire(e.Cache, write: false);
        try
        {
            using (lease.Adapter.ReadScope()) return reader(lease.Adapter);
        }
        finally { _cache.Release(lease, false); }
    }

    /// <summary>A private copy of the adapter (the caller disposes it).</summary>
    public SparseAdapter Get(string name) => Read(name, a => a.Clone());

    /// <summary>
    /// Borrows the adapter for a long read (streaming it out): it stays resident and is not evicted until the reader
    /// is disposed, while writers go on (each cursor chunk and module read takes the adapter's lock itself). An
    /// adapter in no cache tier is read from its mapped snapshot file: nothing is decoded and no grid is built.
    /// </summary>
    public AdapterReader OpenRead(string name)
    {
        var (lease, mapped) = _cache.AcquireRead(Find(name).Cache);
        return new AdapterReader(_cache, lease, mapped);
    }

    /// <summary>
    /// The adapter's description (modules, shapes, scales, active counts, metadata), cached until its next change,
    /// so listing many adapters does not decode them again.
    /// </summary>
    public AdapterInfo Info(string name)
    {
        var e = Find(name);
        lock (e.Gate)
        {
            if (e.Deleted) throw new KeyNotFoundException($"adapter '{name}' was deleted");
            if (e.Info is { } cached && e.InfoSeq == e.LastSeq) return cached;
            AdapterInfo info;
            using (var reader = OpenRead(name))
                info = reader.Adapter is { } a ? a.Describe() : reader.Snapshot!.Describe();
            e.Info = info;
            e.InfoSeq = e.LastSeq;
            return info;
        }
    }

    /// <summary>The WAL sequence of the adapter's last change (creation, batch, description).</summary>
    public ulong SequenceOf(string name)
    {
        var e = Find(name);
        return e.LastSeq;
    }

    /// <summary>Drops the adapter from every cache tier (unsaved changes go to its checkpoint first); false when pinned or in use.</summary>
    public bool Evict(string name)
    {
        var e = Find(name);
        _ = Wal; // a write-back needs a writable store
        return _cache.Evict(e.Cache);
    }

    /// <summary>Writes the adapter's current state as a standalone .vdb file (atomic: temp + fsync + rename).</summary>
    public void Export(string name, string path, SaveOptions? options = null)
    {
        using var copy = Get(name);
        copy.Save(path, options);
    }

    public void Pin(string name) => _cache.Pin(Find(name).Cache, true);
    public void Unpin(string name) => _cache.Pin(Find(name).Cache, false);
    public void Prefetch(string name) => _cache.Prefetch(Find(name).Cache);
    public CacheTier? TierOf(string name) => _cache.TierOf(Find(name).Cache);
    public IReadOnlyList<string> LruOrder(CacheTier tier) => _cache.LruOrder(tier);

    internal StoredAdapter Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_adapters.TryGetValue(name, out var found)) return found; // lock-free: the table is concurrent
        lock (_metaLock)
        {
            if (_adapters.TryGetValue(name, out var e)) return e;
            if (_quarantine.TryGetValue(name, out var q)) throw new AdapterQuarantinedException(name, q.Quarantine!);
            throw new KeyNotFoundException($"no adapter named '{name}'");
        }
    }

    // ---- checkpoints ----

    /// <summary>The checkpoint itself (<see cref="Checkpoint"/> times, counts and logs it); returns the adapters written.</summary>
    private int CheckpointCore()
    {
        lock (_checkpointLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return CheckpointLocked();
        }
    }

    private int CheckpointLocked()
    {
        var maxSeq = Wal.LastSequence;
        var newSegment = Wal.Rotate();
        List<StoredAdapter> dirty;
        dirty = _adapters.Values.Where(e => e.Dirty).ToList();
        var done = new List<(StoredAdapter E, string File, ulong Seq)>();
        try
        {
            foreach (var e in dirty)
            {
                SparseAdapter copy;
                ulong seq;
                lock (e.Gate)
                {
                    if (e.Deleted) continue;
                    copy = _cache.CloneState(e.Cache);
                    seq = e.LastSeq;
                }
                using (copy) done.Add((e, SaveCheckpoint(copy, seq), seq));
            }
        }
        catch
        {
            // Files of this attempt that no manifest names (e.g. the disk filled up): gone now, not at the next open.
            foreach (var (e, file, _) in done)
                if (Volatile.Read(ref e.CheckpointFile) != file) TryDeleteCheckpointFiles(file);
            throw;
        }
        var obsolete = new List<string>();
        // Taken before the manifest is built: each of these left _adapters first, so the new manifest cannot name it.
        var retired = new List<string>();
        while (_retired.TryDequeue(out var gone)) retired.Add(gone);
        obsolete.AddRange(retired);
        lock (_manifestLock)
        {
            var before = done.Select(d => (d.E, d.E.CheckpointFile, d.E.CheckpointSeq)).ToList();
            var oldSegment = _walSegment;
            foreach (var (e, file, seq) in done)
            {
                if (e.Deleted || seq <= e.CheckpointSeq) { if (file != e.CheckpointFile) obsolete.Add(file); continue; }
                if (e.CheckpointFile != null) obsolete.Add(e.CheckpointFile);
                e.CheckpointFile = file;
                e.CheckpointSeq = seq;
            }
            _walSegment = newSegment;
            try { WriteManifestLocked(maxSeq); }
            catch
            {
                // The manifest on disk still names the old files: so does the store, and the new ones go.
                foreach (var (e, file, seq) in before) { e.CheckpointFile = file; e.CheckpointSeq = seq; }
                _walSegment = oldSegment;
                foreach (var (_, file, _) in done) TryDeleteCheckpointFiles(file);
                foreach (var f in retired) _retired.Enqueue(f);
                throw;
            }
        }
        foreach (var (e, _, seq) in done) _cache.MarkCheckpointed(e.Cache, seq);
        foreach (var f in obsolete.Distinct()) DeleteCheckpointFiles(f);
        Wal.DeleteBefore(WalKeepFrom(newSegment));
        Interlocked.Increment(ref _checkpoints);
        return done.Count;
    }

    private void WriteManifestLocked(ulong maxSeq)
    {
        var m = new StoreManifest
        {
            WalSegment = _walSegment,
            MaxSeq = maxSeq,
            Adapters = _adapters.Values.Where(e => e.CheckpointFile != null).OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => new ManifestEntry
            {
                Name = e.Name, BaseModel = e.BaseModel, Checkpoint = e.CheckpointFile, CheckpointSeq = e.CheckpointSeq, Tags = e.Tags, Embedding = e.Embedding,
            }).Concat(_quarantine.Values).OrderBy(e => e.Name, StringComparer.Ordinal).ToList(),
        };
        m.Write(_dir);
    }

    /// <summary>A file-system-safe, unique stem for an adapter name (the manifest maps names to files).</summary>
    private static string FileStem(string name)
    {
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(48).ToArray());
        return $"{safe}-{Fnv1a.Hash64(name):x16}";
    }

    /// <summary>
    /// Reads an adapter's checkpoint file under the adapter's name (the file's grid name does not matter); damage is a
    /// <see cref="StoreDamagedException"/> that names the file.
    /// </summary>
    private SparseAdapter LoadCheckpoint(string name, string file)
    {
        SparseAdapter a;
        try { a = AdapterFile.Load(Path.Combine(_checkpointDir, file)); }
        catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException)
        {
            throw new StoreDamagedException(
                $"the checkpoint of adapter '{name}' ({CheckpointFolder}/{file}) is damaged: {ex.Message}; restore that file from a backup, or delete the adapter", ex);
        }
        a.Name = name;
        return a;
    }

    /// <summary>
    /// Called by the cache (without its lock) when a changed adapter leaves it: checkpoints its state at
    /// <paramref name="seq"/> and swaps the manifest. The cache marks it clean if nothing changed meanwhile.
    /// </summary>
    private void WriteBack(TieredCache.Entry entry, SparseAdapter state, ulong seq)
    {
        var e = entry.Owner ?? throw new InvalidOperationException($"adapter '{entry.Name}' has no store record (store invariant broken)");
        if (e.Deleted) return;
        var file = SaveCheckpoint(state, seq);
        string? old;
        lock (_manifestLock)
        {
            if (seq <= e.CheckpointSeq)
            {
                // A checkpoint of this state or a newer one landed meanwhile: keep it (it may be this very file).
                old = file == e.CheckpointFile ? null : file;
            }
            else
            {
                old = e.CheckpointFile;
                e.CheckpointFile = file;
                e.CheckpointSeq = seq;
                WriteManifestLocked(Math.Max(Wal.LastSequence, seq));
            }
        }
        if (old != null && old != file) DeleteCheckpointFiles(old);
        else if (old == file) TryDeleteCheckpointFiles(file);
    }

    private void CheckpointLoop()
    {
        while (!_disposed)
        {
            Thread.Sleep(50);
            try
            {
                if (!_disposed && CheckpointDue() && WalBytesToFold() >= CheckpointThreshold()) Checkpoint();
            }
            catch (ObjectDisposedException) { return; }
            catch (Exception ex)
            {
                // Counted and logged by Checkpoint; a failed checkpoint loses nothing (the WAL still holds everything).
                _checkpointFailure = ex;
            }
        }
    }

    /// <summary>
    /// The WAL size that starts a background checkpoint: <see cref="StoreOptions.CheckpointWalBytes"/>, raised to
    /// <see cref="StoreOptions.CheckpointWalRatio"/> times the bytes of the changed adapters a checkpoint would rewrite
    /// (so a stream of writes into large adapters is not rewritten whole every few batches), at most
    /// <see cref="StoreOptions.CheckpointWalMaxBytes"/>.
    /// </summary>
    internal long CheckpointThreshold()
    {
        long floor = _options.CheckpointWalBytes;
        if (_options.CheckpointWalRatio <= 0) return floor;
        long dirty = 0;
        foreach (var e in _adapters.Values)
            if (e.Dirty) dirty += Volatile.Read(ref e.Cache.Bytes);
        long scaled = (long)Math.Min(_options.CheckpointWalRatio * dirty, long.MaxValue / 2);
        return Math.Max(floor, Math.Min(scaled, _options.CheckpointWalMaxBytes));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>The last background checkpoint failure, if any (nothing is lost: the WAL still holds every change); see <see cref="CheckpointHealth"/>.</summary>
    public Exception? LastCheckpointFailure => _checkpointFailure;

    // ---- stats ----

    public StoreStats Stats()
    {
        long checkpointBytes = System.IO.Directory.Exists(_checkpointDir) ? System.IO.Directory.EnumerateFiles(_checkpointDir).Sum(LengthIfPresent) : 0;
        int count;
        lock (_metaLock) count = _adapters.Count;
        var cache = _cache.Stats();
        if (_wal is not { } wal)
            return new StoreStats(cache, _replica ? "replica" : "read-only", WriteAheadLog.DiskBytesIn(_walDir), 0, 0, 0, _replica ? AppliedSequence : Recovery.LastSequence, 0, checkpointBytes, count, Recovery, Quarantined);
        return new StoreStats(cache, wal.Policy.ToString(), wal.DiskBytes, wal.RecordsAppended,
            wal.BytesAppended, wal.Fsyncs, wal.LastSequence, Interlocked.Read(ref _checkpoints), checkpointBytes, count, Recovery, Quarantined)
        {
            CheckpointHealth = CheckpointHealth,
            SnapshotRebuilds = Interlocked.Read(ref _snapshotRebuilds),
            Promotions = Interlocked.Read(ref _promotions),
            PromotedWeights = Interlocked.Read(ref _promotedWeights),
            PromotionTime = TimeSpan.FromSeconds(Interlocked.Read(ref _promotionTicks) / (double)Stopwatch.Frequency),
        };
    }

    /// <summary>A file's length, 0 when it went meanwhile (a checkpoint's or write-back's temp file renamed or deleted).</summary>
    private static long LengthIfPresent(string file)
    {
        try { return new FileInfo(file).Length; }
        catch (FileNotFoundException) { return 0; }
    }

    /// <summary>A CreateAdapter record's payload: the base model in UTF-8, empty for none.</summary>
    private static byte[] EncodeBaseModel(string? baseModel) => Encoding.UTF8.GetBytes(baseModel ?? "");

    private static string? DecodeBaseModel(byte[] payload) => payload.Length == 0 ? null : Encoding.UTF8.GetString(payload);

    private static byte[] EncodeDescription(IReadOnlyList<string> tags, byte[]? embedding)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.UTF8);
        w.Write(tags.Count);
        foreach (var t in tags) w.Write(t);
        w.Write(embedding?.Length ?? -1);
        if (embedding != null) w.Write(embedding);
        w.Flush();
        return ms.ToArray();
    }

    private static (string[] Tags, byte[]? Embedding) DecodeDescription(byte[] payload)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
            int n = r.ReadInt32();
            if (n < 0 || n > payload.Length) throw new InvalidDataException("bad tag count");
            var tags = new string[n];
            for (int i = 0; i < n; i++) tags[i] = r.ReadString();
            int len = r.ReadInt32();
            return (tags, len < 0 ? null : r.ReadBytes(len));
        }
        catch (EndOfStreamException e) { throw new InvalidDataException("describe record is truncated", e); }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _checkpointer?.Join();
        _metrics?.Dispose();
        lock (_checkpointLock)
        {
            _wal?.Dispose();
            _cache.Dispose();
            _lockFile?.Dispose();
        }
    }
}
