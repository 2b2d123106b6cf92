/*
 * hyprstream_shim.h — the whole C ABI of libhyprstream_native.
 *
 * Owns: a thin, exception-free C surface over OpenVDB FloatGrids that hold sparse weight deltas.
 * Must never: let a C++ exception cross this boundary, abort on bad input, or expose a C++ type.
 *
 * Conventions
 *  - Every fallible function returns an hs_status (0 = HS_OK); outputs go through pointers.
 *  - hs_last_error() is the thread-local message of the last failed call on this thread; each call clears it.
 *  - Each opaque handle type has exactly one free function; hs_live_handles() counts handles not yet freed.
 *  - Strings out use "buffer + capacity + required length": pass (NULL, 0) to ask for the length.
 *  - Matrix coordinates are mapped into the grid by the "hs.tile8x64" mapping (version 1); see README.md.
 */
#ifndef HYPRSTREAM_SHIM_H
#define HYPRSTREAM_SHIM_H

#include <stdint.h>

#if defined(_WIN32)
#  define HS_API __declspec(dllexport)
#else
#  define HS_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HS_ABI_MAJOR 1
#define HS_ABI_MINOR 4

typedef int32_t hs_status;
enum {
    HS_OK = 0,
    HS_ERR_INVALID_ARGUMENT = 1,  /* NULL handle, bad shape, NaN/Inf, mismatched shapes */
    HS_ERR_OUT_OF_RANGE = 2,      /* row/col outside the module's shape */
    HS_ERR_IO = 3,                /* the OS or OpenVDB could not read/write a file */
    HS_ERR_INVALID_DATA = 4,      /* corrupt, truncated or foreign file content */
    HS_ERR_NOT_FOUND = 5,         /* missing file, grid or metadata key */
    HS_ERR_OUT_OF_MEMORY = 6,
    HS_ERR_BUFFER_TOO_SMALL = 7,  /* string output: *required says how much */
    HS_ERR_INTERNAL = 8
};

/* Sparsity structures for hs_grid_keep_top. */
enum { HS_STRUCTURE_UNSTRUCTURED = 0, HS_STRUCTURE_TILE = 1 };

/* Save flags for hs_file_write. */
enum {
    HS_SAVE_HALF = 0x1,          /* store values as IEEE half (lossy; |v| > 65504 is refused) */
    HS_SAVE_NO_COMPRESSION = 0x2,/* default is Blosc + active mask */
    HS_SAVE_ZIP = 0x4            /* zlib instead of Blosc */
};

/* Metadata value types (hs_meta_type). */
enum {
    HS_META_OTHER = 0, HS_META_STRING = 1, HS_META_INT32 = 2, HS_META_INT64 = 3,
    HS_META_FLOAT = 4, HS_META_DOUBLE = 5, HS_META_BOOL = 6, HS_META_VEC2I = 7
};

typedef struct hs_grid hs_grid;      /* an openvdb::FloatGrid holding one or many modules */
typedef struct hs_meta hs_meta;      /* an openvdb::MetaMap (typed key/value metadata) */
typedef struct hs_file hs_file;      /* an opened .vdb file: header, metadata and grid descriptors */
typedef struct hs_cursor hs_cursor;  /* a chunked iterator over a module's active weights */
typedef struct hs_nano hs_nano;      /* an immutable NanoVDB grid in one 32-byte-aligned, position-independent buffer */
typedef struct hs_tile_cursor hs_tile_cursor; /* a chunked iterator over a module's stored 8x64 tiles (ABI 1.3) */

/* Where a module's matrix lives in a grid (see the mapping in README.md). */
typedef struct hs_module {
    int64_t slot_base; /* first tile slot of the module */
    int32_t rows;      /* > 0 */
    int32_t cols;      /* > 0 */
} hs_module;

/* ---- library ---- */
HS_API uint32_t hs_abi_version(void);              /* (HS_ABI_MAJOR << 16) | HS_ABI_MINOR */
HS_API const char* hs_build_info(void);            /* static string: shim, OpenVDB and NanoVDB versions */
HS_API const char* hs_last_error(void);            /* thread-local; "" when the last call succeeded */
HS_API int64_t hs_live_handles(void);              /* handles created and not yet freed */
HS_API hs_status hs_initialize(void);              /* idempotent; registers OpenVDB types */
HS_API int64_t hs_module_tile_count(int32_t rows, int32_t cols); /* slots a module of this shape needs; -1 if invalid */

/* ---- grids ---- */
HS_API hs_status hs_grid_create(hs_grid** out);
HS_API void hs_grid_free(hs_grid* grid);
HS_API hs_status hs_grid_clone(const hs_grid* grid, hs_grid** out);
HS_API hs_status hs_grid_get(const hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float* value, int32_t* active);
HS_API hs_status hs_grid_set(hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float value);
HS_API hs_status hs_grid_add(hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float value);
/* Batches are validated whole before any change: one bad entry changes nothing. */
HS_API hs_status hs_grid_set_many(hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols, const float* values, int64_t n);
HS_API hs_status hs_grid_add_many(hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols, const float* values, int64_t n);
HS_API hs_status hs_grid_get_many(const hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols, float* values, int64_t n);
HS_API hs_status hs_grid_active_count(const hs_grid* grid, const hs_module* m /* NULL: whole grid */, int64_t* count);
HS_API hs_status hs_grid_leaf_count(const hs_grid* grid, const hs_module* m /* NULL: whole grid */, int64_t* count);
/* Active voxels of the grid that lie in none of the given modules (a file whose metadata does not cover its data). */
HS_API hs_status hs_grid_count_outside(const hs_grid* grid, const hs_module* modules, int32_t count, int64_t* outside);
HS_API hs_status hs_grid_memory_bytes(const hs_grid* grid, int64_t* bytes);
HS_API hs_status hs_grid_clear_module(hs_grid* grid, const hs_module* m);
/* Deactivates weights with |v| <= tolerance and frees emptied tiles. */
HS_API hs_status hs_grid_prune(hs_grid* grid, const hs_module* m, float tolerance, int64_t* removed);
/* Unstructured: keeps the k largest-magnitude weights. Tile: keeps whole 8x64 tiles in descending order of
 * energy (sum of squares) until at least k weights are kept. energy_kept / energy_total are sums of squares. */
HS_API hs_status hs_grid_keep_top(hs_grid* grid, const hs_module* m, int64_t k, int32_t structure, double* energy_kept, double* energy_total);
/* dst[m_dst] += scale * src[m_src]; shapes must match; dst and src may be the same grid (not the same module). */
HS_API hs_status hs_grid_merge(hs_grid* dst, const hs_module* m_dst, const hs_grid* src, const hs_module* m_src, float scale);
/* Dense row-major rows*cols buffers; from_dense replaces the module's content with entries where |v| > tolerance. */
HS_API hs_status hs_grid_from_dense(hs_grid* grid, const hs_module* m, const float* dense, float tolerance);
HS_API hs_status hs_grid_to_dense(const hs_grid* grid, const hs_module* m, float* dense);
HS_API hs_status hs_grid_sum_squares(const hs_grid* grid, const hs_module* m, double* sum);
/* A 64-bit hash of the active topology and value bits (half-rounded when as_half != 0). */
HS_API hs_status hs_grid_content_hash(const hs_grid* grid, int32_t as_half, int64_t* hash);
HS_API hs_status hs_grid_set_metadata(hs_grid* grid, const hs_meta* meta);  /* replaces all grid metadata */
HS_API hs_status hs_grid_get_metadata(const hs_grid* grid, hs_meta** out);  /* a copy */

/* ---- active-weight cursor (chunked) ---- */
HS_API hs_status hs_cursor_create(const hs_grid* grid, const hs_module* m, hs_cursor** out);
HS_API void hs_cursor_free(hs_cursor* cursor);
/* Fills up to capacity entries in (row, col) order per tile; *written == 0 means the end. */
HS_API hs_status hs_cursor_next(hs_cursor* cursor, int32_t* rows, int32_t* cols, float* values, int64_t capacity, int64_t* written);

/* ---- whole 8x64 tiles (ABI 1.3) ----
 * A tile is 512 floats, row-major 8x64: value r*64 + c of tile (tile_row, tile_col) is weight
 * (tile_row*8 + r, tile_col*64 + c). Tile coordinates run over 0 <= tile_row < ceil(rows/8), 0 <= tile_col < ceil(cols/64).
 * In edge tiles, values outside the module's rows x cols (the padding) read as 0 and must be 0 when written.
 * Writes are validated whole first (range HS_ERR_OUT_OF_RANGE; NaN/Inf and nonzero padding HS_ERR_INVALID_ARGUMENT,
 * naming the tile and its batch index): one bad tile changes nothing. */
HS_API hs_status hs_tile_cursor_create(const hs_grid* grid, const hs_module* m, hs_tile_cursor** out);
HS_API void hs_tile_cursor_free(hs_tile_cursor* cursor);
/* Copies up to capacity stored tiles (inactive weights as 0), in (tile_row, tile_col) order; *written == 0 means the end.
 * Only stored tiles are visited; the cursor resumes after the last tile it returned, so changes between calls are seen. */
HS_API hs_status hs_tile_cursor_next(hs_tile_cursor* cursor, int32_t* tile_rows, int32_t* tile_cols, float* values,
                                     int64_t capacity, int64_t* written);
/* Reads the listed tiles (all zeros for a tile that is not stored). */
HS_API hs_status hs_grid_get_tiles(const hs_grid* grid, const hs_module* m, const int32_t* tile_rows,
                                   const int32_t* tile_cols, float* values, int64_t n);
/* Replaces each listed tile: nonzero values become active weights, exactly-zero (+0 or -0) values inactive; a tile of
 * zeros is removed. A tile listed twice: the later one wins. */
HS_API hs_status hs_grid_set_tiles(hs_grid* grid, const hs_module* m, const int32_t* tile_rows, const int32_t* tile_cols,
                                   const float* values, int64_t n);
/* Adds each listed tile elementwise, creating it where absent. A zero addend leaves its weight as it was (inactive
 * stays inactive); a nonzero one stores old + addend as an active weight, exactly as hs_grid_add_many does. A tile
 * listed twice is added twice. A sum that overflows float32 refuses the whole call before anything changes. */
HS_API hs_status hs_grid_add_tiles(hs_grid* grid, const hs_module* m, const int32_t* tile_rows, const int32_t* tile_cols,
                                   const float* values, int64_t n);

/* ---- typed metadata ---- */
HS_API hs_status hs_meta_create(hs_meta** out);
HS_API void hs_meta_free(hs_meta* meta);
HS_API hs_status hs_meta_count(const hs_meta* meta, int32_t* count);
HS_API hs_status hs_meta_key_at(const hs_meta* meta, int32_t index, char* buffer, int32_t capacity, int32_t* required);
HS_API hs_status hs_meta_type(const hs_meta* meta, const char* key, int32_t* type);
HS_API hs_status hs_meta_remove(hs_meta* meta, const char* key);
HS_API hs_status hs_meta_set_string(hs_meta* meta, const char* key, const char* value);
HS_API hs_status hs_meta_set_int32(hs_meta* meta, const char* key, int32_t value);
HS_API hs_status hs_meta_set_int64(hs_meta* meta, const char* key, int64_t value);
HS_API hs_status hs_meta_set_float(hs_meta* meta, const char* key, float value);
HS_API hs_status hs_meta_set_double(hs_meta* meta, const char* key, double value);
HS_API hs_status hs_meta_set_bool(hs_meta* meta, const char* key, int32_t value);
HS_API hs_status hs_meta_set_vec2i(hs_meta* meta, const char* key, int32_t x, int32_t y);
HS_API hs_status hs_meta_get_string(const hs_meta* meta, const char* key, char* buffer, int32_t capacity, int32_t* required);
/* Integer getters accept int32, int64 and bool entries; real getters accept float and double. */
HS_API hs_status hs_meta_get_int64(const hs_meta* meta, const char* key, int64_t* value);
HS_API hs_status hs_meta_get_double(const hs_meta* meta, const char* key, double* value);
HS_API hs_status hs_meta_get_vec2i(const hs_meta* meta, const char* key, int32_t* x, int32_t* y);

/* ---- compression (zstd) and file-system durability, for the adapter store (ABI 1.2) ---- */
/* Upper bound of hs_zstd_compress's output for n input bytes. */
HS_API hs_status hs_zstd_compress_bound(int64_t n, int64_t* bound);
/* One zstd frame; dict may be (NULL, 0). level 1..19 (0 = zstd's default). A negative level (ABI 1.3) is one of
 * zstd's fast levels with the literals still Huffman-coded: on byte-planed float32 values, where coding the literals
 * is all the gain and match finding finds nothing, about 2x the speed of level 1 at the same size. */
HS_API hs_status hs_zstd_compress(const void* src, int64_t n, void* dst, int64_t capacity, int32_t level,
                                  const void* dict, int64_t dict_size, int64_t* written);
/* Decompresses one frame into dst; a frame that does not fit is HS_ERR_BUFFER_TOO_SMALL, garbage HS_ERR_INVALID_DATA. */
HS_API hs_status hs_zstd_decompress(const void* src, int64_t n, void* dst, int64_t capacity,
                                    const void* dict, int64_t dict_size, int64_t* written);
/* The decompressed size recorded in a frame header; HS_ERR_INVALID_DATA if it is not a frame or has no size. */
HS_API hs_status hs_zstd_content_size(const void* src, int64_t n, int64_t* size);
/* ZDICT_trainFromBuffer over count concatenated samples; writes at most capacity bytes of dictionary. */
HS_API hs_status hs_zstd_train_dictionary(const void* samples, const int64_t* sample_sizes, int32_t count,
                                          void* dict, int64_t capacity, int64_t* written);
/* fsyncs a directory, so a rename or a new file in it survives a power loss. */
HS_API hs_status hs_fs_sync_directory(const char* path);

/* ---- files ---- */
/* Atomic: writes a temporary file beside path, fsyncs it, renames it over path and fsyncs the directory. */
HS_API hs_status hs_file_write(const char* path, const hs_grid* const* grids, const char* const* names, int32_t count,
                               const hs_meta* file_meta, int32_t flags);
/* Reads the header, file metadata and grid descriptors only. */
HS_API hs_status hs_file_open(const char* path, hs_file** out);
HS_API void hs_file_free(hs_file* file);
HS_API hs_status hs_file_size(const hs_file* file, int64_t* bytes);
HS_API hs_status hs_file_grid_count(const hs_file* file, int32_t* count);
HS_API hs_status hs_file_grid_name(const hs_file* file, int32_t index, char* buffer, int32_t capacity, int32_t* required);
HS_API hs_status hs_file_grid_type(const hs_file* file, int32_t index, char* buffer, int32_t capacity, int32_t* required);
HS_API hs_status hs_file_metadata(const hs_file* file, hs_meta** out);
/* Grid metadata (incl. the writer's file_* statistics) without reading voxels. */
HS_API hs_status hs_file_grid_metadata(hs_file* file, int32_t index, hs_meta** out);
/* Loads one float grid; any other grid type is HS_ERR_INVALID_DATA. */
HS_API hs_status hs_file_read_grid(hs_file* file, int32_t index, hs_grid** out);

/* ---- NanoVDB snapshots (ABI 1.1) ---- */
/* Value types of a snapshot. */
enum { HS_NANO_FLOAT32 = 0, HS_NANO_FP16 = 1 };

/* Where the kernels find things in a snapshot buffer. Leaves are breadth-first: leaf i starts at
 * leaf_offset + i * leaf_bytes; its origin is three int32 at +0; its 512 values (float, or uint16 codes with
 * value = code * quantum + minimum, quantum/minimum as floats at +84/+80) start at +value_offset, z fastest. */
typedef struct hs_nano_info {
    int32_t value_type;    /* HS_NANO_FLOAT32 or HS_NANO_FP16 */
    int32_t leaf_bytes;    /* 2144 (float) or 1120 (fp16) */
    int64_t bytes;         /* size of the whole buffer */
    int64_t leaf_count;
    int64_t leaf_offset;   /* byte offset of leaf 0 from the start of the buffer (0 when there are no leaves) */
    int64_t active_voxels;
    int32_t value_offset;  /* byte offset of the values inside a leaf */
    int32_t reserved;
} hs_nano_info;

/* Converts a grid (all of it) with nanovdb::openToNanoVDB; inactive voxels become 0. Metadata is not carried. */
HS_API hs_status hs_nano_from_grid(const hs_grid* grid, int32_t value_type, hs_nano** out);
HS_API void hs_nano_free(hs_nano* nano);
/* The buffer stays valid and unchanged until hs_nano_free. */
HS_API hs_status hs_nano_data(const hs_nano* nano, const void** data, int64_t* bytes);
HS_API hs_status hs_nano_get_info(const hs_nano* nano, hs_nano_info* info);
/* Copies and validates foreign bytes (magic, version, sizes, grid type, node bounds): HS_ERR_INVALID_DATA if bad. */
HS_API hs_status hs_nano_from_buffer(const void* data, int64_t bytes, hs_nano** out);
/* The module table read with the snapshot file ("" for a snapshot made in memory). */
HS_API hs_status hs_nano_table(const hs_nano* nano, char* buffer, int32_t capacity, int32_t* required);
/* Snapshot file: 32-byte header "HSNVDB01", the table (UTF-8, padded to 32 bytes), the raw NanoVDB buffer; atomic. */
HS_API hs_status hs_nano_write(const hs_nano* nano, const char* path, const char* table);
HS_API hs_status hs_nano_read(const char* path, hs_nano** out);
/* (ABI 1.4) Maps a snapshot file read-only instead of reading it: the buffer is the file's pages (nothing is copied
 * or decoded; pages load on first touch). Always checked: the header, the sizes and the NanoVDB structure (every node
 * offset inside the buffer). With verify_checksum != 0 the CRC32C of table + grid is checked too, which reads every
 * page: do it for files this process did not write. The file must not be changed while mapped (the store only ever
 * replaces snapshot files by rename, which keeps a mapped old file intact). */
HS_API hs_status hs_nano_map(const char* path, int32_t verify_checksum, hs_nano** out);
/* (ABI 1.4) The origin (x, y, z) of every leaf, xyz[3*i .. 3*i+2] for leaf i (count = leaf_count), found from the
 * lower nodes' child masks and child references without reading any leaf: indexing a mapped snapshot so touches
 * only its internal nodes' pages, not the whole file. */
HS_API hs_status hs_nano_leaf_origins(const hs_nano* nano, int32_t* xyz, int64_t count);
/* (ABI 1.4) A writable grid with the snapshot's contents, made by copying whole leaves (values and active masks):
 * the promotion of a read-only snapshot for writing. Float32 snapshots only (Fp16 is lossy: HS_ERR_INVALID_ARGUMENT). */
HS_API hs_status hs_grid_from_nano(const hs_nano* nano, hs_grid** out);

#ifdef __cplusplus
}
#endif
#endif
