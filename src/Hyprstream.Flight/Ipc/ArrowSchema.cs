namespace Hyprstream.Flight.Ipc;

/// <summary>The Arrow types this implementation reads and writes.</summary>
public enum ArrowTypeId { Int32, Int64, Float16, Float32, Utf8, Binary, FixedSizeList }

/// <summary>An Arrow type; FixedSizeList carries its list size and child field.</summary>
public sealed record ArrowType(ArrowTypeId Id, int ListSize = 0, ArrowField? Child = null)
{
    public static readonly ArrowType Int32 = new(ArrowTypeId.Int32);
    public static readonly ArrowType Int64 = new(ArrowTypeId.Int64);
    public static readonly ArrowType Float16 = new(ArrowTypeId.Float16);
    public static readonly ArrowType Float32 = new(ArrowTypeId.Float32);
    public static readonly ArrowType Utf8 = new(ArrowTypeId.Utf8);
    public static readonly ArrowType Binary = new(ArrowTypeId.Binary);

    public static ArrowType FixedSizeList(int size, ArrowType item) => new(ArrowTypeId.FixedSizeList, size, new ArrowField("item", item));

    /// <summary>Bytes per value of a fixed-width type, else 0.</summary>
    public int Width => Id switch { ArrowTypeId.Int32 or ArrowTypeId.Float32 => 4, ArrowTypeId.Int64 => 8, ArrowTypeId.Float16 => 2, _ => 0 };

    /// <summary>Buffers this type contributes to a record batch (its children's not counted).</summary>
    public int BufferCount => Id switch { ArrowTypeId.Utf8 or ArrowTypeId.Binary => 3, ArrowTypeId.FixedSizeList => 1, _ => 2 };

    public override string ToString() => Id == ArrowTypeId.FixedSizeList ? $"fixed_size_list<{Child!.Type}>[{ListSize}]" : Id.ToString().ToLowerInvariant();
}

public sealed record ArrowField(string Name, ArrowType Type, bool Nullable = true)
{
    public override string ToString() => $"{Name}: {Type}{(Nullable ? "" : " not null")}";
}

/// <summary>An Arrow schema: fields in order plus optional key/value metadata.</summary>
public sealed class ArrowSchema(IReadOnlyList<ArrowField> fields, IReadOnlyDictionary<string, string>? metadata = null)
{
    public IReadOnlyList<ArrowField> Fields { get; } = fields;
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata ?? new Dictionary<string, string>();

    /// <summary>Same names and types in the same order (nullability and metadata ignored).</summary>
    public bool SameColumns(ArrowSchema other) =>
        Fields.Count == other.Fields.Count && Fields.Zip(other.Fields).All(p => p.First.Name == p.Second.Name && SameType(p.First.Type, p.Second.Type));

    private static bool SameType(ArrowType a, ArrowType b) =>
        a.Id == b.Id && a.ListSize == b.ListSize && (a.Child == null || SameType(a.Child.Type, b.Child!.Type));

    public override string ToString() => string.Join(", ", Fields);
}
