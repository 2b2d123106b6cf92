using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>
/// Reads a module's stored weights straight into caller buffers, chunk by chunk, in the order of
/// <see cref="AdapterModule.EnumerateActive"/>: no object per weight, so a server can fill transport buffers directly.
/// </summary>
public sealed unsafe class ActiveWeightCursor : IWeightCursor
{
    private readonly AdapterModule _module;
    private readonly CursorHandle _cursor;

    internal ActiveWeightCursor(AdapterModule module, CursorHandle cursor)
    {
        _module = module;
        _cursor = cursor;
    }

    /// <summary>Fills up to the shortest buffer's length; returns how many were written (0 at the end).</summary>
    public int Read(Span<int> rows, Span<int> cols, Span<float> values)
    {
        int max = Math.Min(rows.Length, Math.Min(cols.Length, values.Length));
        if (max == 0) return 0;
        using var scope = _module.Adapter.ReadScope(_module);
        fixed (int* r = rows) fixed (int* c = cols) fixed (float* v = values)
        {
            Status.Check(Hs.hs_cursor_next(_cursor, r, c, v, max, out var n));
            return (int)n;
        }
    }

    public void Dispose() => _cursor.Dispose();
}
