using System.Text.Json;

namespace Hyprstream.Replication;

/// <summary>
/// leader.json in the local store directory: which bucket prefix this directory leads, under which lease (id, epoch).
/// A leader that restarts on a non-empty directory continues the bucket only when the bucket's last leader was this
/// directory; otherwise another node wrote since and the local state is behind (or diverged): refused.
/// </summary>
public sealed record LeaderMarker(string Root, string Id, long Epoch)
{
    public const string FileName = "leader.json";

    public static LeaderMarker? Read(string storeDir)
    {
        var path = Path.Combine(storeDir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<LeaderMarker>(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is damaged ({e.Message}); move the data directory away to restore it from the bucket", e); }
    }

    public void Write(string storeDir)
    {
        Directory.CreateDirectory(storeDir);
        var path = Path.Combine(storeDir, FileName);
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            f.Write(JsonSerializer.SerializeToUtf8Bytes(this));
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }
}
