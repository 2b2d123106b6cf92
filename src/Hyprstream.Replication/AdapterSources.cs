namespace Hyprstream.Replication;

/// <summary>
/// Adapters read from an object store by address, as LoRAX and vLLM users keep them: a `.vdb` file
/// (<c>s3://bucket/adapters/x.vdb</c>) or a PEFT adapter folder (<c>s3://bucket/peft/my-lora</c>, holding
/// adapter_config.json and adapter_model.safetensors). Objects are streamed to a private temp folder that the caller
/// deletes (<see cref="Download"/> is disposable); the formats' own readers then check what they read. These objects
/// come from outside the store, so they carry no hyprstream checksum; the SDK checks the object store's own checksum
/// where the object has one.
/// </summary>
public static class AdapterSources
{
    /// <summary>A PEFT folder larger than this is refused (a wrong prefix pointing at a whole model repository).</summary>
    public const long MaxFolderBytes = 64L << 30;

    /// <summary>Downloaded files in a private temp folder, deleted on dispose.</summary>
    public sealed class Download(string root, string path) : IDisposable
    {
        /// <summary>The downloaded file, or the folder that holds the downloaded folder's files.</summary>
        public string Path { get; } = path;
        public void Dispose()
        {
            try { Directory.Delete(root, recursive: true); } catch (DirectoryNotFoundException) { }
        }
    }

    /// <summary>Downloads the object at <paramref name="uri"/> (a file such as x.vdb) into a temp file named like it.</summary>
    public static async Task<Download> FileAsync(S3Uri uri, ObjectStoreSettings settings, CancellationToken ct = default)
    {
        if (uri.Prefix.Length == 0) throw new FormatException($"{uri} names a bucket, not an object");
        var root = NewTemp();
        var name = uri.Prefix[(uri.Prefix.LastIndexOf('/') + 1)..];
        var path = System.IO.Path.Combine(root, name);
        try
        {
            using var store = new ObjectStore(new S3Uri(uri.Bucket, ""), settings);
            if (!await store.GetToFileAsync(uri.Prefix, path, verify: false, ct).ConfigureAwait(false))
                throw new FileNotFoundException($"{uri} does not exist");
            return new Download(root, path);
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Downloads the objects directly under <paramref name="uri"/>/ (a PEFT adapter folder) into a temp folder named
    /// like the prefix's last part (so an import names the adapter after it). Objects in sub-folders are not taken.
    /// </summary>
    public static async Task<Download> FolderAsync(S3Uri uri, ObjectStoreSettings settings, Action<string>? progress = null, CancellationToken ct = default)
    {
        if (uri.Prefix.Length == 0) throw new FormatException($"{uri} names a bucket; give the folder that holds the adapter (s3://bucket/path/adapter)");
        using var store = new ObjectStore(uri, settings);
        var objects = (await store.ListAsync("", ct: ct).ConfigureAwait(false))
            .Where(o => o.Key.Length > 0 && !o.Key.Contains('/')).ToList();
        if (objects.Count == 0)
            throw new FileNotFoundException($"no objects under {uri}/ (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)");
        long total = objects.Sum(o => o.Size);
        if (total > MaxFolderBytes)
            throw new InvalidDataException($"{uri}/ holds {total:N0} bytes in {objects.Count} objects, more than an adapter folder may ({MaxFolderBytes:N0}); is the prefix right?");
        var root = NewTemp();
        var folder = System.IO.Path.Combine(root, uri.Prefix[(uri.Prefix.LastIndexOf('/') + 1)..]);
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var o in objects)
            {
                if (o.Key is "." or ".." || o.Key.Contains('\\') || o.Key.Any(char.IsControl))
                    throw new InvalidDataException($"{uri}/{o.Key}: not a usable file name");
                progress?.Invoke($"{uri}/{o.Key} ({o.Size:N0} bytes)");
                if (!await store.GetToFileAsync(o.Key, System.IO.Path.Combine(folder, o.Key), verify: false, ct).ConfigureAwait(false))
                    throw new FileNotFoundException($"{uri}/{o.Key} disappeared while it was being read");
            }
            return new Download(root, folder);
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    private static string NewTemp()
    {
        var root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hyprstream-s3-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        return root;
    }
}
