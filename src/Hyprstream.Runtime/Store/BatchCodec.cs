using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Hyprstream.Runtime.Storage;

namespace Hyprstream.Runtime.Store;

/// <summary>
/// The byte form of an <see cref="AdapterBatch"/> (WAL payloads and the cache's compressed tier):
/// version byte, op count, then each op; index and value arrays are written as byte planes (see
/// <see cref="ByteShuffle"/>) so zstd finds the shared high bytes. Decoding checks every length against the input.
/// </summary>
public static class BatchCodec
{
    private const byte Version = 1;

    public static byte[] Encode(AdapterBatch batch)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.UTF8);
        w.Write(Version);
        w.Write(batch.Ops.Count);
        foreach (var op in batch.Ops)
        {
            w.Write((byte)op.Kind);
            w.Write(op.Module);
            switch (op.Kind)
            {
                case BatchOpKind.DefineModule:
                    w.Write(op.Rows); w.Write(op.Cols); w.Write(op.Scalar);
                    break;
                case BatchOpKind.Set or BatchOpKind.Add:
                    w.Write(op.Values!.Length);
                    WritePlanes(w, MemoryMarshal.AsBytes(op.RowIndex.AsSpan()));
                    WritePlanes(w, MemoryMarshal.AsBytes(op.ColIndex.AsSpan()));
                    WritePlanes(w, MemoryMarshal.AsBytes(op.Values.AsSpan()));
                    break;
                case BatchOpKind.Prune:
                    w.Write(op.Scalar);
                    break;
                case BatchOpKind.KeepTop:
                    w.Write(op.Scalar); w.Write(op.Rows);
                    break;
                case BatchOpKind.SetMetadata:
                    w.Write(op.Key!); w.Write(op.Text!);
                    break;
            }
        }
        w.Flush();
        return ms.ToArray();
    }

    public static AdapterBatch Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using var ms = new MemoryStream(bytes.ToArray(), writable: false);
            using var r = new BinaryReader(ms, Encoding.UTF8);
            if (r.ReadByte() != Version) throw new InvalidDataException("unknown batch encoding version");
            int count = r.ReadInt32();
            if (count < 0) throw new InvalidDataException("negative op count");
            var b = new AdapterBatch();
            for (int i = 0; i < count; i++)
            {
                var kind = (BatchOpKind)r.ReadByte();
                var module = r.ReadString();
                switch (kind)
                {
                    case BatchOpKind.DefineModule:
                        b.AddOp(new BatchOp(kind, module, r.ReadInt32(), r.ReadInt32(), r.ReadSingle()));
                        break;
                    case BatchOpKind.Set or BatchOpKind.Add:
                        int n = r.ReadInt32();
                        if (n < 0 || (long)n * 12 > ms.Length - ms.Position) throw new InvalidDataException($"batch op claims {n} weights, more than the record holds");
                        var rows = new int[n]; var cols = new int[n]; var vals = new float[n];
                        ReadPlanes(r, MemoryMarshal.AsBytes(rows.AsSpan()));
                        ReadPlanes(r, MemoryMarshal.AsBytes(cols.AsSpan()));
                        ReadPlanes(r, MemoryMarshal.AsBytes(vals.AsSpan()));
                        b.AddOp(new BatchOp(kind, module, RowIndex: rows, ColIndex: cols, Values: vals));
                        break;
                    case BatchOpKind.Prune:
                        b.AddOp(new BatchOp(kind, module, Scalar: r.ReadSingle()));
                        break;
                    case BatchOpKind.KeepTop:
                    {
                        float fraction = r.ReadSingle();
                        b.AddOp(new BatchOp(kind, module, Rows: r.ReadInt32(), Scalar: fraction));
                        break;
                    }
                    case BatchOpKind.RemoveModule:
                        b.AddOp(new BatchOp(kind, module));
                        break;
                    case BatchOpKind.SetMetadata:
                        b.AddOp(new BatchOp(kind, module, Key: r.ReadString(), Text: r.ReadString()));
                        break;
                    default:
                        throw new InvalidDataException($"unknown batch op {(byte)kind}");
                }
            }
            if (ms.Position != ms.Length) throw new InvalidDataException("trailing bytes after the last batch op");
            return b;
        }
        catch (EndOfStreamException e) { throw new InvalidDataException("batch record is truncated", e); }
    }

    private static void WritePlanes(BinaryWriter w, ReadOnlySpan<byte> data)
    {
        var tmp = new byte[data.Length];
        ByteShuffle.Shuffle(data, tmp, 4);
        w.Write(tmp);
    }

    private static void ReadPlanes(BinaryReader r, Span<byte> dst)
    {
        var tmp = r.ReadBytes(dst.Length);
        if (tmp.Length != dst.Length) throw new EndOfStreamException();
        ByteShuffle.Unshuffle(tmp, dst, 4);
    }
}
