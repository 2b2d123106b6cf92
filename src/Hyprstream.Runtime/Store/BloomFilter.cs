using Hyprstream.Runtime.Bytes;
using System.Text;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// Negative-lookup filter over adapter names: "no" is certain, so a lookup of an unknown adapter is answered without
/// touching the manifest's tables or the disk. Double hashing (Kirsch–Mitzenmacher) over one 64-bit FNV-1a hash.
/// Names are only added (deleted adapters stay as false positives until the store reopens).
/// </summary>
public sealed class BloomFilter
{
    private readonly ulong[] _bits;
    private readonly int _hashes;
    private readonly object _lock = new();

    public BloomFilter(int expected = 1 << 16, double falsePositiveRate = 0.01)
    {
        long m = (long)Math.Ceiling(-expected * Math.Log(falsePositiveRate) / (Math.Log(2) * Math.Log(2)));
        _bits = new ulong[Math.Max(1, (m + 63) / 64)];
        _hashes = Math.Max(1, (int)Math.Round((double)m / expected * Math.Log(2)));
    }

    public void Add(string key)
    {
        var (h1, h2) = Hash(key);
        ulong m = (ulong)_bits.Length * 64;
        lock (_lock)
            for (int i = 0; i < _hashes; i++)
            {
                ulong b = (h1 + (ulong)i * h2) % m;
                _bits[b >> 6] |= 1UL << (int)(b & 63);
            }
    }

    public bool MightContain(string key)
    {
        var (h1, h2) = Hash(key);
        ulong m = (ulong)_bits.Length * 64;
        for (int i = 0; i < _hashes; i++)
        {
            ulong b = (h1 + (ulong)i * h2) % m;
            if ((Volatile.Read(ref _bits[b >> 6]) & (1UL << (int)(b & 63))) == 0) return false;
        }
        return true;
    }

    private static (ulong, ulong) Hash(string key)
    {
        // FNV-1a over UTF-8, then a murmur finalizer to spread the bits.
        ulong h = Fnv1a.Hash64(key);
        h ^= h >> 33; h *= 0xff51afd7ed558ccdUL; h ^= h >> 33; h *= 0xc4ceb93e185a53UL; h ^= h >> 33;
        return (h, (h >> 32 | h << 32) | 1);
    }
}
