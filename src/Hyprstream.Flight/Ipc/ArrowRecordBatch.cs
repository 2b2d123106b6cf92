namespace Hyprstream.Flight.Ipc;

/// <summary>Columns of equal length under a schema.</summary>
public sealed class ArrowRecordBatch
{
    public ArrowRecordBatch(ArrowSchema schema, int length, IReadOnlyList<ArrowArray> columns)
    {
        if (columns.Count != schema.Fields.Count) throw new ArgumentException($"{columns.Count} columns for {schema.Fields.Count} fields");
        for (int i = 0; i < columns.Count; i++)
            if (columns[i].Length != length) throw new ArgumentException($"column '{schema.Fields[i].Name}' has {columns[i].Length} rows, the batch {length}");
        Schema = schema;
        Length = length;
        Columns = columns;
    }

    public ArrowSchema Schema { get; }
    public int Length { get; }
    public IReadOnlyList<ArrowArray> Columns { get; }

    public ArrowArray Column(string name)
    {
        for (int i = 0; i < Schema.Fields.Count; i++)
            if (Schema.Fields[i].Name == name) return Columns[i];
        throw new KeyNotFoundException($"no column '{name}'");
    }
}

/// <summary>
/// The body of an IPC message as the buffers themselves plus the zero padding after each (offsets 8-aligned), so a
/// transport can copy each buffer straight to the wire without assembling the body first.
/// </summary>
public sealed class IpcBody(IReadOnlyList<ReadOnlyMemory<byte>> buffers)
{
    public IReadOnlyList<ReadOnlyMemory<byte>> Buffers { get; } = buffers;
    public static int Padded(int n) => (n + 7) & ~7;
    public long Length { get; } = buffers.Sum(b => (long)Padded(b.Length));
    public static readonly IpcBody Empty = new([]);

    public void CopyTo(Span<byte> dest)
    {
        int at = 0;
        foreach (var b in Buffers)
        {
            b.Span.CopyTo(dest[at..]);
            dest.Slice(at + b.Length, Padded(b.Length) - b.Length).Clear();
            at += Padded(b.Length);
        }
    }

    public byte[] ToArray()
    {
        var a = new byte[Length];
        CopyTo(a);
        return a;
    }
}
