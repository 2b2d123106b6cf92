using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Hyprstream.Runtime.Index;

/// <summary>
/// The distance a graph walk ranks by, from one query (or one stored node) to stored nodes. The graph's walks are
/// generic over these structs, so each metric gets its own compiled loop with the kernel inlined: no delegate, no
/// metric switch and no span bounds checks per distance. Values are float: exact for L2/cosine, the Poincaré δ
/// rounded once (the final ranking re-computes it in float64).
/// </summary>
internal interface IWalkDistance
{
    /// <summary>Query → stored node <paramref name="id"/>.</summary>
    float To(int id);
    /// <summary>Stored node → stored node (neighbour selection while building).</summary>
    float Between(int a, int b);
    /// <summary>Asks the CPU to start loading node <paramref name="id"/>'s vector (walks call it one neighbour ahead).</summary>
    void Prefetch(int id);
}

internal static class Prefetcher
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(T[] data, int at) where T : unmanaged
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), at)));
    }
}

/// <summary>Squared L2 over float32 vectors.</summary>
internal readonly struct L2Walk(float[] query, int queryAt, float[] data, int dim) : IWalkDistance
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float To(int id) => VectorMath.SquaredL2(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(query), queryAt),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), id * dim), dim);

    public float Between(int a, int b) => VectorMath.SquaredL2(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), a * dim),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), b * dim), dim);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int id) => Prefetcher.Line(data, id * dim);
}

/// <summary>1 − cos over unit float32 vectors.</summary>
internal readonly struct CosineWalk(float[] query, int queryAt, float[] data, int dim) : IWalkDistance
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float To(int id) => 1f - VectorMath.Dot(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(query), queryAt),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), id * dim), dim);

    public float Between(int a, int b) => 1f - VectorMath.Dot(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), a * dim),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), b * dim), dim);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int id) => Prefetcher.Line(data, id * dim);
}

/// <summary>The Poincaré δ = |u−v|² / ((1−|u|²)(1−|v|²)) over float64 coordinates.</summary>
internal readonly struct PoincareWalk(double[] query, int queryAt, double queryRim, double[] data, double[] rim, int dim) : IWalkDistance
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float To(int id) => (float)(VectorMath.SquaredL2(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(query), queryAt),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), id * dim), dim) / (queryRim * rim[id]));

    public float Between(int a, int b) => (float)(VectorMath.SquaredL2(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), a * dim),
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(data), b * dim), dim) / (rim[a] * rim[b]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int id) => Prefetcher.Line(data, id * dim);
}

/// <summary>int8 codes with a per-vector scale: L2 (|q|² + |v|² − 2·q·v) or cosine (1 − q·v) from one int dot product.</summary>
internal readonly struct Int8Walk(sbyte[] query, int queryAt, float queryScale, float queryNorm2, sbyte[] codes, float[] scale, float[] norm2,
    int dim, bool cosine) : IWalkDistance
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float To(int id)
    {
        int dot = VectorMath.DotInt8(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(query), queryAt),
            ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(codes), id * dim), dim);
        float cross = queryScale * scale[id] * dot;
        return cosine ? 1f - cross : queryNorm2 + norm2[id] - 2 * cross;
    }

    public float Between(int a, int b)
    {
        int dot = VectorMath.DotInt8(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(codes), a * dim),
            ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(codes), b * dim), dim);
        float cross = scale[a] * scale[b] * dot;
        return cosine ? 1f - cross : norm2[a] + norm2[b] - 2 * cross;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int id) => Prefetcher.Line(codes, id * dim);
}
