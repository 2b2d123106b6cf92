namespace Hyprstream.Runtime.Snapshots;

/// <summary>
/// Reads a snapshot module's stored 8×64 tiles, each one leaf's 512 values copied whole (Fp16 decoded), in the
/// order of <see cref="TileCursor"/>. A snapshot is immutable, so no lock is taken; the cursor keeps the snapshot's
/// buffer alive until it is disposed.
/// </summary>
public sealed class SnapshotTileCursor : ITileCursor
{
    private readonly AdapterSnapshot _snapshot;
    private readonly SnapshotModule _module;
    private readonly AdapterSnapshot.BufferLease _use;
    private int _position;
    private bool _disposed;

    internal SnapshotTileCursor(AdapterSnapshot snapshot, SnapshotModule module)
    {
        _snapshot = snapshot;
        _module = module;
        _use = snapshot.Use();
        _position = module.LeafStart;
    }

    public int Read(Span<int> tileRows, Span<int> tileCols, Span<float> values)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        const int T = TileMapping.TileSize;
        int max = Math.Min(tileRows.Length, Math.Min(tileCols.Length, values.Length / T));
        int n = 0, end = _module.LeafStart + _module.LeafCount;
        for (; n < max && _position < end; n++, _position++)
        {
            var (row0, col0) = _snapshot.TileCorner(_module, _position);
            tileRows[n] = row0 / TileMapping.TileRows;
            tileCols[n] = col0 / TileMapping.TileCols;
            _snapshot.ReadLeaf(_position, values.Slice(n * T, T));
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
