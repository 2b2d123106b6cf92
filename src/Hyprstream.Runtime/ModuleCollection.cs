using System.Collections;

namespace Hyprstream.Runtime;

/// <summary>An adapter's modules in insertion order, addressable by name.</summary>
public sealed class ModuleCollection : IReadOnlyList<AdapterModule>
{
    private readonly List<AdapterModule> _list = new();
    private readonly Dictionary<string, AdapterModule> _byName = new(StringComparer.Ordinal);

    public AdapterModule this[int index] => _list[index];

    public AdapterModule this[string name] =>
        _byName.TryGetValue(name, out var m) ? m : throw new KeyNotFoundException($"no module named '{name}'");

    public int Count => _list.Count;
    public bool Contains(string name) => _byName.ContainsKey(name);
    public bool TryGet(string name, out AdapterModule module) => _byName.TryGetValue(name, out module!);
    public IEnumerator<AdapterModule> GetEnumerator() => _list.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal void Add(AdapterModule m)
    {
        _byName.Add(m.Name, m);
        _list.Add(m);
    }

    internal bool Remove(string name)
    {
        if (!_byName.Remove(name, out var m)) return false;
        _list.Remove(m);
        return true;
    }
}
