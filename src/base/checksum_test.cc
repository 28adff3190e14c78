#include "base/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn {
namespace {

TEST(ChecksumTest, StableKnownValues) {
  // XXH3-64 of the empty input with seed 0 is a published constant; the checksum is its
  // low 32 bits. If this changes, every file on disk becomes unreadable.
  EXPECT_EQ(Hash64(""), 0x2D06800538D394C2ULL);
  EXPECT_EQ(Checksum32(""), 0x38D394C2u);
}

TEST(ChecksumTest, DetectsEveryBitFlip) {
  std::string data = "The quick brown fox jumps over the lazy dog";
  uint32_t base = Checksum32(data);
  for (size_t i = 0; i < data.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string copy = data;
      copy[i] ^= static_cast<char>(1 << bit);
      EXPECT_NE(Checksum32(copy), base) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(ChecksumTest, SeedChangesResult) {
  EXPECT_NE(Checksum32("abc", 1), Checksum32("abc", 2));
  EXPECT_EQ(Checksum32("abc", 7), Checksum32("abc", 7));
}

}  // namespace
}  // namespace cairn
