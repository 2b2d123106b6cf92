using System.Text;

namespace Hyprstream.Runtime.Bytes;

/// <summary>64-bit FNV-1a: a hash that is the same in every process (string.GetHashCode is randomised per process).</summary>
public static class Fnv1a
{
    public static ulong Hash64(ReadOnlySpan<byte> data)
    {
        ulong h = 14695981039346656037UL;
        foreach (var b in data) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    /// <summary>The hash of the string's UTF-8 bytes.</summary>
    public static ulong Hash64(string s) => Hash64(Encoding.UTF8.GetBytes(s));
}
