using Apache.Arrow;
using Apache.Arrow.Types;
using Hyprstream.Flight.Ipc;

namespace Hyprstream.Service;

/// <summary>
/// How adapter weights look as Arrow, in two forms. Rows: one row per stored weight, `module, row int32, col int32,
/// value float32`. Tiles: one row per stored 8×64 tile, `module, tile_row int32, tile_col int32, values
/// fixed_size_list&lt;T&gt;[512]` (row-major: values[r*64 + c] is the weight at row tile_row*8 + r, column
/// tile_col*64 + c; weights not stored read 0). `module` is dictionary-encoded (the stream's dictionary holds the
/// module names). Values are the stored ones unless the ticket asks for "scaled" (multiplied by the module's scale,
/// listed in the flight's app_metadata).
/// </summary>
public static class WeightSchema
{
    public const int TileRows = 8, TileCols = 64, TileSize = TileRows * TileCols;

    public const string RowForm = "rows", TileForm = "tiles";

    /// <summary>The module column's type: dictionary-encoded, or plain utf8 for clients that cannot read dictionaries.</summary>
    public static IArrowType ModuleType(int modules, bool dictionary) => dictionary ? Columns.DictionaryOf(modules) : StringType.Default;

    public static Schema Rows(int modules, IReadOnlyDictionary<string, string>? meta = null, bool dictionary = true) => new([
        new Field("module", ModuleType(modules, dictionary), nullable: false),
        new Field("row", Int32Type.Default, nullable: false),
        new Field("col", Int32Type.Default, nullable: false),
        new Field("value", FloatType.Default, nullable: false),
    ], meta);

    public static Schema Tiles(int modules, WeightType type, IReadOnlyDictionary<string, string>? meta = null, bool dictionary = true) => new([
        new Field("module", ModuleType(modules, dictionary), nullable: false),
        new Field("tile_row", Int32Type.Default, nullable: false),
        new Field("tile_col", Int32Type.Default, nullable: false),
        new Field("values", new FixedSizeListType(new Field("item", ValueType(type), nullable: false), TileSize), nullable: false),
    ], meta);

    public static IArrowType ValueType(WeightType t) => t switch
    {
        WeightType.Float32 => FloatType.Default,
        WeightType.Float16 => HalfFloatType.Default,
        // Arrow has no bfloat16 type: its 16 bits travel as uint16, marked by field metadata.
        WeightType.BFloat16 => UInt16Type.Default,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Arrow bytes per weight of a form as DoGet sends it (values, coordinates, dictionary indices).</summary>
    public static double BytesPerWeight(string form, WeightType type, int modules)
    {
        int index = modules <= short.MaxValue ? 2 : 4;
        return form == TileForm ? (type == WeightType.Float32 ? 4 : 2) + (8.0 + index) / TileSize : 12 + index;
    }

    /// <summary>Which form a DoPut schema carries (by its column names), or null when it is neither.</summary>
    public static string? FormOf(Schema schema)
    {
        var names = schema.FieldsList.Select(f => f.Name).ToArray();
        if (names.SequenceEqual(["module", "row", "col", "value"])) return RowForm;
        if (names.SequenceEqual(["module", "tile_row", "tile_col", "values"])) return TileForm;
        return null;
    }
}
