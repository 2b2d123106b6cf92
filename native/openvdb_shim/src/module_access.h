// module_access.h — validation of module descriptors and coordinates, and leaf visiting by tile slot.
#pragma once
#include <algorithm>
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

// Mutable access: the cached memory size is no longer known (see hs_grid::memoryBytes).
inline openvdb::FloatGrid& gridOf(hs_grid* g) {
    auto& h = need(g, "grid");
    h.memoryBytes.store(-1, std::memory_order_relaxed);
    return *h.grid;
}
inline const openvdb::FloatGrid& gridOf(const hs_grid* g) {
    auto& h = need(g, "grid");
    return *h.grid;
}

// What one node costs in hs::memoryBytes, as Grid::memUsage counts it: a leaf in core with its 512 values; an
// internal node's table, masks and origin.
constexpr int64_t kLeafMemoryBytes = int64_t(sizeof(Leaf) + Leaf::SIZE * sizeof(float));
template <typename Node>
inline int64_t nodeTableBytes() {
    return int64_t(Node::NUM_VALUES * sizeof(typename Node::UnionType) + 2 * typename Node::NodeMaskType().memUsage() +
                   sizeof(openvdb::Coord));
}
using LowerNode = Tree::RootNodeType::ChildNodeType::ChildNodeType;
using UpperNode = Tree::RootNodeType::ChildNodeType;

// Counts the nodes that adding a leaf at origin creates (the leaf, and its lower and upper node when missing).
// Asks the lower node's child mask rather than probing the leaf: the accessor then caches internal nodes only, so
// SetTiles, which replaces (deletes) leaves through it, never leaves a freed leaf in its cache.
struct NodeGrowth {
    int64_t leaves = 0, lowers = 0, uppers = 0;
    template <typename Accessor>
    void beforeAdding(Accessor& acc, const openvdb::Coord& origin) {
        if (const auto* lower = acc.template probeConstNode<LowerNode>(origin)) {
            if (!lower->isChildMaskOn(LowerNode::coordToOffset(origin))) ++leaves;
            return;
        }
        ++leaves;
        ++lowers;
        if (!acc.template probeConstNode<UpperNode>(origin)) ++uppers;
    }
    int64_t bytes() const {
        return leaves * kLeafMemoryBytes + lowers * nodeTableBytes<LowerNode>() + uppers * nodeTableBytes<UpperNode>();
    }
};

// Visits the stored leaves whose tile slots lie in [lo, hi), in ascending slot order, by descending the tree
// (root -> upper -> lower -> leaf) through child masks only: the work is proportional to the nodes stored in
// the range, never to the slot count. fn(const Leaf&, slot) returns false to stop; returns false when stopped.
// Only nodes the mapping itself places are visited: upper nodes at (x >= 0, 0, 0) and, below them, children at
// the positions slotOrigin gives (mask offset == slot bits, see mapping.h); leaves anywhere else (negative or
// y/z-displaced coordinates) belong to no slot and are skipped.
template <typename Fn>
bool visitStoredLeaves(const Tree& tree, int64_t lo, int64_t hi, Fn&& fn) {
    using Upper = Tree::RootNodeType::ChildNodeType;
    using Lower = Upper::ChildNodeType;
    constexpr int64_t kLowerSlots = int64_t(1) << Lower::LOG2DIM * 3;  // 4096 leaves per lower node
    constexpr int64_t kUpperLowers = int64_t(1) << Upper::LOG2DIM * 3;  // 32768 lower nodes per upper node
    static_assert(kLowerSlots == 4096 && kUpperLowers == 32768, "the mapping assumes OpenVDB's 5-4-3 float tree");
    if (lo < 0) lo = 0;
    if (hi > kMaxSlots) hi = kMaxSlots;
    if (lo >= hi) return true;
    const int64_t lowerLo = lo >> 12, lowerHi = (hi - 1) >> 12;      // inclusive range of lower-node indices
    const int64_t upperLo = lowerLo >> 15, upperHi = lowerHi >> 15;  // inclusive range of upper-node indices
    // The root table is ordered by (x, y, z) and mapping upper nodes sit at (U * 4096, 0, 0): ascending U.
    for (auto it = tree.root().cbeginChildOn(); it; ++it) {
        const openvdb::Coord o = it.getCoord();
        if (o.x() < 0 || o.y() != 0 || o.z() != 0) continue;
        const int64_t u = int64_t(o.x()) >> 12;
        if (u < upperLo) continue;
        if (u > upperHi) break;
        const Upper& upper = *it;
        const auto& umask = upper.getChildMask();
        const int64_t uBase = u << 15;
        const auto nFirst = openvdb::Index(std::max<int64_t>(lowerLo - uBase, 0));
        const int64_t nLast = std::min<int64_t>(lowerHi - uBase, kUpperLowers - 1);
        for (openvdb::Index n = umask.findNextOn(nFirst); n < Upper::NUM_VALUES && int64_t(n) <= nLast;
             n = umask.findNextOn(n + 1)) {
            const int64_t lowerIndex = uBase + n;
            const int64_t lBase = lowerIndex << 12;
            const Lower* lower = upper.template probeConstNode<Lower>(slotOrigin(lBase));
            if (!lower || lower->origin() != slotOrigin(lBase)) continue;
            const auto& lmask = lower->getChildMask();
            const auto lFirst = openvdb::Index(std::max<int64_t>(lo - lBase, 0));
            const int64_t lLast = std::min<int64_t>(hi - 1 - lBase, kLowerSlots - 1);
            for (openvdb::Index l = lmask.findNextOn(lFirst); l < Lower::NUM_VALUES && int64_t(l) <= lLast;
                 l = lmask.findNextOn(l + 1)) {
                const int64_t slot = lBase + l;
                const openvdb::Coord origin = slotOrigin(slot);
                const Leaf* leaf = lower->template probeConstNode<Leaf>(origin);
                if (!leaf || leaf->origin() != origin) continue;
                if (!fn(*leaf, slot)) return false;
            }
        }
    }
    return true;
}

// Calls fn(leaf, tileIndex) for every stored leaf of the module, in slot order (O(stored leaves of the module)).
// Callbacks must not change the tree's topology.
template <typename Fn>
void forEachLeafConst(const Tree& tree, const hs_module& m, Fn&& fn) {
    visitStoredLeaves(tree, m.slot_base, m.slot_base + tileCount(m), [&](const Leaf& leaf, int64_t slot) {
        fn(leaf, slot - m.slot_base);
        return true;
    });
}
template <typename Fn>
void forEachLeaf(Tree& tree, const hs_module& m, Fn&& fn) {
    // The tree is mutable here, so handing out its leaves mutably is sound.
    forEachLeafConst(tree, m, [&](const Leaf& leaf, int64_t t) { fn(const_cast<Leaf&>(leaf), t); });
}

// Removes a leaf and leaves an inactive background tile in its place.
inline void dropLeaf(Tree& tree, const openvdb::Coord& origin) { tree.addTile(1, origin, 0.0f, false); }

}  // namespace hs
