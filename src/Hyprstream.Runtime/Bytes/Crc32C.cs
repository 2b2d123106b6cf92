using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace Hyprstream.Runtime.Bytes;

/// <summary>CRC32C (Castagnoli), the checksum of our logs and snapshots; SSE4.2 when present, a table otherwise.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = MakeTable();

    public static uint Compute(ReadOnlySpan<byte> data, uint crc = 0)
    {
        uint c = ~crc;
        if (Sse42.X64.IsSupported)
        {
            ulong c64 = c;
            while (data.Length >= 8)
            {
                c64 = Sse42.X64.Crc32(c64, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[8..];
            }
            c = (uint)c64;
            foreach (var b in data) c = Sse42.Crc32(c, b);
        }
        else
        {
            foreach (var b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        }
        return ~c;
    }

    /// <summary>
    /// The CRC of a message after its first 8 bytes change from <paramref name="before"/> to <paramref name="after"/>,
    /// from the CRC of the whole message (<paramref name="crc"/>) and its length, without reading the rest: CRCs are
    /// linear, so the change is the CRC of the 8-byte difference moved past <paramref name="length"/> − 8 bytes
    /// (a multiplication by x^(8·n) modulo the polynomial, as zlib's crc32_combine). The WAL stamps a record's sequence
    /// this way under its append lock, after the record was checksummed outside it.
    /// </summary>
    public static uint ReplacePrefix(uint crc, ulong before, ulong after, long length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 8);
        Span<byte> a = stackalloc byte[8], b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(a, before);
        BinaryPrimitives.WriteUInt64LittleEndian(b, after);
        uint delta = Compute(a) ^ Compute(b);
        return crc ^ MultiplyModP(XPower8N(length - 8), delta);
    }

    private const uint Poly = 0x82F63B78u;
    // x^(2^k) modulo the polynomial, for k = 0..31 (bit-reflected; x^0 is 1 << 31).
    private static readonly uint[] X2N = MakeX2N();

    private static uint MultiplyModP(uint a, uint b)
    {
        uint m = 1u << 31, p = 0;
        while (true)
        {
            if ((a & m) != 0)
            {
                p ^= b;
                if ((a & (m - 1)) == 0) break;
            }
            m >>= 1;
            b = (b & 1) != 0 ? (b >> 1) ^ Poly : b >> 1;
        }
        return p;
    }

    /// <summary>x^(8·n) modulo the polynomial.</summary>
    private static uint XPower8N(long n)
    {
        uint p = 1u << 31;
        int k = 3;
        while (n != 0)
        {
            if ((n & 1) != 0) p = MultiplyModP(X2N[k & 31], p);
            n >>= 1;
            k++;
        }
        return p;
    }

    private static uint[] MakeX2N()
    {
        var t = new uint[32];
        uint p = 1u << 30; // x^1
        t[0] = p;
        for (int i = 1; i < 32; i++) t[i] = p = MultiplyModP(p, p);
        return t;
    }

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }
}
