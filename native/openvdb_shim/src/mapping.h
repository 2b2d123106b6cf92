// mapping.h — the "hs.tile8x64" v1 matrix -> voxel mapping. The one place the shim defines it.
//
// A module (rows x cols, row-major) is cut into 8x64 tiles; tile (tr, tc) is slot
// slot_base + tr * ceil(cols/64) + tc. Slots fill a leaf (8^3) each, 4096 consecutive slots fill one lower
// node (16^3 leaves) and 32768 consecutive lower nodes fill one upper node, in OpenVDB's own child order,
// so the tree's leaf order is slot order. Inside a tile, (r, c) sits at voxel (r&7, (c>>3)&7, c&7), which
// is leaf offset (r&7)*64 + (c&63): the tile is a dense row-major 8x64 block.
#pragma once
#include <openvdb/openvdb.h>
#include <cstdint>
#include "hyprstream_shim.h"

namespace hs {

constexpr int kTileRows = 8;
constexpr int kTileCols = 64;
constexpr int kTileSize = kTileRows * kTileCols;  // = LeafNode::SIZE
constexpr const char* kMappingName = "hs.tile8x64";
constexpr int kMappingVersion = 1;
// Upper nodes are laid along x; int32 coordinates allow this many of them.
constexpr int64_t kMaxSlots = int64_t(1) << 39;

inline int64_t tilesPerRow(const hs_module& m) { return (int64_t(m.cols) + kTileCols - 1) / kTileCols; }
inline int64_t tileRowCount(const hs_module& m) { return (int64_t(m.rows) + kTileRows - 1) / kTileRows; }
inline int64_t tileCount(const hs_module& m) { return tilesPerRow(m) * tileRowCount(m); }

inline openvdb::Coord slotOrigin(int64_t slot) {
    const int64_t lower = slot >> 12, l = slot & 4095;
    const int64_t upper = lower >> 15, u = lower & 32767;
    return openvdb::Coord(int32_t(upper * 4096 + (u >> 10) * 128 + (l >> 8) * 8),
                          int32_t(((u >> 5) & 31) * 128 + ((l >> 4) & 15) * 8),
                          int32_t((u & 31) * 128 + (l & 15) * 8));
}

inline int64_t originSlot(const openvdb::Coord& o) {
    const int64_t x = o.x(), y = o.y(), z = o.z();
    const int64_t upper = x >> 12;
    const int64_t u = (((x >> 7) & 31) << 10) | (((y >> 7) & 31) << 5) | ((z >> 7) & 31);
    const int64_t l = (((x >> 3) & 15) << 8) | (((y >> 3) & 15) << 4) | ((z >> 3) & 15);
    return (((upper << 15) | u) << 12) | l;
}

inline int64_t tileSlot(const hs_module& m, int32_t row, int32_t col) {
    return m.slot_base + int64_t(row >> 3) * tilesPerRow(m) + (col >> 6);
}

inline openvdb::Coord voxel(const hs_module& m, int32_t row, int32_t col) {
    return slotOrigin(tileSlot(m, row, col)).offsetBy(row & 7, (col >> 3) & 7, col & 7);
}

// Offset of (row, col) inside its tile's leaf: (r&7)*64 + (c&63), i.e. ((r&7)<<6)|(((c>>3)&7)<<3)|(c&7).
inline openvdb::Index leafOffset(int32_t row, int32_t col) { return openvdb::Index(((row & 7) << 6) | (col & 63)); }

// Leaf offset n = (r&7)*64 + (c&63); the tile's (row, col) of a slot-relative tile index.
inline void tileCorner(const hs_module& m, int64_t tile, int32_t& row0, int32_t& col0) {
    const int64_t tpr = tilesPerRow(m);
    row0 = int32_t((tile / tpr) * kTileRows);
    col0 = int32_t((tile % tpr) * kTileCols);
}

}  // namespace hs
