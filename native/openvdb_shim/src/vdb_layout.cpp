// vdb_layout.cpp — see vdb_layout.h. Format facts: OpenVDB io::Archive header (file version >= 222):
// int64 magic 0x56444220, uint32 file version, uint32 library major, uint32 minor, uint8 has-grid-offsets,
// 36-byte UUID; then the file MetaMap (int32 count; per entry: string name, string type, int32 size, bytes);
// int32 grid count; per grid: string name, string type, string instance parent, int64 grid/block/end offsets,
// and the next descriptor starts at the end offset. Strings are uint32 length + bytes, little endian.
#include "vdb_layout.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include "crc32c.h"
#include "guard.h"

namespace hs {
namespace {
class Reader {
public:
    Reader(const uint8_t* d, size_t n, const std::string& path) : d_(d), n_(n), path_(path) {}
    size_t pos() const { return p_; }
    void seek(int64_t to, const char* what) {
        if (to < 0 || uint64_t(to) > n_) bad(std::string(what) + " points past the end of the file (truncated?)");
        p_ = size_t(to);
    }
    template <typename T>
    T get(const char* what) {
        if (n_ - p_ < sizeof(T)) bad(std::string("file ends inside ") + what + " (truncated?)");
        T v;
        std::memcpy(&v, d_ + p_, sizeof(T));
        p_ += sizeof(T);
        return v;
    }
    std::string str(const char* what) {
        const uint32_t len = get<uint32_t>(what);
        if (n_ - p_ < len) bad(std::string(what) + " is longer than the rest of the file (truncated?)");
        std::string s(reinterpret_cast<const char*>(d_ + p_), len);
        p_ += len;
        return s;
    }
    void skip(uint64_t len, const char* what) {
        if (n_ - p_ < len) bad(std::string(what) + " is longer than the rest of the file (truncated?)");
        p_ += size_t(len);
    }
    [[noreturn]] void bad(const std::string& why) const {
        fail(HS_ERR_INVALID_DATA, "'" + path_ + "' is not a valid VDB file: " + why);
    }

private:
    const uint8_t* d_;
    size_t n_, p_ = 0;
    const std::string& path_;
};
}  // namespace

VdbLayout parseVdbLayout(const uint8_t* data, size_t size, const std::string& path) {
    Reader r(data, size, path);
    VdbLayout layout;
    if (r.get<int64_t>("the header") != 0x56444220) r.bad("it does not start with the VDB magic number");
    layout.fileVersion = r.get<uint32_t>("the header");
    if (layout.fileVersion < 222) r.bad("file format version " + std::to_string(layout.fileVersion) + " is older than the supported 222");
    r.get<uint32_t>("the header");
    r.get<uint32_t>("the header");
    const uint8_t hasOffsets = r.get<uint8_t>("the header");
    r.skip(36, "the file UUID");
    if (!hasOffsets) r.bad("it was written as a stream without grid offsets; save it with io::File");

    const int32_t metaCount = r.get<int32_t>("the file metadata");
    if (metaCount < 0) r.bad("negative file metadata count");
    for (int32_t i = 0; i < metaCount; ++i) {
        const std::string name = r.str("a file metadata name");
        const std::string type = r.str("a file metadata type");
        const int32_t bytes = r.get<int32_t>("a file metadata size");
        if (bytes < 0) r.bad("negative metadata size for '" + name + "'");
        const bool isCrc = name == kFileCrcKey && type == "int64" && bytes == 8;
        const size_t valueAt = r.pos();
        r.skip(uint64_t(bytes), "a file metadata value");
        if (isCrc) {
            layout.crcValueOffset = int64_t(valueAt);
            std::memcpy(&layout.storedCrc, data + valueAt, 8);
        }
    }

    const int32_t gridCount = r.get<int32_t>("the grid count");
    if (gridCount < 0) r.bad("negative grid count");
    for (int32_t i = 0; i < gridCount; ++i) {
        VdbGridExtent g;
        g.name = r.str("a grid name");
        g.type = r.str("a grid type");
        r.str("a grid instance name");
        const int64_t descriptorEnd = int64_t(r.pos()) + 24;
        g.gridPos = r.get<int64_t>("a grid descriptor");
        g.blockPos = r.get<int64_t>("a grid descriptor");
        g.endPos = r.get<int64_t>("a grid descriptor");
        if (g.gridPos < descriptorEnd || g.blockPos < g.gridPos || g.endPos < g.blockPos)
            r.bad("grid '" + g.name + "' has inconsistent offsets");
        if (uint64_t(g.endPos) > size)
            r.bad("grid '" + g.name + "' ends at byte " + std::to_string(g.endPos) + " but the file has only " +
                  std::to_string(size) + " bytes (truncated?)");
        layout.grids.push_back(g);
        r.seek(g.endPos, "a grid's end offset");
    }
    return layout;
}

uint32_t vdbFileCrc(const uint8_t* data, size_t size, int64_t at) {
    static const uint8_t zeros[8] = {};
    if (at < 0) return crc32c(data, size);
    uint32_t c = crc32c(data, size_t(at));
    c = crc32c(zeros, 8, c);
    return crc32c(data + at + 8, size - size_t(at) - 8, c);
}

MappedBytes::MappedBytes(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(HS_ERR_IO, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        fail(HS_ERR_IO, "cannot stat '" + path + "'");
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            fail(HS_ERR_IO, "cannot map '" + path + "': " + std::strerror(errno));
        }
        data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

MappedBytes::~MappedBytes() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace hs
