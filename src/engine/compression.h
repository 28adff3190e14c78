// Block compression codecs (Debian's liblz4, libzstd, libsnappy).
//
// A compressed block's contents are: varint32 uncompressed size | codec output. The size
// prefix lets every codec decompress into one exact allocation and bounds what a
// damaged block can make the reader allocate.
#ifndef CAIRN_ENGINE_COMPRESSION_H_
#define CAIRN_ENGINE_COMPRESSION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cairn/engine/options.h"
#include "engine/format.h"

namespace cairn::engine {

// Compresses raw into *out (replacing its contents). False if the result would not save
// at least 1/8 of the size (the block is then stored raw) or the codec failed.
bool CompressBlock(CompressionType type, std::string_view raw, std::string* out);

// Inverts CompressBlock. Corruption if the data is damaged or the type unknown.
absl::StatusOr<BlockContents> UncompressBlock(CompressionType type, std::string_view data);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_COMPRESSION_H_
