using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Peft;

/// <summary>
/// The base model's weights as the PEFT import reads them (<c>--base</c>: one .safetensors or a sharded index): the
/// shape of any module's weight, and its values as float64 (all of them, or some rows), for the deltas that need the
/// base — DoRA, and saved parameters that replace the base's values.
/// </summary>
public sealed class BaseWeights : IDisposable
{
    private readonly SafetensorsModel _model;

    public string Path { get; }

    private BaseWeights(string path, SafetensorsModel model)
    {
        Path = path;
        _model = model;
    }

    public static BaseWeights Open(string path) => new(path, SafetensorsModel.Open(path));

    /// <summary>The tensor a module or parameter name refers to: the name itself, or "&lt;name&gt;.weight".</summary>
    public TensorEntry? Find(string name)
    {
        if (_model.Contains(name)) return _model.Find(name).Entry;
        var weight = PeftKeys.BaseWeight(name);
        return _model.Contains(weight) ? _model.Find(weight).Entry : null;
    }

    /// <summary>The (out, in) of a linear module's 2-D weight; null when the base has no such tensor.</summary>
    public (int Rows, int Cols)? ShapeOf(string module)
    {
        var t = Find(module);
        if (t == null) return null;
        if (t.Shape.Length != 2) throw new InvalidDataException($"base tensor '{t.Name}' has shape {t.ShapeText}; a linear module's weight is 2-D");
        return t.Matrix();
    }

    /// <summary>Rows [first, first + count) of a base tensor seen as <see cref="TensorEntry.FlatMatrix"/>, as float64.</summary>
    public double[] ReadRows(TensorEntry t, int first, int count)
    {
        var (file, entry) = _model.Find(t.Name);
        return ReadRows(file, entry, first, count);
    }

    /// <summary>Rows [first, first + count) of any float tensor of a file (seen as its <see cref="TensorEntry.FlatMatrix"/>), as float64, exactly.</summary>
    public static double[] ReadRows(SafetensorsFile file, TensorEntry entry, int first, int count)
    {
        if (!entry.DType.IsReadableReal()) throw new InvalidDataException($"tensor '{entry.Name}' in '{file.Path}' is {entry.DType}; values are read from F32, F16, BF16 or F64 tensors only");
        var (rows, cols) = entry.FlatMatrix();
        if (first < 0 || count < 0 || first + count > rows) throw new ArgumentOutOfRangeException(nameof(first), $"rows [{first}, {first + count}) of '{entry.Name}' ({rows} rows)");
        int size = entry.DType.Size();
        var bytes = file.Bytes(entry, (long)first * cols * size, checked(count * cols * size));
        var dst = new double[(long)count * cols];
        if (entry.DType == TensorDType.F64)
        {
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(bytes).CopyTo(dst);
            return dst;
        }
        var f = new float[dst.Length];
        FloatBits.Decode(bytes, entry.DType, f);
        for (int i = 0; i < f.Length; i++) dst[i] = f[i];
        return dst;
    }

    public void Dispose() => _model.Dispose();
}
