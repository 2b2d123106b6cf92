using System.Runtime.InteropServices;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Switching;

/// <summary>A dense rows × cols weight matrix in memory, kept in its file dtype (F32, F16 or BF16) as raw bytes.</summary>
public sealed class DenseTensor
{
    public string Name { get; }
    public TensorDType DType { get; }
    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Little-endian element bytes, row-major.</summary>
    public byte[] Data { get; }

    public DenseTensor(string name, TensorDType dtype, int rows, int cols, byte[]? data = null)
    {
        if (!dtype.IsFloat()) throw new ArgumentException($"tensor '{name}' is {dtype}; base weights must be F32, F16 or BF16");
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"tensor '{name}' has shape {rows}x{cols}");
        long bytes = (long)rows * cols * dtype.Size();
        if (bytes > Array.MaxLength) throw new ArgumentException($"tensor '{name}' ({rows}x{cols} {dtype}) is too large for one buffer");
        if (data != null && data.Length != bytes) throw new ArgumentException($"tensor '{name}': {data.Length} bytes given, {bytes} expected");
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
        Data = data ?? new byte[bytes];
    }

    public long Elements => (long)Rows * Cols;

    public float Get(int row, int col)
    {
        long i = (long)row * Cols + col;
        return DType == TensorDType.F32
            ? MemoryMarshal.Cast<byte, float>(Data)[(int)i]
            : FloatBits.ToFloat(MemoryMarshal.Cast<byte, ushort>(Data)[(int)i], DType);
    }

    /// <summary>Reads a float tensor from a safetensors file (the bytes are copied out of the mapping).</summary>
    public static DenseTensor Read(SafetensorsFile file, TensorEntry entry)
    {
        var (rows, cols) = entry.FlatMatrix();
        return new DenseTensor(entry.Name, entry.DType, rows, cols, file.Bytes(entry).ToArray());
    }
}
