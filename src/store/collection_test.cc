// Collection encodings, members through the LocalBackend, and reclaiming the members of
// deleted collections by compaction.
#include "store/collection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/db_test_util.h"
#include "store/local_backend.h"

namespace cairn::store {
namespace {

TEST(CollectionEncodingTest, ScoresSortAsTheDoublesDo) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> scores = {-inf, -1e300, -2.5, -1, -1e-300, 0, 1e-300, 1, 2.5, 1e300, inf};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-1e6, 1e6);
  for (int i = 0; i < 1000; i++) scores.push_back(dist(rng));
  std::sort(scores.begin(), scores.end());
  for (size_t i = 0; i + 1 < scores.size(); i++) {
    if (scores[i] == scores[i + 1]) continue;
    EXPECT_LT(EncodeScore(scores[i]), EncodeScore(scores[i + 1])) << scores[i];
  }
  for (double d : scores) EXPECT_EQ(DecodeScore(EncodeScore(d)), d);
  EXPECT_EQ(EncodeScore(-0.0), EncodeScore(0.0));
}

TEST(CollectionEncodingTest, MemberKeysRoundTripAndKeepCollectionsApart) {
  const std::string k = MemberPrefix(3, std::string("a\0b", 3), 42) + "field";
  int db = 0;
  std::string_view user_key, member;
  uint64_t version = 0;
  ASSERT_TRUE(ParseMemberKey(k, &db, &user_key, &version, &member));
  EXPECT_EQ(db, 3);
  EXPECT_EQ(user_key, std::string("a\0b", 3));
  EXPECT_EQ(version, 42u);
  EXPECT_EQ(member, "field");
  // Key "ab" is not a prefix of key "abc"'s members: the length comes first.
  EXPECT_FALSE(std::string_view(MemberPrefix(0, "abc", 1)).starts_with(MemberPrefix(0, "ab", 1)));
  EXPECT_FALSE(ParseMemberKey("Sx", &db, &user_key, &version, &member));
  EXPECT_FALSE(ParseMemberKey(MemberPrefix(0, "key", 1).substr(0, 10), &db, &user_key, &version,
                              &member));
}

TEST(CollectionEncodingTest, MetadataRoundTripsAndRejectsTheWrongSize) {
  CollectionMeta m{7, 3, kListMiddle - 2}, out;
  ASSERT_TRUE(DecodeCollectionMeta(ValueType::kList, EncodeCollectionMeta(ValueType::kList, m),
                                   &out)
                  .ok());
  EXPECT_EQ(out.version, 7u);
  EXPECT_EQ(out.size, 3u);
  EXPECT_EQ(out.head, kListMiddle - 2);
  EXPECT_FALSE(
      DecodeCollectionMeta(ValueType::kHash, EncodeCollectionMeta(ValueType::kList, m), &out)
          .ok());
  EXPECT_FALSE(DecodeCollectionMeta(ValueType::kString, "", &out).ok());
  EXPECT_EQ(DecodeListIndexMember(ListIndexMember(kListMiddle + 5)), kListMiddle + 5);
}

class MembersTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    backend_.reset();
    db_.reset();
    engine::Options o;
    o.compaction_filter_factory = filter_ = std::make_shared<MemberReclaimFilter>();
    auto db = engine::DB::Open(o, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    filter_->Attach(db_.get());
    auto backend = LocalBackend::Open(db_.get());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }
  // Creates hash `key` with n fields f000.. in one batch; returns its version.
  uint64_t MakeHash(std::string_view key, int n) {
    const uint64_t version = backend_->NewVersion();
    std::vector<Mutation> batch;
    Record r{ValueType::kHash, 0,
             EncodeCollectionMeta(ValueType::kHash, {version, static_cast<uint64_t>(n)})};
    batch.push_back(Mutation::Put(0, std::string(key), r));
    for (int i = 0; i < n; i++) {
      batch.push_back(Mutation::PutMember(0, std::string(key), version,
                                          absl::StrFormat("f%03d", i), absl::StrCat("v", i)));
    }
    EXPECT_TRUE(backend_->Apply(batch, {}).ok());
    return version;
  }
  std::vector<std::string> Members(std::string_view key, uint64_t version, bool reverse,
                                   std::string_view start = "", std::string_view end = "") {
    std::vector<std::string> out;
    EXPECT_TRUE(backend_
                    ->ScanMembers(0, key, version, start, end, reverse,
                                  [&](std::string_view m, std::string_view) {
                                    out.emplace_back(m);
                                    return true;
                                  })
                    .ok());
    return out;
  }
  // Entries in the engine under the member namespace, all versions.
  int MemberEntries() {
    db_->CompactRange(nullptr, nullptr).IgnoreError();
    engine::ReadOptions ro;
    ro.iterate_upper_bound = std::string(1, kMemberNamespace + 1);
    auto it = db_->NewIterator(ro);
    int n = 0;
    for (it->Seek(std::string(1, kMemberNamespace)); it->Valid(); it->Next()) n++;
    return n;
  }

  engine::TempDir dir_;
  std::shared_ptr<MemberReclaimFilter> filter_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<LocalBackend> backend_;
};

TEST_F(MembersTest, ScanInBothDirectionsWithinBoundsAndOnlyThisCollection) {
  const uint64_t v = MakeHash("h", 5);
  MakeHash("h2", 3);  // adjacent in the engine: must not leak into h's scans
  EXPECT_EQ(Members("h", v, false), (std::vector<std::string>{"f000", "f001", "f002", "f003",
                                                              "f004"}));
  EXPECT_EQ(Members("h", v, true), (std::vector<std::string>{"f004", "f003", "f002", "f001",
                                                             "f000"}));
  EXPECT_EQ(Members("h", v, false, "f001", "f003"), (std::vector<std::string>{"f001", "f002"}));
  EXPECT_EQ(Members("h", v, true, "f001", "f003"), (std::vector<std::string>{"f002", "f001"}));
  std::string value;
  ASSERT_TRUE(backend_->GetMember(0, "h", v, "f002", &value).ok());
  EXPECT_EQ(value, "v2");
  EXPECT_TRUE(absl::IsNotFound(backend_->GetMember(0, "h", v + 100, "f002", &value)));
}

TEST_F(MembersTest, VersionsAreNeverReusedAcrossRestarts) {
  const uint64_t a = backend_->NewVersion();
  const uint64_t b = backend_->NewVersion();
  EXPECT_GT(b, a);
  Open();
  EXPECT_GT(backend_->NewVersion(), b);
}

TEST_F(MembersTest, CompactionReclaimsMembersOfDeletedAndReplacedCollections) {
  MakeHash("gone", 100);
  MakeHash("kept", 50);
  const uint64_t old_version = MakeHash("replaced", 30);
  const uint64_t new_version = MakeHash("replaced", 20);  // overwrites the metadata
  ASSERT_TRUE(backend_->Delete(0, "gone", {}).ok());
  EXPECT_EQ(MemberEntries(), 50 + 20);
  EXPECT_EQ(Members("kept", 1, false).size(), 0u);  // versions are not guessable
  EXPECT_TRUE(Members("replaced", old_version, false).empty());
  EXPECT_EQ(Members("replaced", new_version, false).size(), 20u);
  EXPECT_NE(db_->GetProperty("cairn.stats")->find("compaction filter dropped 130"),
            std::string::npos);
}

TEST_F(MembersTest, AStringOverwritingACollectionOrphansItsMembers) {
  MakeHash("k", 10);
  ASSERT_TRUE(backend_->Put(0, "k", {ValueType::kString, 0, "now a string"}, {}).ok());
  EXPECT_EQ(MemberEntries(), 0);
}

// A collection that expired moments ago keeps its members through compaction (a PERSIST
// that read it just before may still write it back); one expired long ago loses them.
TEST_F(MembersTest, RecentlyExpiredCollectionsKeepTheirMembersForAGracePeriod) {
  const uint64_t recent = MakeHash("recent", 10);
  const uint64_t old = MakeHash("old", 10);
  const int64_t now = SystemNowMs();
  for (auto [key, version, expired_ms_ago] :
       {std::tuple{"recent", recent, int64_t{5000}}, std::tuple{"old", old, int64_t{600000}}}) {
    Record r{ValueType::kHash, now - expired_ms_ago,
             EncodeCollectionMeta(ValueType::kHash, {version, 10})};
    ASSERT_TRUE(backend_->Put(0, key, r, {}).ok());
  }
  EXPECT_EQ(MemberEntries(), 10);  // "old" lost its members, "recent" kept them
  EXPECT_EQ(Members("recent", recent, false).size(), 10u);
}

}  // namespace
}  // namespace cairn::store
