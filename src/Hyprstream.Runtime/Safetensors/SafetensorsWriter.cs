using System.Text;
using System.Text.Json;

namespace Hyprstream.Runtime.Safetensors;

/// <summary>
/// Writes a .safetensors file tensor by tensor, so a multi-gigabyte model never has to be in memory at once.
/// Declare every tensor first (the header comes first in the file), then write their bytes in the same order.
/// The file is written beside the target and renamed over it on <see cref="Commit"/>: a failure leaves no half file.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    private readonly List<(string Name, TensorDType DType, long[] Shape, long Bytes)> _declared = new();
    private readonly string _path;
    private readonly string _temp;
    private FileStream? _stream;
    private int _next;
    private long _written;
    private bool _committed;

    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public SafetensorsWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(_path)) throw new IOException($"'{path}' is a directory");
        var dir = System.IO.Path.GetDirectoryName(_path)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"directory '{dir}' does not exist");
        _temp = _path + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
    }

    public void Declare(string name, TensorDType dtype, params long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_stream != null) throw new InvalidOperationException("tensors must be declared before the first one is written");
        if (name == "__metadata__" || _declared.Any(d => d.Name == name)) throw new ArgumentException($"tensor name '{name}' is reserved or already declared");
        if (shape.Any(d => d < 0)) throw new ArgumentException($"tensor '{name}' has a negative dimension");
        _declared.Add((name, dtype, shape, shape.Aggregate(1L, (a, b) => a * b) * dtype.Size()));
    }

    /// <summary>Writes the next declared tensor's bytes (may be called several times per tensor, in chunks).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        EnsureHeader();
        while (_next < _declared.Count && _written == _declared[_next].Bytes) { _next++; _written = 0; }
        if (_next >= _declared.Count) throw new InvalidOperationException("more bytes than the declared tensors hold");
        var d = _declared[_next];
        if (_written + bytes.Length > d.Bytes) throw new ArgumentException($"tensor '{d.Name}' is {d.Bytes} bytes; {_written + bytes.Length} were written");
        _stream!.Write(bytes);
        _written += bytes.Length;
    }

    public void WriteFloats(ReadOnlySpan<float> values) => Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
    public void WriteInts(ReadOnlySpan<int> values) => Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
    public void WriteLongs(ReadOnlySpan<long> values) => Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
    public void WriteUInt16(ReadOnlySpan<ushort> values) => Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>float32 values written in <paramref name="dtype"/> (rounded to nearest even for F16/BF16).</summary>
    public void WriteAs(ReadOnlySpan<float> values, TensorDType dtype)
    {
        if (dtype == TensorDType.F32) { WriteFloats(values); return; }
        if (!dtype.IsFloat()) throw new ArgumentException($"cannot write floats as {dtype}");
        var buf = new ushort[Math.Min(values.Length, 1 << 16)];
        for (int i = 0; i < values.Length; i += buf.Length)
        {
            int n = Math.Min(buf.Length, values.Length - i);
            for (int j = 0; j < n; j++) buf[j] = FloatBits.FromFloat(values[i + j], dtype);
            WriteUInt16(buf.AsSpan(0, n));
        }
    }

    private void EnsureHeader()
    {
        if (_stream != null) return;
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (Metadata.Count > 0) header["__metadata__"] = new Dictionary<string, string>(Metadata);
        long offset = 0;
        foreach (var d in _declared)
        {
            header[d.Name] = new { dtype = d.DType.Name(), shape = d.Shape, data_offsets = new[] { offset, offset + d.Bytes } };
            offset += d.Bytes;
        }
        var json = JsonSerializer.Serialize(header);
        int pad = (8 - Encoding.UTF8.GetByteCount(json) % 8) % 8;   // data section starts 8-byte aligned
        var bytes = Encoding.UTF8.GetBytes(json + new string(' ', pad));
        _stream = new FileStream(_temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> len = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)bytes.Length);
        _stream.Write(len);
        _stream.Write(bytes);
    }

    /// <summary>Checks every declared byte was written, fsyncs and renames the file into place.</summary>
    public void Commit()
    {
        EnsureHeader();
        while (_next < _declared.Count && _written == _declared[_next].Bytes) { _next++; _written = 0; }
        if (_next < _declared.Count) throw new InvalidOperationException($"tensor '{_declared[_next].Name}' is incomplete: {_written} of {_declared[_next].Bytes} bytes");
        _stream!.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_temp, _path, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        _stream?.Dispose();
        if (!_committed) try { File.Delete(_temp); } catch (IOException) { }
    }

    /// <summary>Writes whole float32 tensors in one go (tests and small files).</summary>
    public static void WriteAll(string path, IEnumerable<(string Name, long[] Shape, float[] Values)> tensors, TensorDType dtype = TensorDType.F32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        using var w = new SafetensorsWriter(path);
        if (metadata != null) foreach (var (k, v) in metadata) w.Metadata[k] = v;
        foreach (var t in list) w.Declare(t.Name, dtype, t.Shape);
        foreach (var t in list) w.WriteAs(t.Values, dtype);
        w.Commit();
    }
}
