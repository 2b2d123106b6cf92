using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hyprstream.Runtime.Bytes;

/// <summary>
/// Byte planes for 4-byte values (all first bytes, then all second bytes, …): exponents and sign bits of floats end
/// up next to each other, which is what lets a general compressor find anything in float weights. Width 4 (every
/// plane the store writes) moves four values per step with one byte shuffle; other widths take the scalar loop.
/// </summary>
public static class ByteShuffle
{
    // Bytes 0,4,8,12 | 1,5,9,13 | 2,6,10,14 | 3,7,11,15: a 4x4 byte transpose, its own inverse.
    private static readonly Vector128<byte> Transpose = Vector128.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);

    public static void Shuffle(ReadOnlySpan<byte> src, Span<byte> dst, int width)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source");
        int n = src.Length / width, done = 0;
        if (width == 4 && Vector128.IsHardwareAccelerated && n >= 4)
        {
            ref byte s = ref MemoryMarshal.GetReference(src);
            ref byte d = ref MemoryMarshal.GetReference(dst);
            var t = Transpose;
            for (; done + 4 <= n; done += 4)
            {
                var v = Vector128.Shuffle(Vector128.LoadUnsafe(ref s, (nuint)(done * 4)), t).AsUInt32();
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, done), v.GetElement(0));
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, n + done), v.GetElement(1));
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, 2 * n + done), v.GetElement(2));
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref d, 3 * n + done), v.GetElement(3));
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
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source");
        int n = src.Length / width, done = 0;
        if (width == 4 && Vector128.IsHardwareAccelerated && n >= 4)
        {
            ref byte s = ref MemoryMarshal.GetReference(src);
            ref byte d = ref MemoryMarshal.GetReference(dst);
            var t = Transpose;
            for (; done + 4 <= n; done += 4)
            {
                var v = Vector128.Create(
                    Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, done)), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, n + done)),
                    Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, 2 * n + done)), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, 3 * n + done))).AsByte();
                Vector128.Shuffle(v, t).StoreUnsafe(ref d, (nuint)(done * 4));
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
