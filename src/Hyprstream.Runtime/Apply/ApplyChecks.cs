using Hyprstream.Runtime.Snapshots;
namespace Hyprstream.Runtime.Apply;

/// <summary>Argument checks shared by every backend, so each one refuses bad input with the same message.</summary>
internal static class ApplyChecks
{
    public static SnapshotModule Gemm(AdapterSnapshot s, string module, int xLength, int yLength, int batch, float scale)
    {
        ArgumentNullException.ThrowIfNull(s);
        var m = s[module];
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be positive");
        Finite(scale);
        if (xLength != (long)batch * m.Cols) throw new ArgumentException($"x has {xLength} values, expected {batch}x{m.Cols} for '{module}'");
        if (yLength != (long)batch * m.Rows) throw new ArgumentException($"y has {yLength} values, expected {batch}x{m.Rows} for '{module}'");
        return m;
    }

    public static SnapshotModule[] Mixed(IReadOnlyList<AdapterSnapshot> snapshots, ReadOnlySpan<int> offsets, string module, int xLength, int yLength, float scale)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        if (snapshots.Count == 0) throw new ArgumentException("at least one snapshot is required");
        if (offsets.Length != snapshots.Count + 1) throw new ArgumentException($"segment offsets need {snapshots.Count + 1} entries, got {offsets.Length}");
        Finite(scale);
        var mods = new SnapshotModule[snapshots.Count];
        for (int i = 0; i < mods.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(snapshots[i], $"snapshots[{i}]");
            mods[i] = snapshots[i][module];
            if (mods[i].Rows != mods[0].Rows || mods[i].Cols != mods[0].Cols)
                throw new ArgumentException($"'{module}' is {mods[i].Rows}x{mods[i].Cols} in snapshot {i} but {mods[0].Rows}x{mods[0].Cols} in snapshot 0");
            if (offsets[i] < 0 || offsets[i + 1] < offsets[i]) throw new ArgumentException($"segment offsets must be non-decreasing from 0 (entry {i})");
        }
        if (offsets[0] != 0) throw new ArgumentException("the first segment offset must be 0");
        int batch = offsets[^1];
        if (xLength != (long)batch * mods[0].Cols) throw new ArgumentException($"x has {xLength} values, expected {batch}x{mods[0].Cols}");
        if (yLength != (long)batch * mods[0].Rows) throw new ArgumentException($"y has {yLength} values, expected {batch}x{mods[0].Rows}");
        return mods;
    }

    public static SnapshotModule Scatter(AdapterSnapshot s, string module, int length, float scale)
    {
        ArgumentNullException.ThrowIfNull(s);
        var m = s[module];
        Finite(scale);
        if (length != (long)m.Rows * m.Cols) throw new ArgumentException($"weights have {length} values, expected {m.Rows}x{m.Cols} for '{module}'");
        return m;
    }

    public static SnapshotModule Lookup(AdapterSnapshot s, string module, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, int values)
    {
        ArgumentNullException.ThrowIfNull(s);
        var m = s[module];
        if (rows.Length != cols.Length || rows.Length != values) throw new ArgumentException("rows, cols and values must have the same length");
        for (int i = 0; i < rows.Length; i++)
            if ((uint)rows[i] >= (uint)m.Rows || (uint)cols[i] >= (uint)m.Cols)
                throw new ArgumentOutOfRangeException(nameof(rows), $"({rows[i]}, {cols[i]}) at index {i} is outside '{module}' ({m.Rows}x{m.Cols})");
        return m;
    }

    private static void Finite(float scale)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
    }
}
