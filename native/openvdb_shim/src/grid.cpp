// grid.cpp — grid lifetime, single and batched weight access, counts, memory and grid metadata.
#include <openvdb/tools/Count.h>
#include <openvdb/tools/Prune.h>
#include <algorithm>
#include <type_traits>
#include <vector>
#include "module_access.h"

using namespace hs;

namespace {
// Sums perLeaf over a module's leaves, or asks the tree (whole) when m is NULL.
template <typename Whole, typename PerLeaf>
hs_status countOver(const hs_grid* grid, const hs_module* m, int64_t* count, Whole whole, PerLeaf perLeaf) {
    return guarded([&] {
        need(count, "count");
        const auto& tree = gridOf(grid).tree();
        if (!m) {
            *count = int64_t(whole(tree));
            return;
        }
        int64_t c = 0;
        forEachLeafConst(tree, checkModule(m), [&](const Leaf& leaf, int64_t) { c += int64_t(perLeaf(leaf)); });
        *count = c;
    });
}

// What Grid::memUsage (tools::memUsage) counts — the root, each internal node's table and masks, each leaf's
// memUsage, sizeof(tree) — without visiting leaves. Every leaf of an hs_grid is in core with its 512 values
// allocated (hs_file_read_grid loads every buffer; nothing here makes a leaf without one), so each costs the same,
// and a lower node's leaf count is a popcount of its child mask. Grid::memUsage touches every leaf through a
// DynamicNodeManager: 3-5 ms for a 28 K-leaf adapter, which the store paid after every write.
int64_t memoryBytes(const Tree& tree) {
    int64_t sum = int64_t(sizeof(tree) + sizeof(tree.root()));
    for (auto upper = tree.root().cbeginChildOn(); upper; ++upper) {
        sum += nodeTableBytes<UpperNode>();
        for (auto lower = upper->cbeginChildOn(); lower; ++lower)
            sum += nodeTableBytes<LowerNode>() + int64_t(lower->getChildMask().countOn()) * kLeafMemoryBytes;
    }
    return sum;
}
}  // namespace

extern "C" {

HS_API hs_status hs_grid_create(hs_grid** out) {
    return guarded([&] {
        need(out, "out") ;
        *out = nullptr;
        ensureInitialized();
        auto g = openvdb::FloatGrid::create(0.0f);
        g->setGridClass(openvdb::GRID_UNKNOWN);
        *out = newHandle<hs_grid>(g);
    });
}

HS_API void hs_grid_free(hs_grid* grid) { freeHandle(grid); }

HS_API hs_status hs_grid_clone(const hs_grid* grid, hs_grid** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        auto copy = gridOf(grid).deepCopy();
        *out = newHandle<hs_grid>(copy);
    });
}

HS_API hs_status hs_grid_get(const hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float* value,
                             int32_t* active) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        checkCoord(mod, row, col);
        float v = 0.0f;
        const bool on = gridOf(grid).tree().probeValue(voxel(mod, row, col), v);
        if (value) *value = on ? v : 0.0f;
        if (active) *active = on ? 1 : 0;
    });
}

HS_API hs_status hs_grid_set(hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float value) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        checkCoord(mod, row, col);
        checkFinite(value);
        gridOf(grid).tree().setValueOn(voxel(mod, row, col), value);
    });
}

HS_API hs_status hs_grid_add(hs_grid* grid, const hs_module* m, int32_t row, int32_t col, float value) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        checkCoord(mod, row, col);
        checkFinite(value);
        auto& tree = gridOf(grid).tree();
        const auto xyz = voxel(mod, row, col);
        float old = 0.0f;
        if (!tree.probeValue(xyz, old)) old = 0.0f;
        const float sum = old + value;
        if (!std::isfinite(sum)) fail(HS_ERR_INVALID_ARGUMENT, "adding overflows the weight to infinity");
        tree.setValueOn(xyz, sum);
    });
}

namespace {
void validateBatch(const hs_module& m, const int32_t* rows, const int32_t* cols, const float* values, int64_t n) {
    if (n < 0) fail(HS_ERR_INVALID_ARGUMENT, "batch length is negative");
    if (n > 0 && (!rows || !cols || !values)) fail(HS_ERR_INVALID_ARGUMENT, "batch arrays are NULL");
    for (int64_t i = 0; i < n; ++i) {
        checkCoord(m, rows[i], cols[i], i);
        checkFinite(values[i], i);
    }
}

// The leaf of each entry of a batch, looked up once per run of consecutive entries that share a tile.
class TileRun {
public:
    TileRun(openvdb::FloatGrid& grid, const hs_module& m) : acc_(grid.getUnsafeAccessor()), m_(m) {}
    Leaf& leafOf(int32_t row, int32_t col) {
        const int64_t slot = tileSlot(m_, row, col);
        if (slot != last_) {
            leaf_ = acc_.touchLeaf(slotOrigin(slot));
            last_ = slot;
        }
        return *leaf_;
    }

private:
    openvdb::FloatGrid::UnsafeAccessor acc_;
    const hs_module& m_;
    int64_t last_ = -1;
    Leaf* leaf_ = nullptr;
};
}  // namespace

HS_API hs_status hs_grid_set_many(hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols,
                                  const float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        auto& g = gridOf(grid);
        validateBatch(mod, rows, cols, values, n);
        TileRun tiles(g, mod);
        for (int64_t i = 0; i < n; ++i) tiles.leafOf(rows[i], cols[i]).setValueOn(leafOffset(rows[i], cols[i]), values[i]);
    });
}

HS_API hs_status hs_grid_add_many(hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols,
                                  const float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        auto& g = gridOf(grid);
        validateBatch(mod, rows, cols, values, n);
        // The prior state of every touched weight, so a sum that overflows rolls the whole batch back exactly.
        std::vector<float> oldValue(static_cast<size_t>(n));
        std::vector<bool> wasOn(static_cast<size_t>(n));
        TileRun tiles(g, mod);
        for (int64_t i = 0; i < n; ++i) {
            Leaf& leaf = tiles.leafOf(rows[i], cols[i]);
            const openvdb::Index off = leafOffset(rows[i], cols[i]);
            const bool on = leaf.isValueOn(off);
            const float old = on ? leaf.getValue(off) : 0.0f;
            const float sum = old + values[i];
            if (!std::isfinite(sum)) {
                for (int64_t j = i - 1; j >= 0; --j) {
                    Leaf& back = tiles.leafOf(rows[j], cols[j]);
                    const openvdb::Index at = leafOffset(rows[j], cols[j]);
                    if (wasOn[size_t(j)]) back.setValueOn(at, oldValue[size_t(j)]);
                    else back.setValueOff(at, 0.0f);
                }
                fail(HS_ERR_INVALID_ARGUMENT, "adding batch index " + std::to_string(i) +
                                                  " overflows the weight to infinity; the batch was not applied");
            }
            oldValue[size_t(i)] = old;
            wasOn[size_t(i)] = on;
            leaf.setValueOn(off, sum);
        }
    });
}

HS_API hs_status hs_grid_get_many(const hs_grid* grid, const hs_module* m, const int32_t* rows, const int32_t* cols,
                                  float* values, int64_t n) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        const auto& g = gridOf(grid);
        if (n < 0) fail(HS_ERR_INVALID_ARGUMENT, "batch length is negative");
        if (n > 0 && (!rows || !cols || !values)) fail(HS_ERR_INVALID_ARGUMENT, "batch arrays are NULL");
        for (int64_t i = 0; i < n; ++i) checkCoord(mod, rows[i], cols[i], i);
        auto acc = g.getConstUnsafeAccessor();
        for (int64_t i = 0; i < n; ++i) {
            float v = 0.0f;
            values[i] = acc.probeValue(voxel(mod, rows[i], cols[i]), v) ? v : 0.0f;
        }
    });
}


HS_API hs_status hs_grid_active_count(const hs_grid* grid, const hs_module* m, int64_t* count) {
    return countOver(grid, m, count, [](const Tree& t) { return t.activeVoxelCount(); },
                     [](const Leaf& leaf) { return leaf.onVoxelCount(); });
}

HS_API hs_status hs_grid_leaf_count(const hs_grid* grid, const hs_module* m, int64_t* count) {
    return countOver(grid, m, count, [](const Tree& t) { return t.leafCount(); }, [](const Leaf&) { return 1; });
}

HS_API hs_status hs_grid_count_outside(const hs_grid* grid, const hs_module* modules, int32_t count, int64_t* outside) {
    return guarded([&] {
        need(outside, "outside");
        if (count < 0 || (count > 0 && !modules)) fail(HS_ERR_INVALID_ARGUMENT, "module array is NULL");
        std::vector<hs_module> sorted(modules, modules + count);
        for (const auto& m : sorted) checkModule(&m);
        std::sort(sorted.begin(), sorted.end(), [](const hs_module& a, const hs_module& b) { return a.slot_base < b.slot_base; });
        const auto& tree = gridOf(grid).tree();
        // Active tiles above leaf level: no module stores weights that way, so every voxel they cover is outside.
        int64_t n = int64_t(tree.activeVoxelCount() - tree.activeLeafVoxelCount());
        for (auto leaf = tree.cbeginLeaf(); leaf; ++leaf) {
            const int64_t slot = originSlot(leaf->origin());
            // originSlot ignores y, z >= 4096 and negative coordinates: only leaves the mapping itself places count.
            if (slot < 0 || slotOrigin(slot) != leaf->origin()) {
                n += int64_t(leaf->onVoxelCount());
                continue;
            }
            auto it = std::upper_bound(sorted.begin(), sorted.end(), slot,
                                       [](int64_t s, const hs_module& m) { return s < m.slot_base; });
            bool inside = false;
            if (it != sorted.begin()) {
                const hs_module& m = *(it - 1);
                const int64_t tile = slot - m.slot_base;
                if (tile < tileCount(m)) {
                    // The tile is the module's; its voxels must also fall inside the shape (edge tiles are partial).
                    int32_t row0, col0;
                    tileCorner(m, tile, row0, col0);
                    inside = true;
                    const bool edge = row0 + kTileRows > m.rows || col0 + kTileCols > m.cols;
                    if (edge)
                        for (auto v = leaf->cbeginValueOn(); v; ++v)
                            if (row0 + int32_t(v.pos() >> 6) >= m.rows || col0 + int32_t(v.pos() & 63) >= m.cols) ++n;
                }
            }
            if (!inside) n += int64_t(leaf->onVoxelCount());
        }
        *outside = n;
    });
}

HS_API hs_status hs_grid_memory_bytes(const hs_grid* grid, int64_t* bytes) {
    return guarded([&] {
        need(bytes, "bytes");
        const auto& h = need(grid, "grid");
        int64_t known = h.memoryBytes.load(std::memory_order_relaxed);
        if (known < 0) {
            known = memoryBytes(gridOf(grid).tree());
            h.memoryBytes.store(known, std::memory_order_relaxed);
        }
        *bytes = known;
    });
}

HS_API hs_status hs_grid_clear_module(hs_grid* grid, const hs_module* m) {
    return guarded([&] {
        const auto& mod = checkModule(m);
        auto& tree = gridOf(grid).tree();
        std::vector<openvdb::Coord> origins;
        forEachLeaf(tree, mod, [&](Leaf& leaf, int64_t) { origins.push_back(leaf.origin()); });
        for (const auto& o : origins) dropLeaf(tree, o);
        if (!origins.empty()) openvdb::tools::pruneInactive(tree);
    });
}

HS_API hs_status hs_grid_set_metadata(hs_grid* grid, const hs_meta* meta) {
    return guarded([&] {
        auto& g = gridOf(grid);
        const auto& src = need(meta, "meta");
        const std::string name = g.getName();
        g.clearMetadata();
        g.insertMeta(src.map);
        g.setGridClass(openvdb::GRID_UNKNOWN);
        if (!name.empty()) g.setName(name);
    });
}

HS_API hs_status hs_grid_get_metadata(const hs_grid* grid, hs_meta** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& g = gridOf(grid);
        openvdb::MetaMap copy;
        copy.insertMeta(static_cast<const openvdb::MetaMap&>(g));
        *out = newHandle<hs_meta>(std::move(copy));
    });
}

}  // extern "C"
