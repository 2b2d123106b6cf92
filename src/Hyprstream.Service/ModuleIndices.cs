using Apache.Arrow;
using Apache.Arrow.Types;
using Hyprstream.Flight.Ipc;

namespace Hyprstream.Service;

/// <summary>
/// The module column of a DoGet batch filled in place: one index per row into the stream's dictionary of module
/// names, int16 while the dictionary fits (int32 beyond 32,767 modules), as the schema's dictionary type says.
/// </summary>
internal sealed class ModuleIndices(int capacity, StringArray dictionary)
{
    private readonly System.Array _indices = dictionary.Length > short.MaxValue ? new int[capacity] : new short[capacity];

    /// <summary>Rows [at, at + count) name module number <paramref name="module"/>.</summary>
    public void Fill(int at, int count, int module)
    {
        if (_indices is int[] wide) wide.AsSpan(at, count).Fill(module);
        else ((short[])_indices).AsSpan(at, count).Fill((short)module);
    }

    /// <summary>The first <paramref name="count"/> rows as the column <paramref name="type"/> asks (dictionary or plain utf8).</summary>
    public IArrowArray Column(IArrowType type, int count) => Columns.Module(type, dictionary, _indices, count);
}
