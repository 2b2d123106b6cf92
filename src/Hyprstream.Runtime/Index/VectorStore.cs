namespace Hyprstream.Runtime.Index;

/// <summary>
/// The index's vectors, laid out flat per metric: float32 for L2/cosine (normalised for cosine), float64 plus a
/// cached 1−|u|² for the Poincaré ball, and optional int8 codes with a per-vector scale for traversal.
/// </summary>
internal sealed class VectorStore
{
    public readonly int Dim;
    public readonly DistanceMetric Metric;
    public readonly bool Quantized;
    private float[] _f = [];
    private double[] _d = [];
    private double[] _rim = [];      // 1 − |u|² (Poincaré)
    private sbyte[] _codes = [];
    private float[] _scale = [];
    private float[] _codeNorm2 = []; // |dequantised code|²
    public int Count { get; private set; }

    public VectorStore(int dim, DistanceMetric metric, bool quantized)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), "dimension must be positive");
        Dim = dim;
        Metric = metric;
        Quantized = quantized;
    }

    /// <summary>A query prepared once for the metric: converted, normalised, quantised.</summary>
    public readonly struct Query
    {
        public readonly float[]? F;
        public readonly double[]? D;
        public readonly double Rim;
        public readonly sbyte[]? Codes;
        public readonly float Scale, CodeNorm2;

        public Query(float[]? f, double[]? d, double rim, sbyte[]? codes, float scale, float codeNorm2)
        {
            F = f; D = d; Rim = rim; Codes = codes; Scale = scale; CodeNorm2 = codeNorm2;
        }
    }

    /// <summary>Checks a vector for this store and returns the form it is kept in; throws ArgumentException.</summary>
    public Query Prepare(ReadOnlySpan<double> v)
    {
        if (v.Length != Dim) throw new ArgumentException($"vector has {v.Length} dimensions; this index holds {Dim}-dimensional vectors");
        double norm2 = 0;
        for (int i = 0; i < v.Length; i++)
        {
            if (!double.IsFinite(v[i])) throw new ArgumentException($"vector component {i} is {v[i]}; components must be finite");
            norm2 += v[i] * v[i];
        }
        switch (Metric)
        {
            case DistanceMetric.Poincare:
                if (norm2 >= 1.0) throw new ArgumentException($"|u| = {Math.Sqrt(norm2):R} is not inside the Poincaré ball (|u| < 1)");
                return new Query(null, v.ToArray(), 1.0 - norm2, null, 0, 0);
            case DistanceMetric.Cosine:
            {
                if (norm2 == 0) throw new ArgumentException("a zero vector has no direction; cosine distance is undefined");
                var f = new float[Dim];
                double inv = 1.0 / Math.Sqrt(norm2);
                for (int i = 0; i < Dim; i++) f[i] = (float)(v[i] * inv);
                return WithCodes(f);
            }
            default:
            {
                var f = new float[Dim];
                for (int i = 0; i < Dim; i++) f[i] = (float)v[i];
                return WithCodes(f);
            }
        }
    }

    private Query WithCodes(float[] f)
    {
        if (!Quantized) return new Query(f, null, 0, null, 0, 0);
        var codes = new sbyte[Dim];
        var (scale, norm2) = Encode(f, codes);
        return new Query(f, null, 0, codes, scale, norm2);
    }

    private static (float Scale, float Norm2) Encode(ReadOnlySpan<float> f, Span<sbyte> codes)
    {
        float max = 0;
        foreach (var x in f) max = Math.Max(max, Math.Abs(x));
        float scale = max == 0 ? 1f : max / 127f;
        double n2 = 0;
        for (int i = 0; i < f.Length; i++)
        {
            codes[i] = (sbyte)Math.Clamp(MathF.Round(f[i] / scale), -127, 127);
            double x = codes[i] * (double)scale;
            n2 += x * x;
        }
        return (scale, (float)n2);
    }

    public int Add(in Query q)
    {
        Grow(Count + 1);
        int id = Count++;
        if (q.D != null)
        {
            q.D.CopyTo(_d, id * Dim);
            _rim[id] = q.Rim;
        }
        else
        {
            q.F!.CopyTo(_f, id * Dim);
            if (Quantized)
            {
                q.Codes!.CopyTo(_codes, id * Dim);
                _scale[id] = q.Scale;
                _codeNorm2[id] = q.CodeNorm2;
            }
        }
        return id;
    }

    /// <summary>Makes room for <paramref name="count"/> vectors at once (a bulk insert must not reallocate while threads read).</summary>
    public void Reserve(int count) => Grow(count);

    private void Grow(int need)
    {
        int cap = Metric == DistanceMetric.Poincare ? _rim.Length : _f.Length / Dim;
        if (need <= cap) return;
        int n = Math.Max(need, Math.Max(16, cap * 2));
        if (Metric == DistanceMetric.Poincare)
        {
            Array.Resize(ref _d, n * Dim);
            Array.Resize(ref _rim, n);
        }
        else
        {
            Array.Resize(ref _f, n * Dim);
            if (Quantized)
            {
                Array.Resize(ref _codes, n * Dim);
                Array.Resize(ref _scale, n);
                Array.Resize(ref _codeNorm2, n);
            }
        }
    }

    /// <summary>Runs <paramref name="user"/> with the walk distance from query <paramref name="q"/> (one compiled loop per metric).</summary>
    public void WithQuery<TU>(in Query q, ref TU user) where TU : struct, IWalkUser
    {
        if (Metric == DistanceMetric.Poincare) { var d = new PoincareWalk(q.D!, 0, q.Rim, _d, _rim, Dim); user.Use(ref d); }
        else if (Quantized) { var d = new Int8Walk(q.Codes!, 0, q.Scale, q.CodeNorm2, _codes, _scale, _codeNorm2, Dim, Metric == DistanceMetric.Cosine); user.Use(ref d); }
        else if (Metric == DistanceMetric.Cosine) { var d = new CosineWalk(q.F!, 0, _f, Dim); user.Use(ref d); }
        else { var d = new L2Walk(q.F!, 0, _f, Dim); user.Use(ref d); }
    }

    /// <summary>Runs <paramref name="user"/> with the walk distance from stored node <paramref name="id"/>.</summary>
    public void WithNode<TU>(int id, ref TU user) where TU : struct, IWalkUser
    {
        if (Metric == DistanceMetric.Poincare) { var d = new PoincareWalk(_d, id * Dim, _rim[id], _d, _rim, Dim); user.Use(ref d); }
        else if (Quantized) { var d = new Int8Walk(_codes, id * Dim, _scale[id], _codeNorm2[id], _codes, _scale, _codeNorm2, Dim, Metric == DistanceMetric.Cosine); user.Use(ref d); }
        else if (Metric == DistanceMetric.Cosine) { var d = new CosineWalk(_f, id * Dim, _f, Dim); user.Use(ref d); }
        else { var d = new L2Walk(_f, id * Dim, _f, Dim); user.Use(ref d); }
    }

    /// <summary>True when the walk distance is the exact one (no re-rank needed): float32 L2 or cosine.</summary>
    public bool WalkIsExact => !Quantized && Metric != DistanceMetric.Poincare;

    /// <summary>Exact ranking distance: squared L2, 1 − cos, or the Poincaré δ.</summary>
    public double Exact(in Query q, int id) => Metric switch
    {
        DistanceMetric.Poincare => VectorMath.PoincareDelta(q.D, q.Rim, new ReadOnlySpan<double>(_d, id * Dim, Dim), _rim[id]),
        DistanceMetric.Cosine => 1f - VectorMath.Dot(q.F, new ReadOnlySpan<float>(_f, id * Dim, Dim)), // in float, as walks rank
        _ => VectorMath.SquaredL2(q.F, new ReadOnlySpan<float>(_f, id * Dim, Dim)),
    };

    /// <summary>Distance as reported to users: squared L2, 1 − cos, or the Poincaré distance 2·asinh(√δ).</summary>
    public double Report(double exact) => Metric == DistanceMetric.Poincare ? VectorMath.PoincareDistance(exact) : exact;

    /// <summary>The stored vector as float64 (cosine vectors are the normalised ones).</summary>
    public double[] Vector(int id)
    {
        var v = new double[Dim];
        if (Metric == DistanceMetric.Poincare) Array.Copy(_d, id * Dim, v, 0, Dim);
        else for (int i = 0; i < Dim; i++) v[i] = _f[id * Dim + i];
        return v;
    }

    /// <summary>Bytes held for vectors: hot (walked by searches) and exact (used to re-rank).</summary>
    public (long Hot, long Exact) Bytes()
    {
        long exact = Metric == DistanceMetric.Poincare ? (long)Count * (Dim * 8 + 8) : (long)Count * Dim * 4;
        long hot = Quantized ? (long)Count * (Dim + 8) : exact;
        return (hot, exact);
    }
}
