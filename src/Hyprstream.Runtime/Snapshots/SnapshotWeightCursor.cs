using System.Numerics;

namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// Reads a snapshot module's stored weights in place from its NanoVDB leaves (the active mask says which of a
/// tile's 512 values are stored), in the order of <see cref="ActiveWeightCursor"/>: (row, col) within each 8×64
/// tile, tiles in row-major order. A snapshot is immutable, so no lock is taken; the cursor keeps the snapshot's
/// buffer alive until it is disposed.
/// </summary>
public sealed unsafe class SnapshotWeightCursor : IWeightCursor
{
    private readonly AdapterSnapshot _snapshot;
    private readonly SnapshotModule _module;
    private readonly AdapterSnapshot.BufferLease _use;
    // Pinned: the cursor reads decoded Fp16 values through a pointer, like float32 ones in place.
    private readonly float[] _tile = GC.AllocateArray<float>(TileMapping.TileSize, pinned: true);
    private int _position;      // next slot-ordered leaf
    private int _bit;           // next value offset in that leaf
    private int _decoded = -1;  // the leaf whose values are in _tile (Fp16 snapshots)
    private bool _disposed;

    internal SnapshotWeightCursor(AdapterSnapshot snapshot, SnapshotModule module)
    {
        _snapshot = snapshot;
        _module = module;
        _use = snapshot.Use();
        _position = module.LeafStart;
    }

    public int Read(Span<int> rows, Span<int> cols, Span<float> values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int max = Math.Min(rows.Length, Math.Min(cols.Length, values.Length));
        int n = 0, end = _module.LeafStart + _module.LeafCount;
        while (n < max && _position < end)
        {
            byte* leaf = _snapshot.Leaf(_position);
            ulong* mask = (ulong*)(leaf + 16);
            float* v = _snapshot.FloatValues(_position);
            if (v == null)
            {
                if (_decoded != _position) { _snapshot.ReadLeaf(_position, _tile); _decoded = _position; }
                v = (float*)System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(_tile, 0);
            }
            var (row0, col0) = _snapshot.TileCorner(_module, _position);
            while (n < max && _bit < TileMapping.TileSize)
            {
                ulong word = mask[_bit >> 6] >> (_bit & 63);
                if (word == 0) { _bit = (_bit | 63) + 1; continue; }
                _bit += BitOperations.TrailingZeroCount(word);
                rows[n] = row0 + (_bit >> 6);
                cols[n] = col0 + (_bit & 63);
                values[n] = v[_bit];
                n++;
                _bit++;
            }
            if (_bit >= TileMapping.TileSize) { _position++; _bit = 0; }
        }
        return n;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _use.Dispose();
    }
}
