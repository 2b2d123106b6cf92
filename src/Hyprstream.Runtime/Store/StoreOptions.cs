namespace Hyprstream.Runtime.Store;

public sealed record StoreOptions
{
    public FsyncPolicy Fsync { get; init; } = FsyncPolicy.Default;
    public CacheBudgets Budgets { get; init; } = CacheBudgets.Default;
    /// <summary>A reader's hit in L2/L3 moves the adapter to L1 on this many hits in a row.</summary>
    public int PromoteAfter { get; init; } = 2;
    /// <summary>The background checkpointer folds the WAL once it holds this many bytes (0: never in the background).</summary>
    public long CheckpointWalBytes { get; init; } = 64L << 20;
    /// <summary>
    /// A checkpoint rewrites every changed adapter whole, so the background checkpointer also waits until the WAL holds
    /// this many times the bytes those adapters occupy: rewriting costs at most 1/ratio of a byte per byte logged,
    /// however large the adapters being written are (0: <see cref="CheckpointWalBytes"/> alone decides).
    /// </summary>
    public double CheckpointWalRatio { get; init; } = 2.0;
    /// <summary>The WAL is folded at this size whatever <see cref="CheckpointWalRatio"/> says: it bounds recovery's replay.</summary>
    public long CheckpointWalMaxBytes { get; init; } = 1L << 30;
    /// <summary>After this many failed checkpoints in a row, creating and changing adapters is refused (with the reason) until one succeeds; 0: never.</summary>
    public int CheckpointFailuresBeforeRefusing { get; init; } = 3;
    /// <summary>
    /// Every checkpoint (background, write-back, a rebuilt file) also writes the adapter's NanoVDB Fp16 snapshot file
    /// beside its `.vdb` and float32 snapshot (`STEM.SEQ.fp16.nvdb`, about 3.8 B/weight against 5.8): a
    /// <see cref="SnapshotTier"/> of Fp16 precision then maps it for an adapter unchanged since its checkpoint instead
    /// of converting. Off: no Fp16 file is written, and those left by an earlier run are removed at open.
    /// </summary>
    public bool SnapshotFp16 { get; init; }
    /// <summary>Where the store reports what an operator must see (failed checkpoints, rebuilt snapshot files); null: nowhere.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Publish the store's instruments (<see cref="StoreMetrics"/>, meter Hyprstream.Store); off by default.</summary>
    public bool Metrics { get; init; }
    /// <summary>
    /// Told of every checkpoint as it ends, failed ones too (what the service logs). Runs on the checkpointing thread:
    /// it must return quickly and not throw.
    /// </summary>
    public Action<CheckpointReport>? Checkpointed { get; init; }
}
