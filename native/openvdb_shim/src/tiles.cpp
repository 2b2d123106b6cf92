// tiles.cpp — whole 8x64 tiles in and out: the fast path under the tile flight. The mapping makes a leaf's offset
// r*64 + c the tile's row-major order, so a tile IS one leaf buffer: reads copy a leaf out, writes build new leaves
// from whole buffers (PartialCreate + fill + addLeaf) instead of setting 512 voxels one by one.
//
// Must never: visit declared-but-absent tiles (shapes may declare billions), or change anything before a whole
// call is known to be valid (range, finite values, zero padding, and for add: finite sums).
#include <openvdb/tools/Prune.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "module_access.h"

using namespace hs;

namespace {

// The part of a tile inside the module's shape; the rest of the 8x64 block is padding (edge tiles only).
struct Extent {
    int32_t rows, cols;
    bool edge() const { return rows < kTileRows || cols < kTileCols; }
};

Extent extentOf(const hs_module& m, int64_t tileRow, int64_t tileCol) {
    return {int32_t(std::min<int64_t>(kTileRows, m.rows - tileRow * kTileRows)),
            int32_t(std::min<int64_t>(kTileCols, m.cols - tileCol * kTileCols))};
}

std::string tileAt(int32_t tileRow, int32_t tileCol, int64_t index) {
    return "tile (" + std::to_string(tileRow) + ", " + std::to_string(tileCol) + ") at batch index " +
           std::to_string(index);
}

std::string show(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", double(v));
    return buf;
}

inline uint32_t bitsOf(float v) {
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}

// True when none of the 512 values is NaN or infinite. An all-ones exponent plus one exponent step carries into
// the sign bit; any other exponent does not, so one add/or per value (vectorised) decides the whole tile.
bool allFinite(const float* v) {
    uint32_t acc = 0;
    for (int i = 0; i < kTileSize; ++i) acc |= (bitsOf(v[i]) & 0x7f800000u) + 0x00800000u;
    return (acc & 0x80000000u) == 0;
}

// Per-row masks (word r = row r, bit c = column c) of the values that are not exactly zero (+0 and -0 are zero).
// Returns whether any value is nonzero.
bool nonzeroMask(const float* v, uint64_t words[kTileRows]) {
    uint64_t any = 0;
    for (int r = 0; r < kTileRows; ++r) {
        const float* row = v + r * kTileCols;
        uint64_t w = 0;
#if defined(__SSE2__)
        const __m128 zero = _mm_setzero_ps();
        for (int c = 0; c < kTileCols; c += 4)
            w |= uint64_t(_mm_movemask_ps(_mm_cmpneq_ps(_mm_loadu_ps(row + c), zero))) << c;
#else
        for (int c = 0; c < kTileCols; ++c) w |= uint64_t(row[c] != 0.0f) << c;
#endif
        words[r] = w;
        any |= w;
    }
    return any != 0;
}

void checkArrays(const int32_t* tileRows, const int32_t* tileCols, const void* values, int64_t n) {
    if (n < 0) fail(HS_ERR_INVALID_ARGUMENT, "tile count is negative");
    if (n > 0 && (!tileRows || !tileCols || !values)) fail(HS_ERR_INVALID_ARGUMENT, "tile arrays are NULL");
}

void checkTileCoord(const hs_module& m, int32_t tileRow, int32_t tileCol, int64_t index) {
    const int64_t rowTiles = tileRowCount(m), colTiles = tilesPerRow(m);
    if (tileRow < 0 || tileRow >= rowTiles || tileCol < 0 || tileCol >= colTiles)
        fail(HS_ERR_OUT_OF_RANGE, tileAt(tileRow, tileCol, index) + " is outside the module's " + std::to_string(m.rows) +
                                      "x" + std::to_string(m.cols) + " shape, which has " + std::to_string(rowTiles) +
                                      "x" + std::to_string(colTiles) + " tiles of 8x64");
}

// Everything a write checks before it changes anything: coordinates, finite values, zero padding.
void checkTiles(const hs_module& m, const int32_t* tileRows, const int32_t* tileCols, const float* values, int64_t n) {
    checkArrays(tileRows, tileCols, values, n);
    for (int64_t i = 0; i < n; ++i) {
        checkTileCoord(m, tileRows[i], tileCols[i], i);
        const float* t = values + i * kTileSize;
        if (!allFinite(t)) {
            int j = 0;
            while (std::isfinite(t[j])) ++j;
            fail(HS_ERR_INVALID_ARGUMENT, std::string(std::isnan(t[j]) ? "NaN" : "infinite") + " value at (" +
                                              std::to_string(j / kTileCols) + ", " + std::to_string(j % kTileCols) +
                                              ") of " + tileAt(tileRows[i], tileCols[i], i) +
                                              " refused: adapter weights must be finite");
        }
        const Extent e = extentOf(m, tileRows[i], tileCols[i]);
        if (!e.edge()) continue;
        for (int r = 0; r < kTileRows; ++r)
            for (int c = r < e.rows ? e.cols : 0; c < kTileCols; ++c)
                if (t[r * kTileCols + c] != 0.0f)
                    fail(HS_ERR_INVALID_ARGUMENT,
                         tileAt(tileRows[i], tileCols[i], i) + " has " + show(t[r * kTileCols + c]) + " at (" +
                             std::to_string(r) + ", " + std::to_string(c) + "), in the padding outside the module's " +
                             std::to_string(m.rows) + "x" + std::to_string(m.cols) + " shape: padding must be 0");
    }
}

inline int64_t slotOf(const hs_module& m, int32_t tileRow, int32_t tileCol) {
    return m.slot_base + int64_t(tileRow) * tilesPerRow(m) + tileCol;
}

// Copies a stored leaf out as a tile: inactive voxels and the padding of edge tiles read as 0.
void copyOut(const Leaf& leaf, Extent e, float* out) {
    const float* src = leaf.buffer().data();
    const auto& mask = leaf.getValueMask();
    for (int r = 0; r < kTileRows; ++r) {
        const uint64_t word = mask.template getWord<uint64_t>(r);
        float* row = out + r * kTileCols;
        const float* s = src + r * kTileCols;
        if (word == ~uint64_t(0)) std::memcpy(row, s, sizeof(float) * kTileCols);
        else if (word == 0) std::memset(row, 0, sizeof(float) * kTileCols);
        else for (int c = 0; c < kTileCols; ++c) row[c] = (word >> c) & 1 ? s[c] : 0.0f;
    }
    if (e.edge())
        for (int r = 0; r < kTileRows; ++r) {
            const int from = r < e.rows ? e.cols : 0;
            std::memset(out + r * kTileCols + from, 0, sizeof(float) * (kTileCols - from));
        }
}

// A new leaf holding a tile whose nonzero values are given by words; zeros are stored inactive (and as +0).
Leaf* buildLeaf(const openvdb::Coord& origin, const float* values, const uint64_t words[kTileRows]) {
    std::unique_ptr<Leaf> leaf(new Leaf(openvdb::PartialCreate(), origin, 0.0f, false));
    float* dst = leaf->buffer().data();  // allocated here, uninitialised: every value is written below
    for (int i = 0; i < kTileSize; ++i) dst[i] = values[i] + 0.0f;  // x + 0 is x, except -0 + 0 = +0
    auto& mask = leaf->getValueMask();
    for (int r = 0; r < kTileRows; ++r) mask.template getWord<uint64_t>(r) = words[r];
    return leaf.release();
}

// Refuses an add whose sum would not be finite, changing nothing. Tiles are taken in slot order; a tile listed more
// than once is summed in call order, exactly as the apply pass will.
void checkSums(const Tree& tree, const hs_module& m, const int32_t* tileRows, const int32_t* tileCols,
               const float* values, int64_t n) {
    std::vector<std::pair<int64_t, int64_t>> order(static_cast<size_t>(n));  // (slot, batch index)
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = {slotOf(m, tileRows[i], tileCols[i]), i};
    std::sort(order.begin(), order.end());
    openvdb::tree::ValueAccessor<const Tree, false> acc(tree);
    float cur[kTileSize];
    for (size_t g = 0; g < order.size();) {
        const int64_t slot = order[g].first;
        const Leaf* leaf = acc.probeConstLeaf(slotOrigin(slot));
        if (leaf) copyOut(*leaf, Extent{kTileRows, kTileCols}, cur);
        else std::memset(cur, 0, sizeof cur);
        for (; g < order.size() && order[g].first == slot; ++g) {
            const int64_t i = order[g].second;
            const float* add = values + i * kTileSize;
            for (int j = 0; j < kTileSize; ++j) {
                if (add[j] == 0.0f) continue;
                const float sum = cur[j] + add[j];
                if (!std::isfinite(sum))
                    fail(HS_ERR_INVALID_ARGUMENT, "adding " + tileAt(tileRows[i], tileCols[i], i) +
                                                      " overflows the weight at (" + std::to_string(j / kTileCols) +
                                                      ", " + std::to_string(j % kTileCols) +
                                                      ") of the tile to infinity; the batch was not applied");
                cur[j] = sum;
            }
        }
    }
}

}  // namespace

extern "C" {

HS_API hs_status hs_tile_cursor_create(const hs_grid* grid, const hs_module* m, hs_tile_cursor** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& mod = checkModule(m);
        need(grid, "grid");
        *out = newHandle<hs_tile_cursor>(openvdb::FloatGrid::ConstPtr(grid->grid), mod);
    });
}

HS_API void hs_tile_cursor_free(hs_tile_cursor* cursor) { freeHandle(cursor); }

HS_API hs_status hs_tile_cursor_next(hs_tile_cursor* cursor, int32_t* tile_rows, int32_t* tile_cols, float* values,
                                     int64_t capacity, int64_t* written) {
    return guarded([&] {
        auto& c = need(cursor, "cursor");
        need(written, "written");
        *written = 0;
        if (capacity < 0) fail(HS_ERR_INVALID_ARGUMENT, "capacity is negative");
        if (capacity > 0 && (!tile_rows || !tile_cols || !values)) fail(HS_ERR_INVALID_ARGUMENT, "output arrays are NULL");
        const auto& mod = c.module;
        const int64_t tiles = tileCount(mod), perRow = tilesPerRow(mod);
        int64_t n = 0;
        if (capacity > 0 && c.tile < tiles) {
            // Slot order is (tile_row, tile_col) order; only stored leaves from the cursor's tile on are visited.
            const bool done = visitStoredLeaves(c.grid->tree(), mod.slot_base + c.tile, mod.slot_base + tiles,
                                                [&](const Leaf& leaf, int64_t slot) {
                const int64_t t = slot - mod.slot_base, tr = t / perRow, tc = t % perRow;
                tile_rows[n] = int32_t(tr);
                tile_cols[n] = int32_t(tc);
                copyOut(leaf, extentOf(mod, tr, tc), values + n * kTileSize);
                ++n;
                c.tile = t + 1;
                return n < capacity;
            });
            if (done) c.tile = tiles;
        }
        *written = n;
    });
}

HS_API hs_status hs_grid_get_tiles(const hs_grid* grid, const hs_module* m, const int32_t* tile_rows,
                                   const int32_t* tile_cols, float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        const auto& g = gridOf(grid);
        checkArrays(tile_rows, tile_cols, values, n);
        for (int64_t i = 0; i < n; ++i) checkTileCoord(mod, tile_rows[i], tile_cols[i], i);
        auto acc = g.getConstUnsafeAccessor();
        for (int64_t i = 0; i < n; ++i) {
            float* out = values + i * kTileSize;
            const Leaf* leaf = acc.probeConstLeaf(slotOrigin(slotOf(mod, tile_rows[i], tile_cols[i])));
            if (leaf) copyOut(*leaf, extentOf(mod, tile_rows[i], tile_cols[i]), out);
            else std::memset(out, 0, sizeof(float) * kTileSize);
        }
    });
}

HS_API hs_status hs_grid_set_tiles(hs_grid* grid, const hs_module* m, const int32_t* tile_rows, const int32_t* tile_cols,
                                   const float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        const int64_t knownBytes = need(grid, "grid").memoryBytes.load(std::memory_order_relaxed);
        auto& tree = gridOf(grid).tree();
        checkTiles(mod, tile_rows, tile_cols, values, n);
        // Used for addLeaf only: it caches internal nodes, never leaves, so replacing a leaf leaves nothing stale.
        openvdb::tree::ValueAccessor<Tree, false> acc(tree);
        bool dropped = false;
        NodeGrowth growth;
        uint64_t words[kTileRows];
        for (int64_t i = 0; i < n; ++i) {
            const openvdb::Coord origin = slotOrigin(slotOf(mod, tile_rows[i], tile_cols[i]));
            const float* src = values + i * kTileSize;
            if (nonzeroMask(src, words)) {
                growth.beforeAdding(acc, origin);
                acc.addLeaf(buildLeaf(origin, src, words));  // replaces (deletes) a stored leaf; the tree owns it now
            } else if (tree.probeConstLeaf(origin)) {
                dropLeaf(tree, origin);
                dropped = true;
            }
        }
        if (dropped) openvdb::tools::pruneInactive(tree);
        else if (knownBytes >= 0) grid->memoryBytes.store(knownBytes + growth.bytes(), std::memory_order_relaxed);
    });
}

HS_API hs_status hs_grid_add_tiles(hs_grid* grid, const hs_module* m, const int32_t* tile_rows, const int32_t* tile_cols,
                                   const float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        const int64_t knownBytes = need(grid, "grid").memoryBytes.load(std::memory_order_relaxed);
        auto& tree = gridOf(grid).tree();
        checkTiles(mod, tile_rows, tile_cols, values, n);
        checkSums(tree, mod, tile_rows, tile_cols, values, n);
        // Leaves are only created where none is stored, never replaced: the accessor's leaf cache stays valid.
        openvdb::tree::ValueAccessor<Tree, false> acc(tree);
        NodeGrowth growth;
        uint64_t add[kTileRows];
        for (int64_t i = 0; i < n; ++i) {
            const float* src = values + i * kTileSize;
            if (!nonzeroMask(src, add)) continue;
            const openvdb::Coord origin = slotOrigin(slotOf(mod, tile_rows[i], tile_cols[i]));
            Leaf* leaf = acc.probeLeaf(origin);
            if (!leaf) {
                growth.beforeAdding(acc, origin);
                acc.addLeaf(buildLeaf(origin, src, add));  // 0 + v is v
                continue;
            }
            float* dst = leaf->buffer().data();
            auto& mask = leaf->getValueMask();
            for (int r = 0; r < kTileRows; ++r) {
                if (!add[r]) continue;
                uint64_t& on = mask.template getWord<uint64_t>(r);
                float* d = dst + r * kTileCols;
                const float* s = src + r * kTileCols;
                if (on == ~uint64_t(0) && add[r] == ~uint64_t(0)) {
                    for (int c = 0; c < kTileCols; ++c) d[c] += s[c];
                } else {
                    for (int c = 0; c < kTileCols; ++c)
                        if ((add[r] >> c) & 1) d[c] = ((on >> c) & 1 ? d[c] : 0.0f) + s[c];
                    on |= add[r];
                }
            }
        }
        if (knownBytes >= 0) grid->memoryBytes.store(knownBytes + growth.bytes(), std::memory_order_relaxed);
    });
}

}  // extern "C"
