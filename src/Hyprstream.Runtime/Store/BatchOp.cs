namespace Hyprstream.Runtime.Store;

/// <summary>
/// One step of a batch. Set/Add carry parallel arrays; SetTiles/AddTiles carry tile coordinates in RowIndex/ColIndex
/// and 512 values per tile (so <see cref="WeightCount"/> is tiles × 512); Prune's and KeepTop's module "" means every module;
/// SetMetadata's module is "" for metadata and <see cref="AdapterBatch.ProvenanceTarget"/> for provenance.
/// </summary>
public sealed record BatchOp(BatchOpKind Kind, string Module, int Rows = 0, int Cols = 0, float Scalar = 0f,
    int[]? RowIndex = null, int[]? ColIndex = null, float[]? Values = null, string? Key = null, string? Text = null)
{
    public long WeightCount => Values?.Length ?? 0;
}
