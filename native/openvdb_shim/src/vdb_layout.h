// vdb_layout.h — a bounds-checked reader of a .vdb file's header, file metadata and grid descriptors.
//
// OpenVDB trusts the sizes it reads; a truncated or damaged file can make it allocate gigabytes or read
// garbage. We walk the layout ourselves first (every length and offset checked against the file size) and,
// for files we wrote, verify a whole-file CRC32C kept in the file metadata entry "hs.file_crc32c".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hs {

constexpr const char* kFileCrcKey = "hs.file_crc32c";

struct VdbGridExtent {
    std::string name, type;
    int64_t gridPos, blockPos, endPos;
};

struct VdbLayout {
    uint32_t fileVersion = 0;
    std::vector<VdbGridExtent> grids;
    int64_t crcValueOffset = -1;  // byte offset of the int64 value of hs.file_crc32c, or -1
    int64_t storedCrc = 0;
};

// Throws hs::Error(HS_ERR_INVALID_DATA) with a message naming the problem.
VdbLayout parseVdbLayout(const uint8_t* data, size_t size, const std::string& path);

// CRC32C of the file with the 8 bytes at crcValueOffset taken as zero.
uint32_t vdbFileCrc(const uint8_t* data, size_t size, int64_t crcValueOffset);

// Maps a file read-only for the duration of a check.
class MappedBytes {
public:
    explicit MappedBytes(const std::string& path);
    ~MappedBytes();
    MappedBytes(const MappedBytes&) = delete;
    MappedBytes& operator=(const MappedBytes&) = delete;
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace hs
