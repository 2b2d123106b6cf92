using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hyprstream.Runtime.Storage;

/// <summary>
/// Byte planes for 4-byte values (all first bytes, then all second bytes, …): exponents and sign bits of floats end
/// up next to each other, which is what lets a general compressor find anything in float weights. Width 4 (every
/// plane the store writes) moves four values per step with one byte shuffle; other widths take the scalar loop.
/// </summary>
public static class ByteShuffle
{
    // Bytes 0,4,8,12 | 1,5,9,13 | 2,6,10,14 | 3,7,11,15: four values turned into four 4-byte plane pieces (and back).
    private static readonly Vector128<byte> ToPlanes = Vector128.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);

    public static void Shuffle(ReadOnlySpan<byte> src, Span<byte> dst, int width)
    {
        int n = src.Length / width;
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source");
        int done = 0;
        if (width == 4 && Vector128.IsHardwareAccelerated)
        {
            for (; done + 4 <= n; done += 4)
            {
                var v = Vector128.Shuffle(Vector128.Create(src.Slice(done * 4, 16)), ToPlanes).AsUInt32();
                // dst planes start at multiples of n, which need not be 4-aligned: write bytes through unaligned stores.
                MemoryMarshal.Write(dst[(0 * n + done)..], v.GetElement(0));
                MemoryMarshal.Write(dst[(1 * n + done)..], v.GetElement(1));
                MemoryMarshal.Write(dst[(2 * n + done)..], v.GetElement(2));
                MemoryMarshal.Write(dst[(3 * n + done)..], v.GetElement(3));
            }
        }
        for (int b = 0; b < width; b++)
        {
            var plane = dst.Slice(b * n, n);
            for (int i = done; i < n; i++) plane[i] = src[i * width + b];
        }
        src[(n * width)..].CopyTo(dst[(n * width)..]);
    }

    public static void Unshuffle(ReadOnlySpan<byte> src, Span<byte> dst, int width)
    {
        int n = src.Length / width;
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source");
        int done = 0;
        if (width == 4 && Vector128.IsHardwareAccelerated)
        {
            for (; done + 4 <= n; done += 4)
            {
                var v = Vector128.Create(
                    MemoryMarshal.Read<uint>(src[(0 * n + done)..]), MemoryMarshal.Read<uint>(src[(1 * n + done)..]),
                    MemoryMarshal.Read<uint>(src[(2 * n + done)..]), MemoryMarshal.Read<uint>(src[(3 * n + done)..])).AsByte();
                // The same permutation is its own inverse (a 4x4 byte transpose).
                Vector128.Shuffle(v, ToPlanes).CopyTo(dst.Slice(done * 4, 16));
            }
        }
        for (int b = 0; b < width; b++)
        {
            var plane = src.Slice(b * n, n);
            for (int i = done; i < n; i++) dst[i * width + b] = plane[i];
        }
        src[(n * width)..].CopyTo(dst[(n * width)..]);
    }
}
