using System.Runtime.InteropServices;
using Hyprstream.Interop.Handles;

namespace Hyprstream.Interop.OpenVdb;

internal static unsafe partial class Hs
{
    [LibraryImport(Lib)] internal static partial int hs_meta_create(out MetaHandle meta);
    [LibraryImport(Lib)] internal static partial void hs_meta_free(nint meta);
    [LibraryImport(Lib)] internal static partial int hs_meta_count(MetaHandle meta, out int count);
    [LibraryImport(Lib)] internal static partial int hs_meta_key_at(MetaHandle meta, int index, byte* buffer, int capacity, out int required);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_type(MetaHandle meta, string key, out int type);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_remove(MetaHandle meta, string key);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_string(MetaHandle meta, string key, string value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_int32(MetaHandle meta, string key, int value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_int64(MetaHandle meta, string key, long value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_float(MetaHandle meta, string key, float value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_double(MetaHandle meta, string key, double value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_bool(MetaHandle meta, string key, int value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_set_vec2i(MetaHandle meta, string key, int x, int y);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_get_string(MetaHandle meta, string key, byte* buffer, int capacity, out int required);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_get_int64(MetaHandle meta, string key, out long value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_get_double(MetaHandle meta, string key, out double value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_meta_get_vec2i(MetaHandle meta, string key, out int x, out int y);
}
