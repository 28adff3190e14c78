#include "cluster/engine_replica_store.h"

#include <gtest/gtest.h>

#include "engine/db_test_util.h"

namespace cairn::cluster {
namespace {

pb::Record Rec(uint64_t version, const std::string& value, bool tombstone = false) {
  pb::Record r;
  r.set_version(version);
  r.set_value(value);
  r.set_tombstone(tombstone);
  return r;
}

TEST(EngineReplicaStoreTest, KeepsTheSupersedingVersionAcrossReopen) {
  engine::TempDir dir;
  {
    auto db = engine::DB::Open({}, dir.path());
    ASSERT_TRUE(db.ok());
    EngineReplicaStore store(db->get(), /*sync=*/true);
    bool applied;
    EXPECT_TRUE(absl::IsNotFound(store.Read(0, "k").status()));
    ASSERT_TRUE(store.Apply(0, "k", Rec(10, "ten"), &applied).ok());
    EXPECT_TRUE(applied);
    ASSERT_TRUE(store.Apply(0, "k", Rec(5, "five"), &applied).ok());  // older: ignored
    EXPECT_FALSE(applied);
    ASSERT_TRUE(store.Apply(0, "k", Rec(10, "ten"), &applied).ok());  // the same: ignored
    EXPECT_FALSE(applied);
    ASSERT_TRUE(store.Apply(0, "k", Rec(10, "zzz"), &applied).ok());  // tie: larger value
    EXPECT_TRUE(applied);
    ASSERT_TRUE(store.Apply(1, "k", Rec(1, "other db"), &applied).ok());
    ASSERT_TRUE(store.Apply(0, "gone", Rec(3, "v"), &applied).ok());
    ASSERT_TRUE(store.Apply(0, "gone", Rec(4, "", /*tombstone=*/true), &applied).ok());
    ASSERT_TRUE(store.Apply(0, "gone", Rec(3, "v"), &applied).ok());  // late: stays deleted
    EXPECT_FALSE(applied);
  }
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore store(db->get(), true);
  EXPECT_EQ(store.Read(0, "k")->value(), "zzz");
  EXPECT_EQ(store.Read(1, "k")->value(), "other db");
  EXPECT_TRUE(store.Read(0, "gone")->tombstone());
}

TEST(EngineReplicaStoreTest, AnExpiredRecordKeepsItsVersionSoOlderValuesStayBuried) {
  // Found in review: records were given to the engine with their expiry, so once expired
  // the version was gone and an older value (late, or on another replica) won again.
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore store(db->get(), false);
  pb::Record expiring = Rec(20, "v2");
  expiring.set_expire_at_ms(1);  // long past
  bool applied;
  ASSERT_TRUE(store.Apply(0, "k", expiring, &applied).ok());
  auto r = store.Read(0, "k");
  ASSERT_TRUE(r.ok()) << r.status();  // still there, with its version
  EXPECT_EQ(r->version(), 20u);
  ASSERT_TRUE(store.Apply(0, "k", Rec(10, "v1"), &applied).ok());
  EXPECT_FALSE(applied);
}

}  // namespace
}  // namespace cairn::cluster
