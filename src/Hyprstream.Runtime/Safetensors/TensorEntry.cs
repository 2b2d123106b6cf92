namespace Hyprstream.Runtime.Safetensors;

/// <summary>One tensor of a safetensors header: byte range [Begin, End) relative to the data section.</summary>
public sealed record TensorEntry(string Name, TensorDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Rows × cols of a 2-D tensor; throws naming the tensor otherwise.</summary>
    public (int Rows, int Cols) Matrix()
    {
        if (Shape.Length != 2) throw new InvalidDataException($"tensor '{Name}' has shape {ShapeText}; expected a matrix");
        if (Shape[0] > int.MaxValue || Shape[1] > int.MaxValue) throw new InvalidDataException($"tensor '{Name}' is too large ({ShapeText})");
        return ((int)Shape[0], (int)Shape[1]);
    }

    /// <summary>
    /// The tensor as the matrix an adapter module addresses: (product of the leading dimensions) × (last dimension),
    /// row-major as stored. A matrix is itself, a bias [n] is 1 × n, a stack of experts [E, d1, d2] is (E·d1) × d2.
    /// </summary>
    public (int Rows, int Cols) FlatMatrix()
    {
        if (Shape.Length == 0) throw new InvalidDataException($"tensor '{Name}' is a scalar; expected a vector or a matrix");
        long rows = 1;
        foreach (var d in Shape[..^1]) rows *= d;
        long cols = Shape[^1];
        if (rows > int.MaxValue || cols > int.MaxValue) throw new InvalidDataException($"tensor '{Name}' is too large ({ShapeText})");
        return ((int)rows, (int)cols);
    }
}
