using System.Runtime.InteropServices;

namespace Hyprstream.Interop.OpenVdb;

/// <summary>zstd compression and directory fsync (hyprstream_shim.h, "compression"); names match the C names.</summary>
internal static unsafe partial class Hs
{
    [LibraryImport(Lib)] internal static partial int hs_zstd_compress_bound(long n, out long bound);
    [LibraryImport(Lib)]
    internal static partial int hs_zstd_compress(byte* src, long n, byte* dst, long capacity, int level, byte* dict, long dictSize, out long written);
    [LibraryImport(Lib)]
    internal static partial int hs_zstd_decompress(byte* src, long n, byte* dst, long capacity, byte* dict, long dictSize, out long written);
    [LibraryImport(Lib)] internal static partial int hs_zstd_content_size(byte* src, long n, out long size);
    [LibraryImport(Lib)]
    internal static partial int hs_zstd_train_dictionary(byte* samples, long* sampleSizes, int count, byte* dict, long capacity, out long written);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_fs_sync_directory(string path);
}
