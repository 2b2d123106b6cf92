namespace Hyprstream.Flight.Ipc;

/// <summary>
/// A FlatBuffers table to be written by <see cref="FlatBufferWriter"/>: scalar fields and references to child
/// tables, strings and vectors, each under its field id. Only what Arrow's Message/Schema tables need.
/// </summary>
public sealed class FlatBufferTable
{
    internal enum Kind { Scalar, Table, String, TableVector, StructVector, LongVector }

    internal sealed record Field(int Id, Kind Kind, int Size, long Scalar, object? Ref);

    internal List<Field> Fields { get; } = [];

    public FlatBufferTable Byte(int id, byte v) => Add(new Field(id, Kind.Scalar, 1, v, null));
    public FlatBufferTable Bool(int id, bool v) => Add(new Field(id, Kind.Scalar, 1, v ? 1 : 0, null));
    public FlatBufferTable Short(int id, short v) => Add(new Field(id, Kind.Scalar, 2, v, null));
    public FlatBufferTable Int(int id, int v) => Add(new Field(id, Kind.Scalar, 4, v, null));
    public FlatBufferTable Long(int id, long v) => Add(new Field(id, Kind.Scalar, 8, v, null));
    public FlatBufferTable Table(int id, FlatBufferTable t) => Add(new Field(id, Kind.Table, 4, 0, t));
    public FlatBufferTable String(int id, string s) => Add(new Field(id, Kind.String, 4, 0, s));
    public FlatBufferTable Tables(int id, IReadOnlyList<FlatBufferTable> v) => Add(new Field(id, Kind.TableVector, 4, 0, v));
    public FlatBufferTable Longs(int id, IReadOnlyList<long> v) => Add(new Field(id, Kind.LongVector, 4, 0, v));

    /// <summary>A vector of 16-byte structs of two longs (Arrow's FieldNode and Buffer).</summary>
    public FlatBufferTable LongPairs(int id, IReadOnlyList<(long, long)> v) => Add(new Field(id, Kind.StructVector, 4, 0, v));

    private FlatBufferTable Add(Field f)
    {
        Fields.Add(f);
        return this;
    }
}
