using System.IO.MemoryMappedFiles;
using System.Text.Json;

namespace Hyprstream.Runtime.Safetensors;

/// <summary>
/// A memory-mapped, read-only .safetensors file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw tensor bytes. The header is validated whole when the file is
/// opened (dtype known, sizes consistent, ranges inside the file and not overlapping), so a bad file fails at once
/// with an <see cref="InvalidDataException"/> naming the problem and never maps memory it should not.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>Headers above this are refused (the reference implementation uses the same 100 MB limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, TensorEntry> _byName;
    private bool _disposed;

    public string Path { get; }
    public long FileBytes { get; }
    /// <summary>Offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }
    public IReadOnlyList<TensorEntry> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, long fileBytes, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr,
        long dataOffset, List<TensorEntry> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        FileBytes = fileBytes;
        _map = map;
        _view = view;
        _base = basePtr;
        DataOffset = dataOffset;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new IOException($"'{path}' is a directory, not a .safetensors file");
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: '{path}'", path);
        long size = new FileInfo(path).Length;
        if (size < 8) throw new InvalidDataException($"'{path}' is truncated: {size} bytes, shorter than the 8-byte header length");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            acquired = true;
            p += view.PointerOffset;
            long headerLen = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));
            if (headerLen > MaxHeaderBytes || headerLen < 0)
                throw new InvalidDataException($"'{path}': header length {(ulong)headerLen} is over the {MaxHeaderBytes:N0}-byte limit (not a safetensors file?)");
            if (8 + headerLen > size)
                throw new InvalidDataException($"'{path}' is truncated: the header says it is {headerLen:N0} bytes but the file has {size - 8:N0} after the length");
            var (tensors, metadata) = ParseHeader(path, new ReadOnlySpan<byte>(p + 8, (int)headerLen), size - 8 - headerLen);
            return new SafetensorsFile(path, size, map, view, p, 8 + headerLen, tensors, metadata);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static (List<TensorEntry>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> json, long dataBytes)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.ToArray()); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}': the header is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': the header is not a JSON object");
            var tensors = new List<TensorEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': __metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"'{path}': __metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseTensor(path, prop));
            }
            // Ranges must lie inside the data section and must not overlap.
            foreach (var t in tensors)
                if (t.End > dataBytes)
                    throw new InvalidDataException($"'{path}': tensor '{t.Name}' ends at byte {t.End:N0} of the data section, past its end ({dataBytes:N0} bytes; truncated file?)");
            var sorted = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Begin < sorted[i - 1].End)
                    throw new InvalidDataException($"'{path}': tensors '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}) and '{sorted[i].Name}' [{sorted[i].Begin}, {sorted[i].End}) overlap");
            return (tensors, metadata);
        }
    }

    private static TensorEntry ParseTensor(string path, JsonProperty prop)
    {
        string where = $"'{path}': tensor '{prop.Name}'";
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where} is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{where} has no dtype");
        var dtype = TensorDTypes.Parse(dt.GetString()!) ??
                    throw new InvalidDataException($"{where} has dtype '{dt.GetString()}', whose size is unknown here (known: {TensorDTypes.Known})");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{where} has no shape");
        var shape = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0) throw new InvalidDataException($"{where} has a bad dimension '{d}' in its shape");
            shape.Add(n);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{where} has no data_offsets [begin, end]");
        long begin = 0, end = 0;
        var o = off.EnumerateArray().ToArray();
        if (o[0].ValueKind != JsonValueKind.Number || !o[0].TryGetInt64(out begin) || o[1].ValueKind != JsonValueKind.Number || !o[1].TryGetInt64(out end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{where} has invalid data_offsets {off}");
        long elements = 1;
        try { foreach (var n in shape) elements = checked(elements * n); }
        catch (OverflowException) { throw new InvalidDataException($"{where}: shape [{string.Join(", ", shape)}] overflows"); }
        if (elements > long.MaxValue / dtype.Size() || end - begin != elements * dtype.Size())
            throw new InvalidDataException($"{where}: shape [{string.Join(", ", shape)}] of {dtype} needs {elements * dtype.Size():N0} bytes but data_offsets give {end - begin:N0}");
        return new TensorEntry(prop.Name, dtype, shape.ToArray(), begin, end);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public TensorEntry this[string name] => _byName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"'{Path}' has no tensor named '{name}'");

    public bool TryGet(string name, out TensorEntry entry) => _byName.TryGetValue(name, out entry!);

    /// <summary>The tensor's raw bytes, straight from the mapping (no copy).</summary>
    public ReadOnlySpan<byte> Bytes(TensorEntry t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (t.ByteLength > int.MaxValue) throw new NotSupportedException($"tensor '{t.Name}' is {t.ByteLength:N0} bytes; spans stop at 2 GiB");
        return new ReadOnlySpan<byte>(_base + DataOffset + t.Begin, (int)t.ByteLength);
    }

    /// <summary>Part of a tensor's raw bytes: [offset, offset + length) within it (for copying tensors over 2 GiB in chunks).</summary>
    public ReadOnlySpan<byte> Bytes(TensorEntry t, long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length < 0 || offset + length > t.ByteLength) throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside tensor '{t.Name}' ({t.ByteLength} bytes)");
        return new ReadOnlySpan<byte>(_base + DataOffset + t.Begin + offset, length);
    }

    /// <summary>A float tensor (F32, F16, BF16; F64 rounded) decoded to float32.</summary>
    public float[] ReadFloats(TensorEntry t)
    {
        CheckReal(t);
        var dst = new float[t.ElementCount];
        if (t.DType == TensorDType.F64)
        {
            var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Bytes(t));
            for (int i = 0; i < d.Length; i++) dst[i] = (float)d[i];
        }
        else FloatBits.Decode(Bytes(t), t.DType, dst);
        return dst;
    }

    public float[] ReadFloats(string name) => ReadFloats(this[name]);

    /// <summary>A float tensor (F32, F16, BF16, F64) as float64, exactly (every one of those values is a double).</summary>
    public double[] ReadDoubles(TensorEntry t)
    {
        CheckReal(t);
        var dst = new double[t.ElementCount];
        if (t.DType == TensorDType.F64)
        {
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Bytes(t)).CopyTo(dst);
            return dst;
        }
        var f = new float[t.ElementCount];
        FloatBits.Decode(Bytes(t), t.DType, f);
        for (int i = 0; i < f.Length; i++) dst[i] = f[i];
        return dst;
    }

    private void CheckReal(TensorEntry t)
    {
        if (!t.DType.IsReadableReal())
            throw new InvalidDataException($"tensor '{t.Name}' in '{Path}' is {t.DType}; values are read from F32, F16, BF16 or F64 tensors only");
    }

    /// <summary>An integer tensor as int64 (I32, I64; F32 holding whole numbers, as PEFT writes SHiRA indices on Windows).</summary>
    public long[] ReadIntegers(TensorEntry t)
    {
        var b = Bytes(t);
        var dst = new long[t.ElementCount];
        switch (t.DType)
        {
            case TensorDType.I64: System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(b).CopyTo(dst); break;
            case TensorDType.I32:
                var i32 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(b);
                for (int i = 0; i < i32.Length; i++) dst[i] = i32[i];
                break;
            case TensorDType.F32:
                var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b);
                for (int i = 0; i < f.Length; i++)
                {
                    if (f[i] != MathF.Floor(f[i]) || !float.IsFinite(f[i])) throw new InvalidDataException($"tensor '{t.Name}' in '{Path}' holds {f[i]} where an index is expected");
                    dst[i] = (long)f[i];
                }
                break;
            default: throw new InvalidDataException($"tensor '{t.Name}' in '{Path}' is {t.DType}; expected integer indices");
        }
        return dst;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
