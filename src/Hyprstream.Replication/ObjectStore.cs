using System.Globalization;
using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Replication;

/// <summary>
/// One prefix of one bucket in an S3-compatible object store, reached with the AWS SDK. Every object written through
/// it carries its CRC32C and length in its metadata (<c>x-amz-meta-hs-crc32c</c>, <c>x-amz-meta-hs-length</c>) and is
/// verified when read back: a flipped bit, a truncated object or an object that some other tool put under the
/// store's prefix is a <see cref="DamagedObjectException"/> naming it, never data. Conditional PUTs
/// (<c>If-None-Match: *</c>, <c>If-Match: ETag</c>) refused by the store are <see cref="ObjectChangedException"/>s.
/// Other failures (the store unreachable, refusing, timing out after the SDK's retries) are <see cref="IOException"/>s
/// that say which object and what the store answered.
/// Keys given to and returned by this class are relative to the prefix.
/// </summary>
public sealed class ObjectStore : IDisposable
{
    private const string CrcKey = "hs-crc32c", LengthKey = "hs-length";
    private readonly IAmazonS3 _s3;
    private readonly bool _ownsClient;

    public S3Uri Root { get; }
    public ObjectStoreSettings Settings { get; }

    public ObjectStore(S3Uri root, ObjectStoreSettings settings)
        : this(root, settings, CreateClient(settings), ownsClient: true) { }

    private ObjectStore(S3Uri root, ObjectStoreSettings settings, IAmazonS3 client, bool ownsClient)
    {
        Root = root;
        Settings = settings;
        _s3 = client;
        _ownsClient = ownsClient;
    }

    /// <summary>The same store and credentials at another address (another bucket or prefix); shares the connection pool.</summary>
    public ObjectStore At(S3Uri root) => new(root, Settings, _s3, ownsClient: false);

    /// <summary>An SDK client for <paramref name="settings"/>: path-style for an explicit endpoint, no SDK-side payload checksums (S3-compatible stores such as Ceph RGW 16 refuse the trailer form; our own CRC32C covers every object).</summary>
    public static IAmazonS3 CreateClient(ObjectStoreSettings settings)
    {
        var config = new AmazonS3Config
        {
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            Timeout = settings.Timeout,
            MaxErrorRetry = settings.MaxRetries,
        };
        if (settings.Endpoint != null)
        {
            config.ServiceURL = settings.Endpoint;
            config.AuthenticationRegion = settings.Region;
            config.ForcePathStyle = settings.ForcePathStyle ?? true;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(settings.Region);
            config.ForcePathStyle = settings.ForcePathStyle ?? false;
        }
        if (settings.AccessKey != null && settings.SecretKey != null)
        {
            AWSCredentials creds = settings.SessionToken != null
                ? new SessionAWSCredentials(settings.AccessKey, settings.SecretKey, settings.SessionToken)
                : new BasicAWSCredentials(settings.AccessKey, settings.SecretKey);
            return new AmazonS3Client(creds, config);
        }
        return new AmazonS3Client(config); // the SDK's default chain (profile, instance role, …)
    }

    private string Full(string key) => Root.Key(key);
    private string Where(string key) => $"s3://{Root.Bucket}/{Full(key)}";

    /// <summary>Creates the bucket unless it exists (owned by these credentials).</summary>
    public async Task EnsureBucketAsync(CancellationToken ct = default)
    {
        try { await _s3.PutBucketAsync(new PutBucketRequest { BucketName = Root.Bucket }, ct).ConfigureAwait(false); }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists" && e.StatusCode == HttpStatusCode.Conflict) { }
        catch (Exception e) when (e is AmazonServiceException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw Fail($"creating bucket s3://{Root.Bucket}", e);
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/> as <paramref name="key"/> with its checksum; returns the new ETag. With
    /// <paramref name="ifNoneMatch"/> the PUT succeeds only if no such object exists; with <paramref name="ifMatch"/>
    /// only if the object's ETag is still that one (else <see cref="ObjectChangedException"/>).
    /// </summary>
    public async Task<string> PutAsync(string key, ReadOnlyMemory<byte> data, string? ifMatch = null, bool ifNoneMatch = false, CancellationToken ct = default)
    {
        var request = new PutObjectRequest
        {
            BucketName = Root.Bucket,
            Key = Full(key),
            InputStream = new MemoryStream(data.ToArray(), writable: false),
            AutoCloseStream = true,
        };
        Stamp(request, Crc32C.Compute(data.Span), data.Length);
        if (ifNoneMatch) request.IfNoneMatch = "*";
        // Ceph RGW 16 compares If-Match with the bare ETag (a quoted one never matches); AWS S3 takes either form.
        if (ifMatch != null) request.IfMatch = ifMatch.Trim('"');
        return await PutCore(request, key, ct).ConfigureAwait(false);
    }

    /// <summary>Uploads the file at <paramref name="path"/> as <paramref name="key"/> (one PUT, up to 5 GiB), with its checksum; returns the ETag.</summary>
    public async Task<string> PutFileAsync(string key, string path, CancellationToken ct = default)
    {
        var (crc, length) = await ChecksumFileAsync(path, ct).ConfigureAwait(false);
        var request = new PutObjectRequest { BucketName = Root.Bucket, Key = Full(key), FilePath = path };
        Stamp(request, crc, length);
        return await PutCore(request, key, ct).ConfigureAwait(false);
    }

    private static void Stamp(PutObjectRequest request, uint crc, long length)
    {
        request.Metadata[CrcKey] = crc.ToString("x8", CultureInfo.InvariantCulture);
        request.Metadata[LengthKey] = length.ToString(CultureInfo.InvariantCulture);
        request.ContentType = "application/octet-stream";
    }

    private async Task<string> PutCore(PutObjectRequest request, string key, CancellationToken ct)
    {
        try
        {
            var r = await _s3.PutObjectAsync(request, ct).ConfigureAwait(false);
            return r.ETag;
        }
        catch (AmazonS3Exception e) when (e.StatusCode is HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)
        {
            throw new ObjectChangedException(key, request.IfNoneMatch != null
                ? $"{Where(key)} already exists (a create-only PUT was refused)"
                : $"{Where(key)} changed since ETag {request.IfMatch} (a conditional PUT was refused)", e);
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"writing {Where(key)}", e); }
    }

    /// <summary>Reads <paramref name="key"/> whole, verifying its checksum (unless <paramref name="verify"/> is false: an object from outside the store); null when there is no such object.</summary>
    public async Task<StoredObject?> GetAsync(string key, bool verify = true, CancellationToken ct = default)
    {
        try
        {
            using var r = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = Root.Bucket, Key = Full(key) }, ct).ConfigureAwait(false);
            var ms = new MemoryStream(r.ContentLength > 0 && r.ContentLength < int.MaxValue ? (int)r.ContentLength : 0);
            await r.ResponseStream.CopyToAsync(ms, ct).ConfigureAwait(false);
            var data = ms.ToArray();
            if (verify) Verify(key, r.Metadata, Crc32C.Compute(data), data.Length);
            return new StoredObject(key, data, r.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return null; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"reading {Where(key)}", e); }
    }

    /// <summary>
    /// Downloads <paramref name="key"/> to <paramref name="path"/> (temp file + fsync + rename: the path holds the
    /// whole verified object or is untouched); false when there is no such object.
    /// </summary>
    public async Task<bool> GetToFileAsync(string key, string path, bool verify = true, CancellationToken ct = default)
    {
        var tmp = path + ".download";
        try
        {
            // An object from outside the store: the SDK checks the object store's own checksum where the object has one.
            var request = new GetObjectRequest { BucketName = Root.Bucket, Key = Full(key), ChecksumMode = verify ? null : ChecksumMode.ENABLED };
            using var r = await _s3.GetObjectAsync(request, ct).ConfigureAwait(false);
            uint crc = 0;
            long length = 0;
            await using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var buffer = new byte[1 << 20];
                int n;
                while ((n = await r.ResponseStream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    crc = Crc32C.Compute(buffer.AsSpan(0, n), crc);
                    length += n;
                    await f.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
                f.Flush(flushToDisk: true);
            }
            if (verify) Verify(key, r.Metadata, crc, length);
            File.Move(tmp, path, overwrite: true);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return false; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"reading {Where(key)}", e); }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }

    /// <summary>The object's size and ETag, or null when it does not exist.</summary>
    public async Task<ObjectEntry?> HeadAsync(string key, CancellationToken ct = default)
    {
        try
        {
            var r = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Root.Bucket, Key = Full(key) }, ct).ConfigureAwait(false);
            return new ObjectEntry(key, r.ContentLength, r.ETag, r.LastModified ?? DateTime.MinValue);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return null; }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"reading {Where(key)}", e); }
    }

    /// <summary>Every object whose relative key starts with <paramref name="prefix"/>, in key order (all pages).</summary>
    public async Task<IReadOnlyList<ObjectEntry>> ListAsync(string prefix, string? startAfter = null, CancellationToken ct = default)
    {
        var all = new List<ObjectEntry>();
        var request = new ListObjectsV2Request { BucketName = Root.Bucket, Prefix = Full(prefix), StartAfter = startAfter == null ? null : Full(startAfter) };
        int cut = Root.Prefix.Length == 0 ? 0 : Root.Prefix.Length + 1;
        try
        {
            while (true)
            {
                var r = await _s3.ListObjectsV2Async(request, ct).ConfigureAwait(false);
                foreach (var o in r.S3Objects ?? [])
                    all.Add(new ObjectEntry(o.Key[cut..], o.Size ?? 0, o.ETag, o.LastModified ?? DateTime.MinValue));
                if (r.IsTruncated != true || string.IsNullOrEmpty(r.NextContinuationToken)) break;
                request.ContinuationToken = r.NextContinuationToken;
            }
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode == "NoSuchBucket")
        {
            throw new IOException($"the bucket s3://{Root.Bucket} does not exist", e);
        }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"listing {Where(prefix)}", e); }
        return all;
    }

    /// <summary>Deletes <paramref name="key"/> (no error when it is already gone).</summary>
    public async Task DeleteAsync(string key, CancellationToken ct = default)
    {
        try { await _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = Root.Bucket, Key = Full(key) }, ct).ConfigureAwait(false); }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { }
        catch (Exception e) when (IsStoreFailure(e, ct)) { throw Fail($"deleting {Where(key)}", e); }
    }

    private void Verify(string key, MetadataCollection metadata, uint crc, long length)
    {
        var want = metadata[CrcKey];
        var wantLength = metadata[LengthKey];
        if (string.IsNullOrEmpty(want) || string.IsNullOrEmpty(wantLength))
            throw new DamagedObjectException(key, $"{Where(key)} carries no hyprstream checksum: it was not written by this store (or its metadata was lost); refusing to use it");
        if (!uint.TryParse(want, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var expected)
            || !long.TryParse(wantLength, NumberStyles.None, CultureInfo.InvariantCulture, out var expectedLength))
            throw new DamagedObjectException(key, $"{Where(key)} has an unreadable checksum ('{want}', length '{wantLength}')");
        if (length != expectedLength)
            throw new DamagedObjectException(key, $"{Where(key)} is damaged: {length} bytes where {expectedLength} were written");
        if (crc != expected)
            throw new DamagedObjectException(key, $"{Where(key)} is damaged: CRC32C {crc:x8} where {expected:x8} was written");
    }

    private static async Task<(uint Crc, long Length)> ChecksumFileAsync(string path, CancellationToken ct)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        uint crc = 0;
        long length = 0;
        int n;
        while ((n = await f.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            crc = Crc32C.Compute(buffer.AsSpan(0, n), crc);
            length += n;
        }
        return (crc, length);
    }

    private static bool IsStoreFailure(Exception e, CancellationToken ct) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException && e is not DamagedObjectException and not ObjectChangedException
        || e is TaskCanceledException or OperationCanceledException && !ct.IsCancellationRequested;

    private IOException Fail(string what, Exception e)
    {
        var detail = e switch
        {
            AmazonS3Exception s3 => $"{(int)s3.StatusCode} {s3.ErrorCode}: {s3.Message}",
            TaskCanceledException or OperationCanceledException => $"no answer within {Settings.Timeout.TotalSeconds:0.#} s",
            _ => e.Message,
        };
        var where = Settings.Endpoint ?? $"AWS S3 ({Settings.Region})";
        return new IOException($"object store {where}: {what} failed: {detail}", e);
    }

    public void Dispose()
    {
        if (_ownsClient) _s3.Dispose();
    }
}
