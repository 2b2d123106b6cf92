using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Runtime.Export;

/// <summary>
/// An adapter's effective ΔW (module scale applied) as a safetensors file, for tools that know nothing of VDB:
/// COO — <c>&lt;module&gt;.indices</c> int32 [n, 2] (row, col) and <c>&lt;module&gt;.values</c> F32 [n], row-major order —
/// or dense — <c>&lt;module&gt;.weight</c> F32 [rows, cols]. The header metadata names the adapter and the format.
/// </summary>
public static class DeltaExport
{
    public static long Write(SparseAdapter adapter, string path, bool dense, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (dense) // refused before any file is started: a dense tensor must fit one array
            foreach (var m in adapter.Modules) TileMapping.DenseLength(m.Rows, m.Cols, $"module '{m.Name}'");
        using var w = new SafetensorsWriter(path);
        w.Metadata["format"] = dense ? "hyprstream-dense-delta" : "hyprstream-coo-delta";
        w.Metadata["adapter"] = adapter.Name;
        if (adapter.BaseModel != null) w.Metadata["base_model"] = adapter.BaseModel;
        var modules = adapter.Modules.ToList();
        var counts = modules.Select(m => m.ActiveCount).ToList();
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            if (dense) w.Declare(m.Name + ".weight", TensorDType.F32, m.Rows, m.Cols);
            else
            {
                w.Declare(m.Name + ".indices", TensorDType.I32, counts[i], 2);
                w.Declare(m.Name + ".values", TensorDType.F32, counts[i]);
            }
        }
        long bytes = 0;
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            if (dense)
            {
                var d = m.ToDense(applyScale: true);
                w.WriteFloats(d);
                bytes += d.Length * 4L;
            }
            else
            {
                var (rows, cols, values) = m.ReadActive();
                if (rows.Length != counts[i]) throw new InvalidOperationException($"module '{m.Name}' changed while it was exported");
                var order = Enumerable.Range(0, rows.Length).ToArray();
                Array.Sort(order, (a, b) => rows[a] != rows[b] ? rows[a].CompareTo(rows[b]) : cols[a].CompareTo(cols[b]));
                var idx = new int[2L * rows.Length];
                var vals = new float[rows.Length];
                for (int j = 0; j < order.Length; j++)
                {
                    idx[2 * j] = rows[order[j]];
                    idx[2 * j + 1] = cols[order[j]];
                    vals[j] = values[order[j]] * m.Scale;
                }
                w.WriteInts(idx);
                w.WriteFloats(vals);
                bytes += idx.Length * 4L + vals.Length * 4L;
            }
            progress?.Invoke(i + 1, modules.Count);
        }
        w.Commit();
        return bytes;
    }
}
