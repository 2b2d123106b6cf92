namespace Hyprstream.Runtime.Switching;

/// <summary>
/// A module's effective ΔW as runs of consecutive columns: run i covers elements [Start[i], Start[i] + Length[i]) of the
/// row-major matrix, with deltas Values[Offset[i] …]. A tile-structured adapter becomes runs of 64, so switching it
/// moves whole cache lines; an unstructured one becomes runs of 1. Only stored weights appear.
/// </summary>
public sealed class DeltaRuns
{
    public required string Module { get; init; }
    public required int Rows { get; init; }
    public required int Cols { get; init; }
    public required int[] Start { get; init; }
    public required int[] Length { get; init; }
    public required int[] Offset { get; init; }
    /// <summary>scale × module scale × stored value, in run order.</summary>
    public required float[] Values { get; init; }
    public int Count => Values.Length;

    public static DeltaRuns From(AdapterModule module, float scale)
    {
        // Run starts are int positions in the dense base tensor: refused (with the size) when it cannot be one array.
        TileMapping.DenseLength(module.Rows, module.Cols, $"module '{module.Name}'");
        var (rows, cols, values) = module.ReadActive();
        float s = scale * module.Scale;
        var start = new List<int>();
        var length = new List<int>();
        var offset = new List<int>();
        int n = values.Length;
        var scaled = new float[n];
        for (int i = 0; i < n; i++)
        {
            scaled[i] = values[i] * s;
            int pos = rows[i] * module.Cols + cols[i];
            if (i > 0 && rows[i] == rows[i - 1] && cols[i] == cols[i - 1] + 1) length[^1]++;
            else { start.Add(pos); length.Add(1); offset.Add(i); }
        }
        return new DeltaRuns
        {
            Module = module.Name, Rows = module.Rows, Cols = module.Cols,
            Start = start.ToArray(), Length = length.ToArray(), Offset = offset.ToArray(), Values = scaled,
        };
    }
}
