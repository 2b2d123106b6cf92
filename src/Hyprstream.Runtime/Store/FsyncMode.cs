namespace Hyprstream.Runtime.Store;

/// <summary>When an appended WAL record reaches the disk before the writer is acknowledged.</summary>
public enum FsyncMode
{
    /// <summary>Every acknowledgement waits for an fsync; concurrent writers share one (group commit).</summary>
    Always,
    /// <summary>A flusher fsyncs every <see cref="FsyncPolicy.BatchInterval"/>; acknowledgements wait for it.</summary>
    Batch,
    /// <summary>Acknowledged once written to the OS: survives a process crash, not a power loss.</summary>
    Never,
}
