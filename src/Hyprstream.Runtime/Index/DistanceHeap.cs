namespace Hyprstream.Runtime.Index;

/// <summary>
/// A binary min-heap of (distance, node) kept in two parallel arrays that are reused from search to search: a
/// search keeps its candidates nearest first, and its results under negated distances so the farthest is on top.
/// No allocation once grown; no comparer, no boxing.
/// </summary>
internal sealed class DistanceHeap
{
    private float[] _d = new float[64];
    private int[] _id = new int[64];
    public int Count { get; private set; }

    public void Clear() => Count = 0;
    public float TopDistance => _d[0];
    public int TopId => _id[0];

    public void Push(float d, int id)
    {
        if (Count == _d.Length) { Array.Resize(ref _d, Count * 2); Array.Resize(ref _id, Count * 2); }
        int i = Count++;
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (_d[p] <= d) break;
            _d[i] = _d[p]; _id[i] = _id[p];
            i = p;
        }
        _d[i] = d; _id[i] = id;
    }

    public void Pop()
    {
        int n = --Count;
        if (n == 0) return;
        float d = _d[n]; int id = _id[n];
        int i = 0;
        while (true)
        {
            int c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && _d[c + 1] < _d[c]) c++;
            if (_d[c] >= d) break;
            _d[i] = _d[c]; _id[i] = _id[c];
            i = c;
        }
        _d[i] = d; _id[i] = id;
    }
}
