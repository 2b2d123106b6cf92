using Apache.Arrow;
using Apache.Arrow.Types;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Apache.Arrow arrays over arrays we fill ourselves (no copy, no nulls), and the checked reads of received columns
/// that a service needs: a column of the expected type without nulls, or a clear <see cref="InvalidDataException"/>.
/// </summary>
public static class Columns
{
    public static Int32Array Int32(int[] values, int count) => new(ArrayMemory<int>.Buffer(values, count), ArrowBuffer.Empty, count, 0, 0);
    public static Int16Array Int16(short[] values, int count) => new(ArrayMemory<short>.Buffer(values, count), ArrowBuffer.Empty, count, 0, 0);
    public static FloatArray Float32(float[] values, int count) => new(ArrayMemory<float>.Buffer(values, count), ArrowBuffer.Empty, count, 0, 0);

    /// <summary>A fixed_size_list&lt;T&gt;[size] column of <paramref name="count"/> lists over <paramref name="items"/> (count × size items).</summary>
    public static FixedSizeListArray FixedSizeList(IArrowArray items, int size, int count)
    {
        var type = new FixedSizeListType(new Field("item", items.Data.DataType, nullable: false), size);
        return new FixedSizeListArray(new ArrayData(type, count, 0, 0, [ArrowBuffer.Empty], [items.Data]));
    }

    public static StringArray Utf8(IEnumerable<string> values)
    {
        var b = new StringArray.Builder();
        foreach (var v in values) b.Append(v);
        return b.Build();
    }

    /// <summary>dictionary&lt;int16, utf8&gt; when the dictionary has at most 32,767 entries, else dictionary&lt;int32, utf8&gt;.</summary>
    public static DictionaryType DictionaryOf(int entries) =>
        new(entries <= short.MaxValue ? Int16Type.Default : Int32Type.Default, StringType.Default, false);

    /// <summary>
    /// A string column given as indices into <paramref name="dictionary"/> (short[] or int[]): a DictionaryArray
    /// over them when <paramref name="type"/> is a dictionary type, else the strings spelled out as utf8.
    /// </summary>
    public static IArrowArray Module(IArrowType type, StringArray dictionary, System.Array indices, int count)
    {
        if (type is DictionaryType d)
            return new DictionaryArray(d, indices is int[] wide ? Int32(wide, count) : Int16((short[])indices, count), dictionary);
        var b = new StringArray.Builder();
        for (int i = 0; i < count; i++) b.Append(dictionary.GetString(indices is int[] w ? w[i] : ((short[])indices)[i]));
        return b.Build();
    }

    // ---- reads of received columns ----

    public static ReadOnlySpan<int> Int32Values(IArrowArray column, string name) => column switch
    {
        Int32Array a when a.NullCount == 0 => a.Values,
        Int32Array => throw Nulls(name),
        _ => throw new InvalidDataException($"column '{name}' must be int32, not {column.Data.DataType.Name}"),
    };

    public static ReadOnlySpan<float> Float32Values(IArrowArray column, string name) => column switch
    {
        FloatArray a when a.NullCount == 0 => a.Values,
        FloatArray => throw Nulls(name),
        _ => throw new InvalidDataException($"column '{name}' must be float32, not {column.Data.DataType.Name}"),
    };

    /// <summary>
    /// A string column as a dictionary and one index per row: a dictionary&lt;int8..int64, utf8&gt; column as sent,
    /// or a plain utf8 column whose equal neighbours share an entry. No nulls; every index within the dictionary.
    /// </summary>
    public static (string[] Dictionary, int[] Indices) Strings(IArrowArray column, string name)
    {
        if (column.NullCount > 0) throw Nulls(name);
        int n = column.Length;
        var indices = new int[n];
        switch (column)
        {
            case DictionaryArray d when d.Dictionary is StringArray dict:
            {
                if (dict.NullCount > 0) throw new InvalidDataException($"column '{name}' has a dictionary with nulls");
                var entries = new string[dict.Length];
                for (int i = 0; i < entries.Length; i++) entries[i] = dict.GetString(i);
                for (int i = 0; i < n; i++)
                {
                    long k = d.Indices switch
                    {
                        Int8Array a => a.Values[i],
                        Int16Array a => a.Values[i],
                        Int32Array a => a.Values[i],
                        Int64Array a => a.Values[i],
                        UInt8Array a => a.Values[i],
                        UInt16Array a => a.Values[i],
                        UInt32Array a => a.Values[i],
                        _ => throw new InvalidDataException($"column '{name}' has dictionary indices of type {d.Indices.Data.DataType.Name}"),
                    };
                    if ((ulong)k >= (ulong)entries.Length) throw new InvalidDataException($"column '{name}', row {i}: dictionary index {k} is outside its {entries.Length} entries");
                    indices[i] = (int)k;
                }
                return (entries, indices);
            }
            case StringArray s:
            {
                var entries = new List<string>();
                for (int i = 0; i < n; i++)
                {
                    var v = s.GetString(i);
                    if (entries.Count == 0 || entries[^1] != v) entries.Add(v);
                    indices[i] = entries.Count - 1;
                }
                return (entries.ToArray(), indices);
            }
            default:
                throw new InvalidDataException($"column '{name}' must be utf8 or dictionary<int, utf8>, not {column.Data.DataType.Name}");
        }
    }

    private static InvalidDataException Nulls(string name) => new($"column '{name}' has nulls");
}
