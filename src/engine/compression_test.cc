#include "engine/compression.h"

#include <gtest/gtest.h>

#include "base/random.h"
#include "base/status.h"

namespace cairn::engine {
namespace {

std::string Compressible(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; i++) s += "key" + std::to_string(i % 100) + "value-value;";
  s.resize(n);
  return s;
}

std::string Incompressible(size_t n, uint64_t seed) {
  Random rnd(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rnd.Next());
  return s;
}

class CompressionTest : public ::testing::TestWithParam<CompressionType> {};

TEST_P(CompressionTest, RoundTripsAndShrinks) {
  for (size_t n : {size_t{100}, size_t{4096}, size_t{1} << 20}) {
    std::string raw = Compressible(n), out;
    ASSERT_TRUE(CompressBlock(GetParam(), raw, &out)) << n;
    EXPECT_LT(out.size(), raw.size() / 2);
    auto back = UncompressBlock(GetParam(), out);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->data, raw);
  }
}

TEST_P(CompressionTest, IncompressibleDataIsLeftRaw) {
  std::string out;
  EXPECT_FALSE(CompressBlock(GetParam(), Incompressible(4096, 7), &out));
}

TEST_P(CompressionTest, DamagedDataIsCorruptionNeverACrash) {
  std::string raw = Compressible(8192), out;
  ASSERT_TRUE(CompressBlock(GetParam(), raw, &out));
  Random rnd(11);
  for (int i = 0; i < 2000; i++) {
    std::string bad = out;
    if (rnd.OneIn(2)) {
      bad[rnd.Uniform(bad.size())] ^= static_cast<char>(1 + rnd.Uniform(255));
    } else {
      bad.resize(rnd.Uniform(bad.size()));
    }
    auto back = UncompressBlock(GetParam(), bad);
    if (back.ok()) {
      EXPECT_EQ(back->data.size(), raw.size());  // codecs without checksums may "succeed";
    } else {                                     // the block checksum catches those first
      EXPECT_TRUE(IsCorruption(back.status()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressionTest,
                         ::testing::Values(CompressionType::kLz4, CompressionType::kZstd,
                                           CompressionType::kSnappy));

TEST(CompressionTest, NoneAndUnknownTypes) {
  std::string out;
  EXPECT_FALSE(CompressBlock(CompressionType::kNone, "abc", &out));
  EXPECT_TRUE(IsCorruption(UncompressBlock(static_cast<CompressionType>(9),
                                           "\x03"
                                           "abc")
                               .status()));
}

}  // namespace
}  // namespace cairn::engine
