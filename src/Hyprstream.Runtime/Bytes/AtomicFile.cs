namespace Hyprstream.Runtime.Bytes;

/// <summary>Whole-file replacement that a crash cannot tear: a reader finds the old file or the new one.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to path.tmp, fsyncs it, renames it over <paramref name="path"/>, fsyncs the folder.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
        Zstd.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }
}
