using System.Runtime.InteropServices;
using Hyprstream.Interop.Handles;

namespace Hyprstream.Interop.OpenVdb;

internal static unsafe partial class Hs
{
    [LibraryImport(Lib)] internal static partial int hs_grid_create(out GridHandle grid);
    [LibraryImport(Lib)] internal static partial void hs_grid_free(nint grid);
    [LibraryImport(Lib)] internal static partial int hs_grid_clone(GridHandle grid, out GridHandle clone);
    [LibraryImport(Lib)] internal static partial int hs_grid_get(GridHandle grid, in HsModule m, int row, int col, out float value, out int active);
    [LibraryImport(Lib)] internal static partial int hs_grid_set(GridHandle grid, in HsModule m, int row, int col, float value);
    [LibraryImport(Lib)] internal static partial int hs_grid_add(GridHandle grid, in HsModule m, int row, int col, float value);
    [LibraryImport(Lib)] internal static partial int hs_grid_set_many(GridHandle grid, in HsModule m, int* rows, int* cols, float* values, long n);
    [LibraryImport(Lib)] internal static partial int hs_grid_add_many(GridHandle grid, in HsModule m, int* rows, int* cols, float* values, long n);
    [LibraryImport(Lib)] internal static partial int hs_grid_get_many(GridHandle grid, in HsModule m, int* rows, int* cols, float* values, long n);
    [LibraryImport(Lib)] internal static partial int hs_grid_active_count(GridHandle grid, HsModule* m, out long count);
    [LibraryImport(Lib)] internal static partial int hs_grid_leaf_count(GridHandle grid, HsModule* m, out long count);
    [LibraryImport(Lib)] internal static partial int hs_grid_count_outside(GridHandle grid, HsModule* modules, int count, out long outside);
    [LibraryImport(Lib)] internal static partial int hs_grid_memory_bytes(GridHandle grid, out long bytes);
    [LibraryImport(Lib)] internal static partial int hs_grid_clear_module(GridHandle grid, in HsModule m);
    [LibraryImport(Lib)] internal static partial int hs_grid_prune(GridHandle grid, in HsModule m, float tolerance, out long removed);
    [LibraryImport(Lib)] internal static partial int hs_grid_keep_top(GridHandle grid, in HsModule m, long k, int structure, out double energyKept, out double energyTotal);
    [LibraryImport(Lib)] internal static partial int hs_grid_merge(GridHandle dst, in HsModule mDst, GridHandle src, in HsModule mSrc, float scale);
    [LibraryImport(Lib)] internal static partial int hs_grid_from_dense(GridHandle grid, in HsModule m, float* dense, float tolerance);
    [LibraryImport(Lib)] internal static partial int hs_grid_to_dense(GridHandle grid, in HsModule m, float* dense);
    [LibraryImport(Lib)] internal static partial int hs_grid_sum_squares(GridHandle grid, HsModule* m, out double sum);
    [LibraryImport(Lib)] internal static partial int hs_grid_content_hash(GridHandle grid, int asHalf, out long hash);
    [LibraryImport(Lib)] internal static partial int hs_grid_set_metadata(GridHandle grid, MetaHandle meta);
    [LibraryImport(Lib)] internal static partial int hs_grid_get_metadata(GridHandle grid, out MetaHandle meta);

    [LibraryImport(Lib)] internal static partial int hs_cursor_create(GridHandle grid, in HsModule m, out CursorHandle cursor);
    [LibraryImport(Lib)] internal static partial void hs_cursor_free(nint cursor);
    [LibraryImport(Lib)] internal static partial int hs_cursor_next(CursorHandle cursor, int* rows, int* cols, float* values, long capacity, out long written);

    [LibraryImport(Lib)] internal static partial int hs_tile_cursor_create(GridHandle grid, in HsModule m, out TileCursorHandle cursor);
    [LibraryImport(Lib)] internal static partial void hs_tile_cursor_free(nint cursor);
    [LibraryImport(Lib)] internal static partial int hs_tile_cursor_next(TileCursorHandle cursor, int* tileRows, int* tileCols, float* values, long capacity, out long written);
    [LibraryImport(Lib)] internal static partial int hs_grid_get_tiles(GridHandle grid, in HsModule m, int* tileRows, int* tileCols, float* values, long n);
    [LibraryImport(Lib)] internal static partial int hs_grid_set_tiles(GridHandle grid, in HsModule m, int* tileRows, int* tileCols, float* values, long n);
    [LibraryImport(Lib)] internal static partial int hs_grid_add_tiles(GridHandle grid, in HsModule m, int* tileRows, int* tileCols, float* values, long n);
}
