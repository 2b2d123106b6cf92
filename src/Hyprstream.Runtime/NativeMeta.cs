using Hyprstream.Interop;
using Hyprstream.Interop.Handles;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>A typed OpenVDB metadata map (owned native handle) with C#-typed getters and setters.</summary>
internal sealed class NativeMeta : IDisposable
{
    public MetaHandle Handle { get; }

    public NativeMeta()
    {
        Status.Check(Hs.hs_meta_create(out var h));
        Handle = h;
    }

    public NativeMeta(MetaHandle handle) => Handle = handle;

    public void Dispose() => Handle.Dispose();

    public int Count { get { Status.Check(Hs.hs_meta_count(Handle, out var n)); return n; } }

    public IReadOnlyList<string> Keys
    {
        get
        {
            var keys = new string[Count];
            for (int i = 0; i < keys.Length; i++)
                keys[i] = Hs.MetaKeyAt(Handle, i);
            return keys;
        }
    }

    public bool Contains(string key) => Hs.hs_meta_type(Handle, key, out _) == Status.Ok;

    public void Set(string key, string value) => Status.Check(Hs.hs_meta_set_string(Handle, key, value));
    public void Set(string key, int value) => Status.Check(Hs.hs_meta_set_int32(Handle, key, value));
    public void Set(string key, long value) => Status.Check(Hs.hs_meta_set_int64(Handle, key, value));
    public void Set(string key, float value) => Status.Check(Hs.hs_meta_set_float(Handle, key, value));
    public void Set(string key, double value) => Status.Check(Hs.hs_meta_set_double(Handle, key, value));

    public string GetString(string key) => Hs.MetaGetString(Handle, key);

    public long GetInt64(string key)
    {
        Status.Check(Hs.hs_meta_get_int64(Handle, key, out var v));
        return v;
    }

    public double GetDouble(string key)
    {
        Status.Check(Hs.hs_meta_get_double(Handle, key, out var v));
        return v;
    }

    public string? TryGetString(string key) => Contains(key) ? GetString(key) : null;
    public long? TryGetInt64(string key) => Contains(key) ? GetInt64(key) : null;
}
