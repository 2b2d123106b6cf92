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
}
