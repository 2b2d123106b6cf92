using Apache.Arrow;
using Apache.Arrow.Types;

namespace Hyprstream.Flight.Ipc;

/// <summary>
/// Checks that a received array's buffers hold what its length and offset say, column by column and into children
/// and dictionaries. Apache.Arrow builds arrays from the sender's metadata without this check; reading past a
/// buffer would then fail deep inside a handler with an unhelpful message.
/// </summary>
public static class BatchCheck
{
    public static void Validate(RecordBatch batch)
    {
        for (int c = 0; c < batch.ColumnCount; c++)
        {
            var name = batch.Schema.GetFieldByIndex(c).Name;
            var column = batch.Column(c);
            if (column.Length != batch.Length)
                throw new InvalidDataException($"column '{name}' has {column.Length} rows, the batch {batch.Length}");
            Validate(column.Data, name);
        }
    }

    private static void Validate(ArrayData a, string name)
    {
        if (a.Length < 0 || a.Offset < 0 || a.NullCount < 0) throw Bad(name, "a negative length, offset or null count");
        long end = (long)a.Offset + a.Length;
        if (a.NullCount > 0 && a.Buffers.Length > 0 && a.Buffers[0].Length * 8L < end) throw Bad(name, "a validity bitmap shorter than its rows");
        switch (a.DataType)
        {
            case FixedWidthType f when a.DataType is not DictionaryType and not BooleanType:
                if (a.Buffers.Length < 2 || a.Buffers[1].Length < end * (f.BitWidth / 8)) throw Bad(name, $"a values buffer shorter than {end} × {f.BitWidth / 8} bytes");
                break;
            case BooleanType:
                if (a.Buffers.Length < 2 || a.Buffers[1].Length * 8L < end) throw Bad(name, "a values bitmap shorter than its rows");
                break;
            case StringType or BinaryType:
            {
                if (a.Buffers.Length < 3 || a.Buffers[1].Length < (end + 1) * 4) throw Bad(name, "an offsets buffer shorter than its rows");
                var offsets = a.Buffers[1].Span.CastTo<int>();
                int previous = offsets[a.Offset];
                if (previous < 0) throw Bad(name, "a negative offset");
                for (long i = a.Offset + 1; i <= end; i++)
                {
                    int o = offsets[(int)i];
                    if (o < previous) throw Bad(name, "decreasing offsets");
                    previous = o;
                }
                if (previous > a.Buffers[2].Length) throw Bad(name, "offsets past its data buffer");
                break;
            }
            case FixedSizeListType l:
                if (a.Children.Length != 1) throw Bad(name, "a list without its child array");
                if (a.Children[0].Length < end * l.ListSize) throw Bad(name, $"a child of {a.Children[0].Length} items for {end} lists of {l.ListSize}");
                Validate(a.Children[0], name + ".item");
                break;
            case DictionaryType d:
                if (a.Buffers.Length < 2 || a.Buffers[1].Length < end * (((IntegerType)d.IndexType).BitWidth / 8)) throw Bad(name, "an indices buffer shorter than its rows");
                if (a.Dictionary == null) throw Bad(name, "no dictionary");
                Validate(a.Dictionary, name + ".dictionary");
                break;
            case StructType:
                foreach (var child in a.Children)
                {
                    if (child.Length < end) throw Bad(name, "a child shorter than its rows");
                    Validate(child, name + ".child");
                }
                break;
            default:
                throw new InvalidDataException($"column '{name}' has type {a.DataType.Name}, which this service does not read");
        }
    }

    private static InvalidDataException Bad(string name, string what) => new($"column '{name}' has {what}");
}
