// nano.cpp — NanoVDB snapshots of an adapter grid: conversion (float32 or Fp16), the raw buffer for C# and the
// GPU, validation of buffers we did not make, and the snapshot file (".nvdb", our header + the raw grid buffer).
//
// Inference only reads adapters, so a snapshot is immutable. NanoVDB drops OpenVDB metadata; the module table
// travels as an opaque UTF-8 string (the caller's JSON) in the file header instead.
#include <iostream>  // GridValidator.h uses std::cerr without including it
#include <nanovdb/NanoVDB.h>
#include <nanovdb/util/GridValidator.h>
#include <nanovdb/util/OpenToNanoVDB.h>
#include <openvdb/tree/LeafManager.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>
#include "crc32c.h"
#include "module_access.h"
#include "nano_handle.h"

#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // the layout checks below are the point

using namespace hs;

namespace {
std::atomic<uint64_t> tempCounter{0};

// The snapshot file header (little endian, 32 bytes), followed by the table padded to 32 bytes, then the grid.
constexpr char kFileMagic[8] = {'H', 'S', 'N', 'V', 'D', 'B', '0', '1'};
constexpr uint32_t kFileVersion = 1;
struct FileHeader {
    char magic[8];
    uint32_t version;
    uint32_t tableBytes;
    uint64_t gridBytes;
    uint32_t crc;  // CRC32C of table + padding + grid
    uint32_t reserved;
};
static_assert(sizeof(FileHeader) == 32, "file header is 32 bytes");

uint64_t pad32(uint64_t n) { return (n + 31) & ~uint64_t(31); }

using FloatLeaf = nanovdb::NanoLeaf<float>;
using Fp16Leaf = nanovdb::NanoLeaf<nanovdb::Fp16>;

// Inactive voxels may hold stale values (prune only deactivates); the kernels read all 512 values of a leaf,
// so the snapshot is made from a copy whose inactive values are 0.
openvdb::FloatGrid::Ptr zeroedCopy(const openvdb::FloatGrid& src) {
    auto copy = src.deepCopy();
    openvdb::tree::LeafManager<openvdb::FloatTree> leaves(copy->tree());
    leaves.foreach([](openvdb::FloatTree::LeafNodeType& leaf, size_t) {
        for (auto it = leaf.cbeginValueOff(); it; ++it) leaf.setValueOnly(it.pos(), 0.0f);
    });
    return copy;
}

// Every child reference (root tile -> upper, upper -> lower, lower -> leaf) must land exactly on a node of the
// next level's section, so a tree walk (the GPU lookup kernel) never leaves the buffer. Sections are checked first.
template <typename BuildT, typename Bad>
void checkChildren(const uint8_t* p, uint64_t size, Bad&& bad) {
    const auto* grid = reinterpret_cast<const nanovdb::NanoGrid<BuildT>*>(p);
    const auto& tree = grid->tree();
    auto inSection = [&](const void* child, const void* first, uint32_t count, size_t nodeSize, const char* what) {
        const auto c = reinterpret_cast<uintptr_t>(child), f = reinterpret_cast<uintptr_t>(first);
        if (!first || c < f || (c - f) % nodeSize != 0 || (c - f) / nodeSize >= count)
            bad(std::string("a child reference of a ") + what + " points outside its node section");
    };
    const auto* uppers = tree.template getFirstNode<2>();
    const auto* lowers = tree.template getFirstNode<1>();
    const auto* leaves = tree.template getFirstNode<0>();
    const uint32_t nUpper = tree.nodeCount(2), nLower = tree.nodeCount(1), nLeaf = tree.nodeCount(0);
    const auto& root = tree.root();
    const auto* rootData = root.data();
    for (uint32_t i = 0; i < rootData->mTableSize; ++i) {
        const auto* tile = rootData->tile(i);
        if (tile->isChild()) inSection(rootData->getChild(tile), uppers, nUpper, sizeof(*uppers), "root tile");
    }
    for (uint32_t i = 0; i < nUpper; ++i)
        for (auto it = uppers[i].data()->mChildMask.beginOn(); it; ++it)
            inSection(uppers[i].data()->getChild(*it), lowers, nLower, sizeof(*lowers), "upper node");
    for (uint32_t i = 0; i < nLower; ++i)
        for (auto it = lowers[i].data()->mChildMask.beginOn(); it; ++it)
            inSection(lowers[i].data()->getChild(*it), leaves, nLeaf, sizeof(*leaves), "lower node");
}

// Structural checks of bytes that claim to be one NanoVDB float or Fp16 grid; every offset the kernels follow
// is checked against the size before NanoVDB's own validator walks the tree.
void validateBuffer(const uint8_t* p, uint64_t size, const std::string& what) {
    auto bad = [&](const std::string& why) { fail(HS_ERR_INVALID_DATA, what + " is not a valid NanoVDB snapshot: " + why); };
    if (reinterpret_cast<uintptr_t>(p) % NANOVDB_DATA_ALIGNMENT != 0) fail(HS_ERR_INTERNAL, "snapshot buffer is not 32-byte aligned");
    if (size < sizeof(nanovdb::GridData) + sizeof(nanovdb::TreeData<3>))
        bad(std::to_string(size) + " bytes is smaller than a grid header");
    const auto* g = reinterpret_cast<const nanovdb::GridData*>(p);
    if (g->mMagic != NANOVDB_MAGIC_NUMBER) bad("wrong magic number (not NanoVDB data)");
    if (g->mVersion.getMajor() != NANOVDB_MAJOR_VERSION_NUMBER)
        bad(std::string("NanoVDB version ") + g->mVersion.c_str() + ", this build reads major version " +
            std::to_string(NANOVDB_MAJOR_VERSION_NUMBER));
    if (g->mGridSize != size)
        bad("the grid says it is " + std::to_string(g->mGridSize) + " bytes but " + std::to_string(size) + " are present (truncated?)");
    if (g->mGridCount != 1 || g->mGridIndex != 0) bad("expected exactly one grid");
    uint64_t leafSize;
    if (g->mGridType == nanovdb::GridType::Float) leafSize = sizeof(FloatLeaf);
    else if (g->mGridType == nanovdb::GridType::Fp16) leafSize = sizeof(Fp16Leaf);
    else bad("grid type " + std::string(nanovdb::toStr(g->mGridType)) + " is neither float nor fp16");
    const auto* t = reinterpret_cast<const nanovdb::TreeData<3>*>(p + sizeof(nanovdb::GridData));
    const uint64_t treeAt = sizeof(nanovdb::GridData);
    const uint64_t nodeSizes[3] = {leafSize, g->mGridType == nanovdb::GridType::Float ? sizeof(nanovdb::NanoLower<float>) : sizeof(nanovdb::NanoLower<nanovdb::Fp16>),
                                   g->mGridType == nanovdb::GridType::Float ? sizeof(nanovdb::NanoUpper<float>) : sizeof(nanovdb::NanoUpper<nanovdb::Fp16>)};
    for (int level = 0; level < 3; ++level) {
        const uint64_t count = t->mNodeCount[level];
        if (count == 0) continue;
        const uint64_t at = treeAt + t->mNodeOffset[level];
        if (t->mNodeOffset[level] > size || count > size / nodeSizes[level] || at + count * nodeSizes[level] > size)
            bad("level-" + std::to_string(level) + " nodes lie outside the buffer");
    }
    // The root and its tile table (NanoVDB's own checks read them before checking they fit).
    using Root = nanovdb::NanoRoot<float>;  // the Fp16 root has the same layout (its value type is float)
    static_assert(sizeof(Root) == sizeof(nanovdb::NanoRoot<nanovdb::Fp16>), "root layouts differ");
    if (t->mNodeOffset[3] > size || treeAt + t->mNodeOffset[3] + sizeof(Root) > size) bad("the root lies outside the buffer");
    const uint64_t rootAt = treeAt + t->mNodeOffset[3];
    if (rootAt % NANOVDB_DATA_ALIGNMENT != 0) bad("the root is not 32-byte aligned");
    const uint64_t tiles = reinterpret_cast<const Root::DataType*>(p + rootAt)->mTableSize;
    if (tiles > (size - rootAt - sizeof(Root)) / sizeof(Root::DataType::Tile)) bad("the root's tile table lies outside the buffer");
    for (int level = 0; level < 3; ++level)
        if (t->mNodeCount[level] != 0 && (treeAt + t->mNodeOffset[level]) % NANOVDB_DATA_ALIGNMENT != 0)
            bad("level-" + std::to_string(level) + " nodes are not 32-byte aligned");
    if (g->mGridType == nanovdb::GridType::Float) checkChildren<float>(p, size, bad);
    else checkChildren<nanovdb::Fp16>(p, size, bad);
    std::string err = g->mGridType == nanovdb::GridType::Float
        ? nanovdb::GridValidator<float>::check(*reinterpret_cast<const nanovdb::NanoGrid<float>*>(p), false)
        : nanovdb::GridValidator<nanovdb::Fp16>::check(*reinterpret_cast<const nanovdb::NanoGrid<nanovdb::Fp16>*>(p), false);
    if (!err.empty()) bad(err);
}

hs_nano* adopt(const uint8_t* data, uint64_t size, std::string table, const std::string& what) {
    nanovdb::HostBuffer buffer(size);  // 32-byte aligned
    std::memcpy(buffer.data(), data, size);
    validateBuffer(buffer.data(), size, what);
    return newHandle<hs_nano>(nanovdb::GridHandle<nanovdb::HostBuffer>(std::move(buffer)), std::move(table));
}

std::string dirOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

void writeAll(int fd, const void* data, uint64_t n, const std::string& path) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail(HS_ERR_IO, "cannot write '" + path + "': " + std::strerror(errno));
        p += w;
        n -= uint64_t(w);
    }
}

uint64_t regularFileSize(const std::string& p) {
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) fail(HS_ERR_NOT_FOUND, "'" + p + "' does not exist");
    if (!S_ISREG(st.st_mode)) fail(HS_ERR_IO, "'" + p + "' is not a regular file");
    return uint64_t(st.st_size);
}

// The snapshot file's header against the file's size; returns the padded table length.
uint64_t checkHeader(const FileHeader& h, uint64_t size, const std::string& p) {
    auto bad = [&](const std::string& why) { fail(HS_ERR_INVALID_DATA, "'" + p + "' is not a Hyprstream snapshot file: " + why); };
    if (size < sizeof h) bad("it is only " + std::to_string(size) + " bytes");
    if (std::memcmp(h.magic, kFileMagic, 8) != 0) bad("wrong magic (expected HSNVDB01)");
    if (h.version != kFileVersion) bad("format version " + std::to_string(h.version) + " is not 1");
    const uint64_t tablePadded = pad32(h.tableBytes);
    if (h.gridBytes > size || sizeof h + tablePadded + h.gridBytes != size)
        bad("the header announces " + std::to_string(sizeof h + tablePadded + h.gridBytes) + " bytes but the file has " +
            std::to_string(size) + " (truncated or extended)");
    return tablePadded;
}

void checkCrc(const FileHeader& h, const uint8_t* table, const uint8_t* grid, const std::string& p) {
    const uint32_t crc = crc32c(grid, h.gridBytes, crc32c(table, pad32(h.tableBytes)));
    if (crc != h.crc) fail(HS_ERR_INVALID_DATA, "'" + p + "' is not a Hyprstream snapshot file: its CRC32C does not match (corrupt)");
}
}  // namespace

extern "C" {

HS_API hs_status hs_nano_from_grid(const hs_grid* grid, int32_t value_type, hs_nano** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& src = gridOf(grid);
        if (value_type != HS_NANO_FLOAT32 && value_type != HS_NANO_FP16)
            fail(HS_ERR_INVALID_ARGUMENT, "unknown NanoVDB value type " + std::to_string(value_type));
        auto copy = zeroedCopy(src);
        nanovdb::GridHandle<nanovdb::HostBuffer> handle =
            value_type == HS_NANO_FLOAT32
                ? nanovdb::openToNanoVDB<nanovdb::HostBuffer, openvdb::FloatTree, float>(*copy, nanovdb::StatsMode::Default, nanovdb::ChecksumMode::Partial)
                : nanovdb::openToNanoVDB<nanovdb::HostBuffer, openvdb::FloatTree, nanovdb::Fp16>(*copy, nanovdb::StatsMode::Default, nanovdb::ChecksumMode::Partial);
        if (!handle.data()) fail(HS_ERR_INTERNAL, "NanoVDB conversion produced no grid");
        *out = newHandle<hs_nano>(std::move(handle), std::string());
    });
}

HS_API void hs_nano_free(hs_nano* nano) { freeHandle(nano); }

HS_API hs_status hs_nano_data(const hs_nano* nano, const void** data, int64_t* bytes) {
    return guarded([&] {
        const auto& n = need(nano, "nano");
        need(data, "data");
        need(bytes, "bytes");
        *data = n.handle.data();
        *bytes = int64_t(n.handle.size());
    });
}

HS_API hs_status hs_nano_get_info(const hs_nano* nano, hs_nano_info* info) {
    return guarded([&] {
        const auto& n = need(nano, "nano");
        auto& o = need(info, "info");
        const auto* g = reinterpret_cast<const nanovdb::GridData*>(n.handle.data());
        const auto* t = reinterpret_cast<const nanovdb::TreeData<3>*>(n.handle.data() + sizeof(nanovdb::GridData));
        const bool fp16 = g->mGridType == nanovdb::GridType::Fp16;
        o = hs_nano_info{};
        o.value_type = fp16 ? HS_NANO_FP16 : HS_NANO_FLOAT32;
        o.leaf_bytes = int32_t(fp16 ? sizeof(Fp16Leaf) : sizeof(FloatLeaf));
        o.bytes = int64_t(n.handle.size());
        o.leaf_count = int64_t(t->mNodeCount[0]);
        o.leaf_offset = t->mNodeCount[0] ? int64_t(sizeof(nanovdb::GridData) + t->mNodeOffset[0]) : 0;
        o.active_voxels = int64_t(t->mVoxelCount);
        o.value_offset = 96;  // LeafData<float>::mValues and LeafData<Fp16>::mCode (after the 96-byte leaf header)
        static_assert(offsetof(FloatLeaf::DataType, mValues) == 96, "NanoVDB float leaf layout changed");
        static_assert(offsetof(Fp16Leaf::DataType, mCode) == 96, "NanoVDB fp16 leaf layout changed");
        static_assert(offsetof(Fp16Leaf::DataType, mMinimum) == 80 && offsetof(Fp16Leaf::DataType, mQuantum) == 84,
                      "NanoVDB fp16 leaf layout changed");
    });
}

HS_API hs_status hs_nano_from_buffer(const void* data, int64_t bytes, hs_nano** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        if (!data || bytes <= 0) fail(HS_ERR_INVALID_ARGUMENT, "buffer is empty");
        *out = adopt(static_cast<const uint8_t*>(data), uint64_t(bytes), std::string(), "the buffer");
    });
}

HS_API hs_status hs_nano_table(const hs_nano* nano, char* buffer, int32_t capacity, int32_t* required) {
    return guarded([&] { copyOut(need(nano, "nano").table, buffer, capacity, required); });
}

HS_API hs_status hs_nano_write(const hs_nano* nano, const char* path, const char* table) {
    return guarded([&] {
        const auto& n = need(nano, "nano");
        if (!path || !*path) fail(HS_ERR_INVALID_ARGUMENT, "path is empty");
        const std::string t = table ? table : "";
        if (t.size() > (uint64_t(1) << 30)) fail(HS_ERR_INVALID_ARGUMENT, "table is larger than 1 GiB");
        FileHeader h{};
        std::memcpy(h.magic, kFileMagic, 8);
        h.version = kFileVersion;
        h.tableBytes = uint32_t(t.size());
        h.gridBytes = n.handle.size();
        std::string padded = t;
        padded.resize(pad32(t.size()), '\0');
        h.crc = crc32c(n.handle.data(), n.handle.size(), crc32c(reinterpret_cast<const uint8_t*>(padded.data()), padded.size()));
        const std::string target(path);
        const auto slash = target.find_last_of('/');
        const std::string temp = dirOf(target) + "/." + (slash == std::string::npos ? target : target.substr(slash + 1)) +
                                 ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(tempCounter++);
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) fail(HS_ERR_IO, "cannot create '" + temp + "': " + std::strerror(errno));
        try {
            writeAll(fd, &h, sizeof h, target);
            writeAll(fd, padded.data(), padded.size(), target);
            writeAll(fd, n.handle.data(), n.handle.size(), target);
            if (::fsync(fd) != 0) fail(HS_ERR_IO, "fsync of '" + temp + "' failed: " + std::strerror(errno));
            ::close(fd);
            if (std::rename(temp.c_str(), target.c_str()) != 0)
                fail(HS_ERR_IO, "cannot rename '" + temp + "' to '" + target + "': " + std::strerror(errno));
        } catch (...) {
            ::close(fd);
            std::remove(temp.c_str());
            throw;
        }
        const int dfd = ::open(dirOf(target).c_str(), O_DIRECTORY | O_RDONLY);
        if (dfd >= 0) { ::fsync(dfd); ::close(dfd); }
    });
}

HS_API hs_status hs_nano_read(const char* path, hs_nano** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        if (!path || !*path) fail(HS_ERR_INVALID_ARGUMENT, "path is empty");
        const std::string p(path);
        const uint64_t size = regularFileSize(p);
        std::ifstream in(p, std::ios::binary);
        if (!in) fail(HS_ERR_IO, "cannot open '" + p + "'");
        FileHeader h{};
        if (size >= sizeof h) in.read(reinterpret_cast<char*>(&h), sizeof h);
        if (size >= sizeof h && !in) fail(HS_ERR_IO, "cannot read '" + p + "'");
        const uint64_t tablePadded = checkHeader(h, size, p);
        std::string table(tablePadded, '\0');
        in.read(table.data(), std::streamsize(tablePadded));
        nanovdb::HostBuffer buffer(h.gridBytes);
        in.read(reinterpret_cast<char*>(buffer.data()), std::streamsize(h.gridBytes));
        if (!in) fail(HS_ERR_IO, "cannot read '" + p + "'");
        checkCrc(h, reinterpret_cast<const uint8_t*>(table.data()), buffer.data(), p);
        table.resize(h.tableBytes);
        validateBuffer(buffer.data(), h.gridBytes, "'" + p + "'");
        *out = newHandle<hs_nano>(nanovdb::GridHandle<nanovdb::HostBuffer>(std::move(buffer)), std::move(table));
    });
}

HS_API hs_status hs_nano_map(const char* path, int32_t verify_checksum, hs_nano** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        if (!path || !*path) fail(HS_ERR_INVALID_ARGUMENT, "path is empty");
        const std::string p(path);
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) fail(HS_ERR_NOT_FOUND, "'" + p + "' does not exist");
        if (fd < 0) fail(HS_ERR_IO, "cannot open '" + p + "': " + std::strerror(errno));
        struct stat st{};
        if (::fstat(fd, &st) != 0) { ::close(fd); fail(HS_ERR_IO, "cannot stat '" + p + "': " + std::strerror(errno)); }
        if (!S_ISREG(st.st_mode)) { ::close(fd); fail(HS_ERR_IO, "'" + p + "' is not a regular file"); }
        const uint64_t size = uint64_t(st.st_size);
        if (size < sizeof(FileHeader)) { ::close(fd); checkHeader(FileHeader{}, size, p); }
        void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        const int mapErr = errno;
        ::close(fd);  // the mapping keeps the file
        if (map == MAP_FAILED) fail(HS_ERR_IO, "cannot map '" + p + "': " + std::strerror(mapErr));
        try {
            const auto* base = static_cast<const uint8_t*>(map);
            FileHeader h{};
            std::memcpy(&h, base, sizeof h);
            const uint64_t tablePadded = checkHeader(h, size, p);
            const uint8_t* grid = base + sizeof h + tablePadded;  // 32-byte aligned: the map is page aligned
            if (verify_checksum) checkCrc(h, base + sizeof h, grid, p);
            validateBuffer(grid, h.gridBytes, "'" + p + "'");
            auto buffer = nanovdb::HostBuffer::createFull(h.gridBytes, const_cast<uint8_t*>(grid));
            auto* n = newHandle<hs_nano>(nanovdb::GridHandle<nanovdb::HostBuffer>(std::move(buffer)),
                                         std::string(reinterpret_cast<const char*>(base + sizeof h), h.tableBytes));
            n->map = map;
            n->mapBytes = size;
            *out = n;
        } catch (...) {
            ::munmap(map, size);
            throw;
        }
    });
}

HS_API hs_status hs_nano_leaf_origins(const hs_nano* nano, int32_t* xyz, int64_t count) {
    return guarded([&] {
        const auto& n = need(nano, "nano");
        need(xyz, "xyz");
        const auto* g = reinterpret_cast<const nanovdb::GridData*>(n.handle.data());
        auto walk = [&](const auto* grid) {
            const auto& tree = grid->tree();
            const uint32_t leaves = tree.nodeCount(0), lowerCount = tree.nodeCount(1);
            if (count != int64_t(leaves))
                fail(HS_ERR_INVALID_ARGUMENT, "the snapshot has " + std::to_string(leaves) + " leaves, not " + std::to_string(count));
            if (leaves == 0) return;
            const auto* first = tree.template getFirstNode<0>();
            const auto* lowers = tree.template getFirstNode<1>();
            std::vector<uint8_t> seen(leaves, 0);
            // Only the lower nodes are read (their bounding box, child mask and child table): not one leaf page.
            for (uint32_t i = 0; i < lowerCount; ++i) {
                const auto& lower = lowers[i];
                for (auto it = lower.data()->mChildMask.beginOn(); it; ++it) {
                    const uint64_t at = uint64_t(lower.data()->getChild(*it) - first);  // inside the leaf section: checked when adopted
                    if (seen[at]) fail(HS_ERR_INVALID_DATA, "leaf " + std::to_string(at) + " is referenced twice");
                    seen[at] = 1;
                    const auto o = lower.offsetToGlobalCoord(*it);
                    xyz[3 * at] = o[0]; xyz[3 * at + 1] = o[1]; xyz[3 * at + 2] = o[2];
                }
            }
            for (uint32_t i = 0; i < leaves; ++i)
                if (!seen[i]) fail(HS_ERR_INVALID_DATA, "leaf " + std::to_string(i) + " is referenced by no lower node");
        };
        if (g->mGridType == nanovdb::GridType::Float) walk(reinterpret_cast<const nanovdb::NanoGrid<float>*>(n.handle.data()));
        else walk(reinterpret_cast<const nanovdb::NanoGrid<nanovdb::Fp16>*>(n.handle.data()));
    });
}

HS_API hs_status hs_grid_from_nano(const hs_nano* nano, hs_grid** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& n = need(nano, "nano");
        const auto* g = reinterpret_cast<const nanovdb::GridData*>(n.handle.data());
        if (g->mGridType != nanovdb::GridType::Float)
            fail(HS_ERR_INVALID_ARGUMENT, "only a float32 snapshot can be made writable (an Fp16 snapshot has lost precision)");
        const auto* grid = reinterpret_cast<const nanovdb::NanoGrid<float>*>(n.handle.data());
        const uint32_t count = grid->tree().nodeCount(0);
        const FloatLeaf* first = count ? grid->tree().getFirstNode<0>() : nullptr;
        // Leaves are made in parallel (allocation and copying is the work), then linked in serially in the
        // snapshot's breadth-first order, so the accessor's cached path is reused by neighbouring leaves.
        std::vector<openvdb::FloatTree::LeafNodeType*> made(count, nullptr);
        try {
            tbb::parallel_for(tbb::blocked_range<uint32_t>(0, count, 256), [&](const tbb::blocked_range<uint32_t>& r) {
                for (uint32_t i = r.begin(); i < r.end(); ++i) {
                    const auto* src = first + i;
                    const auto o = src->origin();
                    auto* leaf = new openvdb::FloatTree::LeafNodeType(openvdb::PartialCreate(), openvdb::Coord(o[0], o[1], o[2]));
                    leaf->buffer().allocate();
                    std::memcpy(leaf->buffer().data(), src->data()->mValues, sizeof(float) * 512);
                    const auto* words = reinterpret_cast<const uint64_t*>(&src->data()->mValueMask);
                    auto& mask = leaf->getValueMask();
                    for (openvdb::Index w = 0; w < 8; ++w) mask.template getWord<openvdb::Index64>(w) = words[w];
                    made[i] = leaf;
                }
            });
            auto result = openvdb::FloatGrid::create(0.0f);
            auto acc = result->getUnsafeAccessor();
            for (uint32_t i = 0; i < count; ++i) {
                acc.addLeaf(made[i]);
                made[i] = nullptr;
            }
            *out = newHandle<hs_grid>(std::move(result));
        } catch (...) {
            for (auto* leaf : made) delete leaf;
            throw;
        }
    });
}

}  // extern "C"
