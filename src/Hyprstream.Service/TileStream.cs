using Apache.Arrow;
using Apache.Arrow.Types;
using Hyprstream.Flight.Ipc;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Service;

/// <summary>
/// The tile form of a DoGet: each module's stored 8×64 tiles copied whole from the native grid into reusable
/// arrays (<see cref="TileCursor"/>), batchTiles tiles per record batch, as float32 or narrowed
/// to float16 / bfloat16 when the ticket asks (2 bytes per weight on the wire).
/// </summary>
/// <remarks>A cold adapter's modules are read the same way from its mapped snapshot file (<see cref="ITileCursor"/>), in place.</remarks>
internal static class TileStream
{
    public static async Task SendAsync(FlightDataWriter writer, Schema schema, StringArray dictionary, IReadOnlyList<IModuleSource> modules,
        FlightTicket ticket, int batchTiles, CancellationToken ct)
    {
        const int T = WeightSchema.TileSize;
        var tileRows = new int[batchTiles];
        var tileCols = new int[batchTiles];
        var values = new float[batchTiles * T];
        var halves = ticket.Type == WeightType.Float16 ? new Half[batchTiles * T] : null;
        var bf16 = ticket.Type == WeightType.BFloat16 ? new ushort[batchTiles * T] : null;
        var moduleColumn = new ModuleIndices(batchTiles, dictionary);
        int count = 0;

        async Task SendBatch()
        {
            ct.ThrowIfCancellationRequested();
            int n = count * T;
            IArrowArray items = ticket.Type switch
            {
                WeightType.Float16 => Half16(values, halves!, n),
                WeightType.BFloat16 => Brain16(values, bf16!, n),
                _ => Columns.Float32(values, n),
            };
            var batch = new RecordBatch(schema, [
                moduleColumn.Column(schema.GetFieldByIndex(0).DataType, count),
                Columns.Int32(tileRows, count),
                Columns.Int32(tileCols, count),
                Columns.FixedSizeList(items, T, count),
            ], count);
            await writer.WriteAsync(batch, ct: ct); // the arrays are copied once this returns
            count = 0;
        }

        for (int i = 0; i < modules.Count; i++)
        {
            float scale = ticket.Scaled ? modules[i].Scale : 1f;
            using var cursor = modules[i].OpenTiles();
            while (true)
            {
                int n = cursor.Read(tileRows.AsSpan(count), tileCols.AsSpan(count), values.AsSpan(count * T));
                if (n == 0) break;
                if (scale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(values.AsSpan(count * T, n * T), scale, values.AsSpan(count * T, n * T));
                moduleColumn.Fill(count, n, i);
                count += n;
                if (count == batchTiles) await SendBatch();
            }
        }
        if (count > 0) await SendBatch();
    }

    private static HalfFloatArray Half16(float[] values, Half[] halves, int n)
    {
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values.AsSpan(0, n), halves.AsSpan(0, n));
        return new HalfFloatArray(ArrayMemory<Half>.Buffer(halves, n), ArrowBuffer.Empty, n, 0, 0);
    }

    private static UInt16Array Brain16(float[] values, ushort[] bits, int n)
    {
        for (int i = 0; i < n; i++) bits[i] = Bf16.FromSingle(values[i]);
        return new UInt16Array(ArrayMemory<ushort>.Buffer(bits, n), ArrowBuffer.Empty, n, 0, 0);
    }
}
