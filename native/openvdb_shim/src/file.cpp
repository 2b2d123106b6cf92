// file.cpp — .vdb files: atomic multi-grid writes with typed metadata and a whole-file CRC32C, header- and
// metadata-only reads, and grid loads that start only once the layout and checksum are verified.
#include <openvdb/io/Compression.h>
#include <openvdb/tools/Count.h>
#include <openvdb/tree/LeafManager.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include "module_access.h"
#include "vdb_layout.h"

using namespace hs;

namespace {
std::atomic<uint64_t> tempCounter{0};

std::string dirOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

void fsyncPath(const std::string& path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY);
    if (fd < 0) fail(HS_ERR_IO, "cannot open '" + path + "' to sync it: " + std::strerror(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) fail(HS_ERR_IO, "fsync of '" + path + "' failed: " + std::strerror(err));
}

// Writes the whole-file CRC32C into the hs.file_crc32c placeholder of a freshly written file.
void sealWithCrc(const std::string& path) {
    int64_t at;
    uint32_t crc;
    {
        MappedBytes bytes(path);
        const VdbLayout layout = parseVdbLayout(bytes.data(), bytes.size(), path);
        if (layout.crcValueOffset < 0) fail(HS_ERR_INTERNAL, "the checksum placeholder is missing from '" + path + "'");
        at = layout.crcValueOffset;
        crc = vdbFileCrc(bytes.data(), bytes.size(), at);
    }
    const int fd = ::open(path.c_str(), O_WRONLY);
    if (fd < 0) fail(HS_ERR_IO, "cannot reopen '" + path + "': " + std::strerror(errno));
    const int64_t value = int64_t(crc);
    const ssize_t n = ::pwrite(fd, &value, 8, off_t(at));
    const int err = errno;
    ::close(fd);
    if (n != 8) fail(HS_ERR_IO, "cannot write the checksum of '" + path + "': " + std::strerror(err));
}

// Checks the layout (offsets within the file) and, when present, the whole-file CRC, before OpenVDB parses.
void verifyFile(const std::string& path) {
    MappedBytes bytes(path);
    const VdbLayout layout = parseVdbLayout(bytes.data(), bytes.size(), path);
    if (layout.crcValueOffset >= 0 && uint32_t(layout.storedCrc) != vdbFileCrc(bytes.data(), bytes.size(), layout.crcValueOffset))
        fail(HS_ERR_INVALID_DATA, "'" + path + "' is corrupt: its CRC32C does not match the one written with it");
}

// Any OpenVDB failure while parsing a file we could open is a content problem, not an I/O one.
template <typename Fn>
void parsing(const std::string& path, Fn&& fn) {
    try {
        fn();
    } catch (const Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        fail(HS_ERR_INVALID_DATA, "'" + path + "' is corrupt: it asks for more memory than exists");
    } catch (const std::exception& e) {
        fail(HS_ERR_INVALID_DATA, "'" + path + "' is not a readable VDB file: " + e.what());
    }
}
}  // namespace

extern "C" {

HS_API hs_status hs_file_write(const char* path, const hs_grid* const* grids, const char* const* names, int32_t count,
                               const hs_meta* file_meta, int32_t flags) {
    return guarded([&] {
        if (!path || !*path) fail(HS_ERR_INVALID_ARGUMENT, "path is empty");
        if (count < 0 || (count > 0 && (!grids || !names))) fail(HS_ERR_INVALID_ARGUMENT, "grid arrays are NULL");
        if (flags & ~(HS_SAVE_HALF | HS_SAVE_NO_COMPRESSION | HS_SAVE_ZIP))
            fail(HS_ERR_INVALID_ARGUMENT, "unknown save flags " + std::to_string(flags));
        ensureInitialized();
        const bool half = flags & HS_SAVE_HALF;
        openvdb::GridCPtrVec out;
        std::set<std::string> seen;
        for (int32_t i = 0; i < count; ++i) {
            const auto& src = gridOf(grids[i]);
            if (!names[i] || !*names[i]) fail(HS_ERR_INVALID_ARGUMENT, "grid " + std::to_string(i) + " has no name");
            if (!seen.insert(names[i]).second)
                fail(HS_ERR_INVALID_ARGUMENT, std::string("grid name '") + names[i] + "' is used twice");
            if (half) {
                auto mm = openvdb::tools::minMax(src.tree());
                if (std::max(std::fabs(mm.min()), std::fabs(mm.max())) > 65504.0f)
                    fail(HS_ERR_INVALID_ARGUMENT, std::string("grid '") + names[i] +
                                                      "' holds values beyond half precision's 65504; save as float32");
            }
            openvdb::MetaMap meta(static_cast<const openvdb::MetaMap&>(src));
            meta.insertMeta(openvdb::GridBase::META_GRID_NAME, openvdb::StringMetadata(names[i]));
            meta.insertMeta(openvdb::GridBase::META_SAVE_HALF_FLOAT, openvdb::BoolMetadata(half));
            out.push_back(src.copyReplacingMetadata(meta));  // shares the tree; the caller's grid is untouched
        }
        const std::string target(path);
        const auto slash = target.find_last_of('/');
        const std::string temp = dirOf(target) + "/." + (slash == std::string::npos ? target : target.substr(slash + 1)) +
                                 ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(tempCounter++);
        try {
            openvdb::io::File file(temp);
            uint32_t compression = openvdb::io::COMPRESS_ACTIVE_MASK;
            if (flags & HS_SAVE_ZIP) compression |= openvdb::io::COMPRESS_ZIP;
            else if (!(flags & HS_SAVE_NO_COMPRESSION)) compression |= openvdb::io::COMPRESS_BLOSC;
            file.setCompression(compression);
            openvdb::MetaMap fileMeta = file_meta ? file_meta->map : openvdb::MetaMap();
            fileMeta.insertMeta(kFileCrcKey, openvdb::Int64Metadata(0));  // patched below, once the bytes exist
            file.write(out, fileMeta);
            file.close();
            sealWithCrc(temp);
            fsyncPath(temp, false);
            if (std::rename(temp.c_str(), target.c_str()) != 0)
                fail(HS_ERR_IO, "cannot rename '" + temp + "' to '" + target + "': " + std::strerror(errno));
        } catch (const Error&) {
            std::remove(temp.c_str());
            throw;
        } catch (const std::exception& e) {
            std::remove(temp.c_str());
            fail(HS_ERR_IO, "cannot write '" + target + "': " + e.what());
        }
        fsyncPath(dirOf(target), true);
    });
}

HS_API hs_status hs_file_open(const char* path, hs_file** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        if (!path || !*path) fail(HS_ERR_INVALID_ARGUMENT, "path is empty");
        ensureInitialized();
        struct stat st {};
        if (::stat(path, &st) != 0) {
            if (errno == ENOENT) fail(HS_ERR_NOT_FOUND, std::string("'") + path + "' does not exist");
            fail(HS_ERR_IO, std::string("cannot stat '") + path + "': " + std::strerror(errno));
        }
        if (!S_ISREG(st.st_mode)) fail(HS_ERR_IO, std::string("'") + path + "' is not a regular file");
        if (::access(path, R_OK) != 0) fail(HS_ERR_IO, std::string("cannot read '") + path + "': " + std::strerror(errno));
        std::unique_ptr<hs_file> h(new hs_file{});
        h->path = path;
        verifyFile(h->path);
        parsing(h->path, [&] {
            h->file.reset(new openvdb::io::File(h->path));
            // Delayed loading maps the file and leaves leaf buffers unread; hs_file_read_grid then decompresses
            // them in parallel. No private copy: our writers replace files by rename, never in place.
            h->file->setCopyMaxBytes(0);
            h->file->open(/*delayLoad=*/true);
            auto grids = h->file->readAllGridMetadata();
            for (const auto& g : *grids) {
                h->names.push_back(g->getName());
                h->types.push_back(g->type());
            }
        });
        *out = h.release();
        liveHandles.fetch_add(1);
    });
}

HS_API void hs_file_free(hs_file* file) { freeHandle(file); }

HS_API hs_status hs_file_size(const hs_file* file, int64_t* bytes) {
    return guarded([&] {
        need(bytes, "bytes");
        struct stat st {};
        if (::stat(need(file, "file").path.c_str(), &st) != 0)
            fail(HS_ERR_IO, "cannot stat '" + file->path + "': " + std::strerror(errno));
        *bytes = int64_t(st.st_size);
    });
}

HS_API hs_status hs_file_grid_count(const hs_file* file, int32_t* count) {
    return guarded([&] { need(count, "count") = int32_t(need(file, "file").names.size()); });
}

namespace {
size_t gridIndex(const hs_file& f, int32_t index) {
    if (index < 0 || size_t(index) >= f.names.size())
        fail(HS_ERR_OUT_OF_RANGE, "grid index " + std::to_string(index) + " is out of range (file has " +
                                      std::to_string(f.names.size()) + " grids)");
    return size_t(index);
}
}  // namespace

HS_API hs_status hs_file_grid_name(const hs_file* file, int32_t index, char* buffer, int32_t capacity,
                                   int32_t* required) {
    return guarded([&] {
        const auto& f = need(file, "file");
        copyOut(f.names[gridIndex(f, index)], buffer, capacity, required);
    });
}

HS_API hs_status hs_file_grid_type(const hs_file* file, int32_t index, char* buffer, int32_t capacity,
                                   int32_t* required) {
    return guarded([&] {
        const auto& f = need(file, "file");
        copyOut(f.types[gridIndex(f, index)], buffer, capacity, required);
    });
}

HS_API hs_status hs_file_metadata(const hs_file* file, hs_meta** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        const auto& f = need(file, "file");
        openvdb::MetaMap copy;
        parsing(f.path, [&] { copy.insertMeta(*f.file->getMetadata()); });
        *out = newHandle<hs_meta>(std::move(copy));
    });
}

HS_API hs_status hs_file_grid_metadata(hs_file* file, int32_t index, hs_meta** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        auto& f = need(file, "file");
        const size_t i = gridIndex(f, index);
        openvdb::MetaMap copy;
        parsing(f.path, [&] {
            auto g = f.file->readGridMetadata(f.names[i]);
            copy.insertMeta(static_cast<const openvdb::MetaMap&>(*g));
        });
        *out = newHandle<hs_meta>(std::move(copy));
    });
}

HS_API hs_status hs_file_read_grid(hs_file* file, int32_t index, hs_grid** out) {
    return guarded([&] {
        need(out, "out");
        *out = nullptr;
        auto& f = need(file, "file");
        const size_t i = gridIndex(f, index);
        if (f.types[i] != openvdb::FloatGrid::gridType())
            fail(HS_ERR_INVALID_DATA, "grid '" + f.names[i] + "' in '" + f.path + "' is a " + f.types[i] +
                                          " grid; adapters need float grids (" + openvdb::FloatGrid::gridType() + ")");
        openvdb::FloatGrid::Ptr grid;
        parsing(f.path, [&] { grid = openvdb::gridPtrCast<openvdb::FloatGrid>(f.file->readGrid(f.names[i])); });
        if (!grid) fail(HS_ERR_INVALID_DATA, "grid '" + f.names[i] + "' did not load as a float grid");
        // Load every leaf buffer now (in parallel), so the grid no longer depends on the mapped file.
        parsing(f.path, [&] {
            openvdb::tree::LeafManager<openvdb::FloatTree> leaves(grid->tree());
            leaves.foreach([](Leaf& leaf, size_t) { leaf.buffer().data(); });
        });
        std::unique_ptr<hs_grid> h(new hs_grid{grid});
        *out = h.release();
        liveHandles.fetch_add(1);
    });
}

}  // extern "C"
