using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Hyprstream.Runtime.Snapshots;

namespace Hyprstream.Runtime.Apply;

/// <summary>
/// The CPU backend: reads the snapshot's NanoVDB buffer in place (leaf = dense 8×64 tile, row-major), threads over tile
/// rows (so no two threads write the same output row) and uses Vector256 / TensorPrimitives inside a tile.
/// Small calls run on the calling thread: below ~256 K multiply-adds, fanning out costs more than it saves.
/// </summary>
public sealed unsafe class CpuApplier : IAdapterApplier
{
    private const long ParallelThreshold = 1 << 18;

    public ApplyBackend Kind => ApplyBackend.Cpu;
    public string Device => $"CPU ({Environment.ProcessorCount} threads, {(Vector256.IsHardwareAccelerated ? "AVX2" : "scalar")})";

    public void Gemm(AdapterSnapshot snapshot, string module, ReadOnlySpan<float> x, Span<float> y, int batch, float scale = 1f)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Gemm, "cpu");
        var m = ApplyChecks.Gemm(snapshot, module, x.Length, y.Length, batch, scale);
        using var use = snapshot.Use();
        fixed (float* px = x)
        fixed (float* py = y)
            GemmSegments([snapshot], [m], [0, batch], px, py, scale);
    }

    public void GemmMixed(IReadOnlyList<AdapterSnapshot> snapshots, ReadOnlySpan<int> segmentOffsets, string module,
                          ReadOnlySpan<float> x, Span<float> y, float scale = 1f)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Gemm, "cpu");
        var mods = ApplyChecks.Mixed(snapshots, segmentOffsets, module, x.Length, y.Length, scale);
        var leases = new AdapterSnapshot.BufferLease[snapshots.Count];
        int taken = 0;
        try
        {
            for (; taken < leases.Length; taken++) leases[taken] = snapshots[taken].Use();
            fixed (float* px = x)
            fixed (float* py = y)
                GemmSegments(snapshots, mods, segmentOffsets.ToArray(), px, py, scale);
        }
        finally
        {
            for (int i = 0; i < taken; i++) leases[i].Dispose();
        }
    }

    // Work items are (segment, tile-row run): leaves of one module are slot-ordered, i.e. tile-row-major, so a run of
    // equal tile rows is contiguous and owns output rows row0..row0+7 of its segment alone.
    private static void GemmSegments(IReadOnlyList<AdapterSnapshot> snaps, SnapshotModule[] mods, int[] offsets, float* x, float* y, float scale)
    {
        long work = 0;
        int items = 0;
        for (int s = 0; s < mods.Length; s++)
        {
            work += (long)mods[s].LeafCount * TileMapping.TileSize * (offsets[s + 1] - offsets[s]);
            items += mods[s].RunCount;
        }
        if (work < ParallelThreshold || items < 2)
        {
            for (int s = 0; s < mods.Length; s++)
                if (offsets[s + 1] > offsets[s])
                    GemmRun(snaps[s], mods[s], mods[s].LeafStart, mods[s].LeafStart + mods[s].LeafCount, x + (long)offsets[s] * mods[s].Cols,
                            y + (long)offsets[s] * mods[s].Rows, offsets[s + 1] - offsets[s], scale * mods[s].Scale);
            return;
        }
        var list = new (int Seg, int Start, int End)[items];
        int k = 0;
        for (int s = 0; s < mods.Length; s++)
        {
            var runs = snaps[s].Runs(mods[s]);
            for (int r = 0; r + 1 < runs.Length; r++) list[k++] = (s, runs[r], runs[r + 1]);
        }
        nint xp = (nint)x, yp = (nint)y;
        Parallel.For(0, items, i =>
        {
            var (s, start, end) = list[i];
            if (offsets[s + 1] == offsets[s]) return;
            GemmRun(snaps[s], mods[s], start, end, (float*)xp + (long)offsets[s] * mods[s].Cols, (float*)yp + (long)offsets[s] * mods[s].Rows,
                    offsets[s + 1] - offsets[s], scale * mods[s].Scale);
        });
    }

    private static void GemmRun(AdapterSnapshot snap, SnapshotModule m, int start, int end, float* x, float* y, int batch, float scale)
    {
        float* decoded = stackalloc float[TileMapping.TileSize];
        for (int i = start; i < end; i++)
        {
            var (row0, col0) = snap.TileCorner(m, i);
            float* w = snap.FloatValues(i);
            if (w == null) { snap.ReadLeaf(i, new Span<float>(decoded, TileMapping.TileSize)); w = decoded; }
            int nr = Math.Min(8, m.Rows - row0), nc = Math.Min(64, m.Cols - col0);
            for (int b = 0; b < batch; b++)
            {
                float* xb = x + (long)b * m.Cols + col0;
                float* yb = y + (long)b * m.Rows + row0;
                if (nc == 64 && Vector256.IsHardwareAccelerated) FullTileRows(xb, w, yb, nr, scale);
                else
                    for (int r = 0; r < nr; r++)
                        yb[r] += scale * TensorPrimitives.Dot(new ReadOnlySpan<float>(xb, nc), new ReadOnlySpan<float>(w + r * 64, nc));
            }
        }
    }

    // One token against a full-width tile: the 64 inputs stay in eight registers while the eight rows stream past.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FullTileRows(float* xb, float* w, float* yb, int nr, float scale)
    {
        var x0 = Vector256.Load(xb); var x1 = Vector256.Load(xb + 8); var x2 = Vector256.Load(xb + 16); var x3 = Vector256.Load(xb + 24);
        var x4 = Vector256.Load(xb + 32); var x5 = Vector256.Load(xb + 40); var x6 = Vector256.Load(xb + 48); var x7 = Vector256.Load(xb + 56);
        for (int r = 0; r < nr; r++)
        {
            float* wr = w + r * 64;
            var a = x0 * Vector256.Load(wr);
            var c = x1 * Vector256.Load(wr + 8);
            a = Vector256.FusedMultiplyAdd(x2, Vector256.Load(wr + 16), a);
            c = Vector256.FusedMultiplyAdd(x3, Vector256.Load(wr + 24), c);
            a = Vector256.FusedMultiplyAdd(x4, Vector256.Load(wr + 32), a);
            c = Vector256.FusedMultiplyAdd(x5, Vector256.Load(wr + 40), c);
            a = Vector256.FusedMultiplyAdd(x6, Vector256.Load(wr + 48), a);
            c = Vector256.FusedMultiplyAdd(x7, Vector256.Load(wr + 56), c);
            yb[r] += scale * Vector256.Sum(a + c);
        }
    }

    public void Scatter(AdapterSnapshot snapshot, string module, Span<float> weights, float scale = 1f)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Scatter, "cpu");
        var m = ApplyChecks.Scatter(snapshot, module, weights.Length, scale);
        using var use = snapshot.Use();
        fixed (float* pw = weights)
        {
            nint wp = (nint)pw;
            ForEachTile(snapshot, m, (w, row0, col0, nr, nc) =>
            {
                float s = scale * m.Scale;
                for (int r = 0; r < nr; r++)
                {
                    var dst = new Span<float>((float*)wp + (long)(row0 + r) * m.Cols + col0, nc);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(w + r * 64, nc), s, dst, dst);
                }
            });
        }
    }

    public void Scatter(AdapterSnapshot snapshot, string module, Span<Half> weights, float scale = 1f)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Scatter, "cpu");
        var m = ApplyChecks.Scatter(snapshot, module, weights.Length, scale);
        using var use = snapshot.Use();
        fixed (Half* pw = weights)
        {
            nint wp = (nint)pw;
            ForEachTile(snapshot, m, (w, row0, col0, nr, nc) =>
            {
                float s = scale * m.Scale;
                Span<float> tmp = stackalloc float[64];
                for (int r = 0; r < nr; r++)
                {
                    var dst = new Span<Half>((Half*)wp + (long)(row0 + r) * m.Cols + col0, nc);
                    var t = tmp[..nc];
                    TensorPrimitives.ConvertToSingle(dst, t);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(w + r * 64, nc), s, t, t);
                    TensorPrimitives.ConvertToHalf(t, dst);
                }
            });
        }
    }

    public void ScatterBf16(AdapterSnapshot snapshot, string module, Span<ushort> weights, float scale = 1f)
    {
        using var timed = ApplyMetrics.Time(ApplyMetrics.Scatter, "cpu");
        var m = ApplyChecks.Scatter(snapshot, module, weights.Length, scale);
        using var use = snapshot.Use();
        fixed (ushort* pw = weights)
        {
            nint wp = (nint)pw;
            ForEachTile(snapshot, m, (w, row0, col0, nr, nc) =>
            {
                float s = scale * m.Scale;
                for (int r = 0; r < nr; r++)
                {
                    Bf16.AddScaled(w + r * 64, s, (ushort*)wp + (long)(row0 + r) * m.Cols + col0, nc);
                }
            });
        }
    }

    private delegate void TileAction(float* values, int row0, int col0, int nr, int nc);

    // Tiles are disjoint blocks of the output, so any split over tiles is race-free.
    private static void ForEachTile(AdapterSnapshot snap, SnapshotModule m, TileAction action)
    {
        void One(int i)
        {
            float* w = snap.FloatValues(i);
            float* decoded = stackalloc float[TileMapping.TileSize];
            if (w == null) { snap.ReadLeaf(i, new Span<float>(decoded, TileMapping.TileSize)); w = decoded; }
            var (row0, col0) = snap.TileCorner(m, i);
            action(w, row0, col0, Math.Min(8, m.Rows - row0), Math.Min(64, m.Cols - col0));
        }
        int start = m.LeafStart, count = m.LeafCount;
        if ((long)count * TileMapping.TileSize < ParallelThreshold) for (int i = 0; i < count; i++) One(start + i);
        else Parallel.For(start, start + count, One);
    }

    public void Lookup(AdapterSnapshot snapshot, string module, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols, Span<float> values)
    {
        var m = ApplyChecks.Lookup(snapshot, module, rows, cols, values.Length);
        using var use = snapshot.Use();
        var info = snapshot.Info;
        for (int i = 0; i < rows.Length; i++)
        {
            int pos = snapshot.FindTile(m, rows[i], cols[i]);
            if (pos < 0) { values[i] = 0f; continue; }
            int n = ((rows[i] & 7) << 6) | (cols[i] & 63);
            byte* leaf = snapshot.Leaf(pos);
            values[i] = info.ValueType == 0
                ? ((float*)(leaf + info.ValueOffset))[n]
                : ((ushort*)(leaf + info.ValueOffset))[n] * *(float*)(leaf + 84) + *(float*)(leaf + 80);
        }
    }

    /// <summary>Nothing to drop: the CPU backend reads the snapshot's own host memory and keeps no copy or cache of it.</summary>
    public void Evict(AdapterSnapshot snapshot) => ArgumentNullException.ThrowIfNull(snapshot);

    public void Dispose() { }
}
