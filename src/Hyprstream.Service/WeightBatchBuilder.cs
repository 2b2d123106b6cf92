using Apache.Arrow;
using Hyprstream.Flight.Ipc;
using Hyprstream.Runtime;

namespace Hyprstream.Service;

/// <summary>
/// Fills reusable arrays with up to <see cref="Capacity"/> weights of the row form and exposes them as one Arrow
/// record batch without copying (the module column as indices into the stream's dictionary); the transport copies
/// the arrays to the wire, then the builder is reset for the next batch.
/// </summary>
internal sealed class WeightBatchBuilder(Schema schema, StringArray dictionary, int capacity)
{
    private readonly int[] _rows = new int[capacity];
    private readonly int[] _cols = new int[capacity];
    private readonly float[] _values = new float[capacity];
    private readonly ModuleIndices _modules = new(capacity, dictionary);

    public int Capacity => capacity;
    public int Count { get; private set; }
    public bool Full => Count == capacity;

    /// <summary>Reads the next weights of module number <paramref name="module"/> straight into the batch; returns how many (0: module done).</summary>
    public int Fill(IWeightCursor cursor, int module, float scale)
    {
        int free = capacity - Count;
        var values = _values.AsSpan(Count, free);
        int n = cursor.Read(_rows.AsSpan(Count, free), _cols.AsSpan(Count, free), values);
        if (n == 0) return 0;
        if (scale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(values[..n], scale, values[..n]);
        _modules.Fill(Count, n, module);
        Count += n;
        return n;
    }

    public RecordBatch Build()
    {
        int n = Count;
        var module = _modules.Column(schema.GetFieldByIndex(0).DataType, n);
        return new RecordBatch(schema, [module, Columns.Int32(_rows, n), Columns.Int32(_cols, n), Columns.Float32(_values, n)], n);
    }

    public void Reset() => Count = 0;
}
