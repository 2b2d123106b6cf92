// module_access.h — validation of module descriptors and coordinates, and leaf visiting by tile slot.
#pragma once
#include <cmath>
#include <string>
#include <openvdb/tree/ValueAccessor.h>
#include "handles.h"
#include "mapping.h"

namespace hs {

using Tree = openvdb::FloatTree;
using Leaf = Tree::LeafNodeType;

inline const hs_module& checkModule(const hs_module* m) {
    const hs_module& mod = need(m, "module");
    if (mod.rows <= 0 || mod.cols <= 0)
        fail(HS_ERR_INVALID_ARGUMENT, "module shape must be positive, got " + std::to_string(mod.rows) + "x" +
                                          std::to_string(mod.cols));
    if (mod.slot_base < 0 || mod.slot_base + tileCount(mod) > kMaxSlots)
        fail(HS_ERR_INVALID_ARGUMENT, "module slot range starting at " + std::to_string(mod.slot_base) +
                                          " does not fit the grid's coordinate space");
    return mod;
}

inline void checkCoord(const hs_module& m, int32_t row, int32_t col, int64_t index = -1) {
    if (row < 0 || row >= m.rows || col < 0 || col >= m.cols) {
        std::string at = index >= 0 ? " at batch index " + std::to_string(index) : "";
        fail(HS_ERR_OUT_OF_RANGE, "(" + std::to_string(row) + ", " + std::to_string(col) + ")" + at +
                                      " is outside the module's " + std::to_string(m.rows) + "x" +
                                      std::to_string(m.cols) + " shape");
    }
}

inline void checkFinite(float v, int64_t index = -1) {
    if (!std::isfinite(v)) {
        std::string at = index >= 0 ? " at batch index " + std::to_string(index) : "";
        fail(HS_ERR_INVALID_ARGUMENT, std::string(std::isnan(v) ? "NaN" : "infinite") + " value" + at +
                                          " refused: adapter weights must be finite");
    }
}

inline openvdb::FloatGrid& gridOf(hs_grid* g) {
    auto& h = need(g, "grid");
    return *h.grid;
}
inline const openvdb::FloatGrid& gridOf(const hs_grid* g) {
    auto& h = need(g, "grid");
    return *h.grid;
}

// Calls fn(leaf, tileIndex) for every allocated leaf of the module, in slot order.
template <typename TreeT, typename Fn>
void forEachLeaf(TreeT& tree, const hs_module& m, Fn&& fn) {
    openvdb::tree::ValueAccessor<TreeT, false> acc(tree);  // callbacks must not change topology
    const int64_t tiles = tileCount(m);
    for (int64_t t = 0; t < tiles; ++t) {
        auto* leaf = acc.probeLeaf(slotOrigin(m.slot_base + t));
        if (leaf) fn(*leaf, t);
    }
}
template <typename Fn>
void forEachLeafConst(const Tree& tree, const hs_module& m, Fn&& fn) {
    openvdb::tree::ValueAccessor<const Tree, false> acc(tree);
    const int64_t tiles = tileCount(m);
    for (int64_t t = 0; t < tiles; ++t) {
        const Leaf* leaf = acc.probeConstLeaf(slotOrigin(m.slot_base + t));
        if (leaf) fn(*leaf, t);
    }
}

// Removes a leaf and leaves an inactive background tile in its place.
inline void dropLeaf(Tree& tree, const openvdb::Coord& origin) { tree.addTile(1, origin, 0.0f, false); }

}  // namespace hs
