namespace Hyprstream.Bench;

/// <summary>TEXMEX vector files: per vector an int32 dimension then its values (float32 for .fvecs, int32 for .ivecs).</summary>
internal static class Fvecs
{
    public static float[][] ReadFvecs(string path, int limit = int.MaxValue)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var list = new List<float[]>();
        long length = r.BaseStream.Length;
        while (r.BaseStream.Position < length && list.Count < limit)
        {
            int dim = r.ReadInt32();
            if (dim <= 0 || dim > 65536 || r.BaseStream.Position + 4L * dim > length)
                throw new InvalidDataException($"'{path}': vector {list.Count} claims {dim} dimensions (truncated or not an .fvecs file)");
            var v = new float[dim];
            for (int i = 0; i < dim; i++) v[i] = r.ReadSingle();
            if (list.Count > 0 && dim != list[0].Length) throw new InvalidDataException($"'{path}': vector {list.Count} has {dim} dimensions, the first has {list[0].Length}");
            list.Add(v);
        }
        return list.ToArray();
    }

    public static int[][] ReadIvecs(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var list = new List<int[]>();
        long length = r.BaseStream.Length;
        while (r.BaseStream.Position < length)
        {
            int n = r.ReadInt32();
            if (n < 0 || r.BaseStream.Position + 4L * n > length) throw new InvalidDataException($"'{path}': row {list.Count} is truncated");
            var v = new int[n];
            for (int i = 0; i < n; i++) v[i] = r.ReadInt32();
            list.Add(v);
        }
        return list.ToArray();
    }

    public static void WriteFvecs(string path, IEnumerable<float[]> vectors)
    {
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in vectors)
        {
            w.Write(v.Length);
            foreach (var x in v) w.Write(x);
        }
    }

    public static void WriteIvecs(string path, IEnumerable<int[]> rows)
    {
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in rows)
        {
            w.Write(v.Length);
            foreach (var x in v) w.Write(x);
        }
    }
}
