using System.Buffers.Binary;
using System.Globalization;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The store's write-ahead log: numbered segment files (wal/000001.log, …) of <see cref="WalRecord"/>s. Appends are
/// serialized and written straight to the OS; <see cref="WaitDurable"/> then waits for an fsync according to the
/// policy. Group commit: whoever fsyncs covers every record written so far, so concurrent writers share one fsync.
/// A snapshot rotates to a new segment; segments the manifest no longer needs are deleted.
/// Must never: acknowledge a record before its bytes are written (and, unless the policy is never, fsynced), or leave
/// half a record behind after a failed append.
/// </summary>
public sealed class WriteAheadLog : IDisposable
{
    private readonly string _dir;
    private readonly FsyncPolicy _policy;
    private readonly object _appendLock = new();
    // Lock order: _appendLock, _flushLock, _syncLock. _syncLock guards the durable mark and its waiters and is never
    // held during an fsync, so a writer asking whether its record is durable does not wait for the disk.
    private readonly object _syncLock = new();
    private readonly object _flushLock = new();
    private readonly Thread? _flusher;
    private FileStream _file;
    private long _length;
    private ulong _nextSeq;
    private ulong _written;  // every record with seq <= _written is fully written to the OS
    private ulong _durable;  // ... and fsynced
    private Exception? _syncFailure;
    private volatile bool _stopping;

    public long Segment { get; private set; }
    public long BytesAppended => Interlocked.Read(ref _bytesAppended);
    public long Fsyncs => Interlocked.Read(ref _fsyncs);
    public long RecordsAppended => Interlocked.Read(ref _records);
    public ulong LastSequence { get { lock (_appendLock) return _nextSeq - 1; } }
    public FsyncPolicy Policy => _policy;
    /// <summary>Every record with a sequence up to this one is written and as durable as the policy asks (written, with fsync never).</summary>
    public ulong DurableSequence => _policy.Mode == FsyncMode.Never ? Volatile.Read(ref _written) : Volatile.Read(ref _durable);
    /// <summary>Where fsync latencies go (the store's instruments, when it publishes them).</summary>
    internal StoreMetrics? Metrics { get; set; }
    private long _bytesAppended, _fsyncs, _records;

    /// <summary>Opens segment <paramref name="segment"/> for appending (the caller has replayed and cut it).</summary>
    internal WriteAheadLog(string dir, long segment, ulong nextSeq, FsyncPolicy policy)
    {
        _dir = dir;
        _policy = policy;
        Segment = segment;
        _nextSeq = nextSeq;
        _written = _durable = nextSeq - 1;
        _file = OpenSegment(segment);
        _length = _file.Length;
        if (policy.Mode == FsyncMode.Batch)
        {
            _flusher = new Thread(FlushLoop) { IsBackground = true, Name = "hyprstream-wal-flusher" };
            _flusher.Start();
        }
    }

    public static string SegmentName(long segment) => segment.ToString("D6", CultureInfo.InvariantCulture) + ".log";

    public static IEnumerable<(long Segment, string Path)> Segments(string dir) =>
        Directory.EnumerateFiles(dir, "*.log")
            .Select(p => (ok: long.TryParse(Path.GetFileNameWithoutExtension(p), NumberStyles.None, CultureInfo.InvariantCulture, out var n), n, p))
            .Where(t => t.ok).Select(t => (t.n, t.p)).OrderBy(t => t.n);

    private FileStream OpenSegment(long segment)
    {
        var f = new FileStream(Path.Combine(_dir, SegmentName(segment)), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 0);
        f.Seek(0, SeekOrigin.End);
        return f;
    }

    /// <summary>Writes one record and returns its sequence number; not yet durable (see <see cref="WaitDurable"/>).</summary>
    public ulong Append(WalOp op, string adapter, ReadOnlySpan<byte> payload, int compressionLevel = 1)
    {
        // Compression and encoding run outside the lock, so concurrent writers compress in parallel; into a pooled
        // buffer, so a large record costs no new array.
        var rented = WalRecord.EncodeRented(0, op, adapter, payload, compressionLevel, out int length);
        try { return AppendEncoded(rented.AsSpan(0, length)); }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(rented); }
    }

    private ulong AppendEncoded(Span<byte> bytes)
    {
        lock (_appendLock)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            var seq = _nextSeq;
            WalRecord.Stamp(bytes, seq);
            try
            {
                _file.Write(bytes);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Disk full or an I/O error: cut the partial record so the next append does not follow garbage.
                try { _file.SetLength(_length); _file.Seek(_length, SeekOrigin.Begin); } catch (IOException) { }
                throw new IOException($"WAL append failed, nothing was logged: {e.Message}", e);
            }
            _length += bytes.Length;
            _nextSeq = seq + 1;
            Interlocked.Add(ref _bytesAppended, bytes.Length);
            Interlocked.Increment(ref _records);
            Volatile.Write(ref _written, seq);
            return seq;
        }
    }

    /// <summary>Returns once record <paramref name="seq"/> is as durable as the policy asks.</summary>
    public void WaitDurable(ulong seq)
    {
        switch (_policy.Mode)
        {
            case FsyncMode.Never:
                return;
            case FsyncMode.Always:
                lock (_syncLock) if (_durable >= seq) return; // someone else's fsync covered us: group commit
                Sync();
                return;
            default:
                lock (_syncLock)
                {
                    while (_durable < seq)
                    {
                        if (_syncFailure != null) throw new IOException("WAL fsync failed: " + _syncFailure.Message, _syncFailure);
                        ObjectDisposedException.ThrowIf(_stopping && _durable < seq, this);
                        Monitor.Wait(_syncLock, 100);
                    }
                }
                return;
        }
    }

    /// <summary>
    /// Completes once record <paramref name="seq"/> is as durable as the policy asks, without holding a thread while
    /// it waits (the Flight service acknowledges from here). Faults with IOException when the fsync fails.
    /// </summary>
    public Task WhenDurableAsync(ulong seq)
    {
        switch (_policy.Mode)
        {
            case FsyncMode.Never:
                return Task.CompletedTask;
            case FsyncMode.Always:
                lock (_syncLock) if (_durable >= seq) return Task.CompletedTask;
                return Task.Run(() => WaitDurable(seq));
            default:
                lock (_syncLock)
                {
                    if (_durable >= seq) return Task.CompletedTask;
                    if (_syncFailure != null) return Task.FromException(new IOException("WAL fsync failed: " + _syncFailure.Message, _syncFailure));
                    if (_stopping) return Task.FromException(new ObjectDisposedException(nameof(WriteAheadLog)));
                    var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiters.Add((seq, tcs));
                    return tcs.Task;
                }
        }
    }

    private readonly List<(ulong Seq, TaskCompletionSource Done)> _waiters = [];

    /// <summary>Completes (or, on failure, faults) the async waiters the last fsync covered. Under the sync lock.</summary>
    private void ReleaseWaitersLocked(Exception? failure = null)
    {
        if (_waiters.Count == 0) return;
        _waiters.RemoveAll(w =>
        {
            if (failure != null) { w.Done.TrySetException(failure); return true; }
            if (w.Seq > _durable) return false;
            w.Done.TrySetResult();
            return true;
        });
    }

    /// <summary>
    /// fsyncs everything written so far (one fsync at a time; whoever fsyncs covers every record written before it
    /// started), then marks it durable and releases its waiters.
    /// </summary>
    private void Sync()
    {
        lock (_flushLock)
        {
            var target = Volatile.Read(ref _written);
            lock (_syncLock) if (target <= _durable) return;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            _file.Flush(flushToDisk: true);
            Metrics?.Fsynced(started);
            Interlocked.Increment(ref _fsyncs);
            lock (_syncLock)
            {
                _durable = target;
                Monitor.PulseAll(_syncLock);
                ReleaseWaitersLocked();
            }
        }
    }

    private void FlushLoop()
    {
        var interval = _policy.BatchInterval;
        while (!_stopping)
        {
            Thread.Sleep(interval);
            try { Sync(); }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                lock (_syncLock)
                {
                    _syncFailure = e;
                    Monitor.PulseAll(_syncLock);
                    ReleaseWaitersLocked(new IOException("WAL fsync failed: " + e.Message, e));
                }
            }
        }
    }

    /// <summary>Makes everything written durable and starts a new segment; returns the new segment number.</summary>
    public long Rotate()
    {
        lock (_appendLock)
        lock (_flushLock)
        lock (_syncLock)
        {
            _file.Flush(flushToDisk: true);
            _durable = _written;
            Monitor.PulseAll(_syncLock);
            ReleaseWaitersLocked();
            var next = Segment + 1;
            var f = OpenSegment(next);
            Zstd.SyncDirectory(_dir);
            _file.Dispose();
            _file = f;
            _length = 0;
            Segment = next;
            return next;
        }
    }

    /// <summary>Deletes every segment below <paramref name="segment"/> (folded into snapshots).</summary>
    public void DeleteBefore(long segment)
    {
        foreach (var (n, path) in Segments(_dir))
            if (n < segment) File.Delete(path);
        Zstd.SyncDirectory(_dir);
    }

    /// <summary>Bytes in segments still on disk.</summary>
    public long DiskBytes => DiskBytesIn(_dir);

    /// <summary>Bytes of the segments in <paramref name="dir"/> (0 when there is no such folder).</summary>
    public static long DiskBytesIn(string dir) => Directory.Exists(dir) ? Segments(dir).Sum(s => new FileInfo(s.Path).Length) : 0;

    public void Dispose()
    {
        lock (_appendLock)
        {
            if (_stopping) return;
            _stopping = true;
        }
        _flusher?.Join();
        lock (_flushLock)
        lock (_syncLock)
        {
            try { if (_policy.Mode != FsyncMode.Never) Sync(); } catch (IOException) { }
            _file.Dispose();
            Monitor.PulseAll(_syncLock);
            ReleaseWaitersLocked(new ObjectDisposedException(nameof(WriteAheadLog), "the store was closed before the update became durable"));
        }
    }

    /// <summary>
    /// Reads the intact records of one segment. Stops at the first torn or corrupt record; with
    /// <paramref name="cut"/>, truncates the file there. Returns the records and how many bytes were dropped.
    /// </summary>
    public static (List<WalRecord> Records, long DroppedBytes, string? Reason) ReadSegment(string path, bool cut)
    {
        var records = new List<WalRecord>();
        long good;
        string? reason;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16))
            reason = ReadRecords(f, f.Length, records, out good);
        if (reason == null) return (records, 0, null);
        long dropped = new FileInfo(path).Length - good;
        if (cut)
        {
            using var w = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            w.SetLength(good);
            w.Flush(flushToDisk: true);
        }
        return (records, dropped, $"{reason} at byte {good}");
    }

    /// <summary>
    /// Parses records laid end to end in <paramref name="data"/> (a segment's bytes, a shipped chunk); stops at the
    /// first torn or corrupt one. <paramref name="reason"/> says why it stopped early (null: every byte was a whole
    /// record); <paramref name="consumed"/> is the length of the whole records read.
    /// </summary>
    public static List<WalRecord> ParseRecords(byte[] data, out long consumed, out string? reason)
    {
        var records = new List<WalRecord>();
        using var ms = new MemoryStream(data, writable: false);
        reason = ReadRecords(ms, data.Length, records, out consumed);
        if (reason != null) reason = $"{reason} at byte {consumed}";
        return records;
    }

    /// <inheritdoc cref="ParseRecords(byte[], out long, out string?)"/>
    public static List<WalRecord> ParseRecords(byte[] data, out string? reason) => ParseRecords(data, out _, out reason);

    private static string? ReadRecords(Stream f, long len, List<WalRecord> records, out long good)
    {
        good = 0;
        while (good < len)
        {
            if (ReadRecordBytes(f, len - good, out var reason) is not { } bytes) return reason;
            try { records.Add(WalRecord.DecodeBody(bytes.AsSpan(WalRecord.HeaderBytes))); }
            catch (InvalidDataException e) { return e.Message; }
            good += bytes.Length;
        }
        return null;
    }

    /// <summary>
    /// Reads one whole record at the stream's position, with <paramref name="available"/> bytes left in the stream:
    /// its header and body as written (CRC checked, payload not decoded). Null when it is torn or corrupt, with
    /// <paramref name="reason"/> saying which. Recovery, chunk parsing and the object-store shipper read records so.
    /// </summary>
    public static byte[]? ReadRecordBytes(Stream f, long available, out string? reason)
    {
        reason = null;
        if (available < WalRecord.HeaderBytes) { reason = "torn record header"; return null; }
        var head = new byte[WalRecord.HeaderBytes];
        f.ReadExactly(head);
        uint body = BinaryPrimitives.ReadUInt32LittleEndian(head);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4));
        if (body < 16 || body > WalRecord.MaxBodyBytes) { reason = $"bad record length {body}"; return null; }
        if (available - WalRecord.HeaderBytes < body) { reason = "torn record body"; return null; }
        var bytes = new byte[WalRecord.HeaderBytes + body];
        head.CopyTo(bytes, 0);
        f.ReadExactly(bytes, WalRecord.HeaderBytes, (int)body);
        if (Crc32C.Compute(bytes.AsSpan(WalRecord.HeaderBytes)) != crc) { reason = "CRC mismatch"; return null; }
        return bytes;
    }
}
