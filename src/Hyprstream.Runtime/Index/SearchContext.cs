namespace Hyprstream.Runtime.Index;

/// <summary>
/// One thread's scratch for graph walks: the visited set (epoch-stamped, so a new walk costs one increment, not a
/// clear), the candidate and result heaps, and the neighbour-selection buffers. Reused by every search and insert on
/// the thread, so the query path allocates nothing once warm.
/// </summary>
internal sealed class SearchContext
{
    [ThreadStatic] private static SearchContext? t_context;

    private ushort[] _visited = [];
    private ushort _epoch;
    public readonly DistanceHeap Candidates = new();
    public readonly DistanceHeap Results = new();
    /// <summary>Neighbour selection: candidates sorted by distance, and the ones kept.</summary>
    public (int Id, float Dist)[] Pool = new (int, float)[64];
    public (int Id, float Dist)[] Kept = new (int, float)[64];
    /// <summary>Shrinking one full link list (a node's links plus the new one), while Pool/Kept hold the insert's.</summary>
    public (int Id, float Dist)[] ShrinkKept = new (int, float)[64];
    private (int Id, float Dist)[] _shrink = new (int, float)[64];

    /// <summary>The calling thread's context (each walk calls <see cref="Start"/> first).</summary>
    public static SearchContext Current => t_context ??= new SearchContext();

    /// <summary>Starts a new walk: a new epoch (the array is cleared once every 65,535 walks), empty heaps.</summary>
    public void Start(int nodes)
    {
        if (_visited.Length < nodes)
        {
            _visited = new ushort[Math.Max(nodes, _visited.Length * 2)];
            _epoch = 0;
        }
        if (++_epoch == 0)
        {
            Array.Clear(_visited);
            _epoch = 1;
        }
        Candidates.Clear();
        Results.Clear();
    }

    /// <summary>Marks a node visited; false when this walk has seen it already.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool Visit(int id)
    {
        ref ushort v = ref System.Runtime.CompilerServices.Unsafe.Add(
            ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_visited), id);
        if (v == _epoch) return false;
        v = _epoch;
        return true;
    }

    public (int Id, float Dist)[] ShrinkPool(int n)
    {
        if (_shrink.Length < n) _shrink = new (int, float)[Math.Max(n, _shrink.Length * 2)];
        if (ShrinkKept.Length < n) ShrinkKept = new (int, float)[Math.Max(n, ShrinkKept.Length * 2)];
        return _shrink;
    }

    private int[] _linkCopy = [];

    /// <summary>A buffer for one link list copied under its node's lock (parallel inserts only).</summary>
    public int[] LinkCopy(int n) => _linkCopy.Length >= n ? _linkCopy : (_linkCopy = new int[n]);

    public void EnsurePool(int n)
    {
        if (Pool.Length < n) Pool = new (int, float)[Math.Max(n, Pool.Length * 2)];
        if (Kept.Length < n) Kept = new (int, float)[Math.Max(n, Kept.Length * 2)];
    }
}
