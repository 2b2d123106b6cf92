namespace Hyprstream.Runtime.Storage;

/// <summary>
/// Byte planes for 4-byte values (all first bytes, then all second bytes, …): exponents and sign bits of floats end
/// up next to each other, which is what lets a general compressor find anything in float weights.
/// </summary>
public static class ByteShuffle
{
    public static void Shuffle(ReadOnlySpan<byte> src, Span<byte> dst, int width)
    {
        int n = src.Length / width;
        for (int b = 0; b < width; b++)
        {
            var plane = dst.Slice(b * n, n);
            for (int i = 0; i < n; i++) plane[i] = src[i * width + b];
        }
        src[(n * width)..].CopyTo(dst[(n * width)..]);
    }

    public static void Unshuffle(ReadOnlySpan<byte> src, Span<byte> dst, int width)
    {
        int n = src.Length / width;
        for (int b = 0; b < width; b++)
        {
            var plane = src.Slice(b * n, n);
            for (int i = 0; i < n; i++) dst[i * width + b] = plane[i];
        }
        src[(n * width)..].CopyTo(dst[(n * width)..]);
    }
}
