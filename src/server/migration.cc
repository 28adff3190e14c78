#include "server/migration.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/counter.h"
#include "cluster/registers.h"
#include "cluster/versions.h"
#include "cluster/type_merge.h"
#include "server/key_snapshot.h"
#include "store/collection.h"

namespace cairn::server {

namespace pb = cluster::pb;

namespace {

constexpr size_t kPage = 1000;            // keys listed per scan
constexpr size_t kMembersPerBatch = 10000;  // members per engine write

// Above this a key's replicated form (one engine value, one message) cannot be written:
// the engine takes write batches of up to 1 GiB.
constexpr size_t kMaxReplicatedBytes = size_t{512} << 20;

absl::Status Named(const absl::Status& s, int db, const std::string& key) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("key '", absl::CHexEscape(key), "' of db ", db, ": ",
                                             s.message()));
}

// The live keys of db from start on, up to kPage of them.
absl::Status ListKeys(store::Backend& local, int db, const std::string& start,
                      std::vector<std::string>* keys) {
  keys->clear();
  return local.Scan(db, start, "", [&](std::string_view key, const store::RecordView&) {
    keys->emplace_back(key);
    return keys->size() < kPage;
  });
}

}  // namespace

absl::StatusOr<MigrationStats> MigrateSingleToCluster(store::Backend& local, int64_t now_ms,
                                                      const HasReplica& has_replica,
                                                      const WriteReplicated& write) {
  MigrationStats stats;
  std::vector<std::string> keys;
  for (int db = 0; db < store::kMaxDatabases; db++) {
    std::string start;
    while (true) {
      CAIRN_RETURN_IF_ERROR(ListKeys(local, db, start, &keys));
      if (keys.empty()) break;
      for (const std::string& key : keys) {
        auto held = has_replica(db, key);
        if (!held.ok()) return Named(held.status(), db, key);
        if (*held) {
          // The replicas already hold the key: a copy an interrupted move made (either
          // way; the replicas are the original when moving to single-node, and the copy
          // was written before this one is deleted when moving here). They win.
          CAIRN_RETURN_IF_ERROR(local.Delete(db, key, {}));
          stats.superseded++;
          continue;
        }
        store::Record record;
        absl::Status s = local.Get(db, key, &record);
        if (absl::IsNotFound(s)) {
          // Expired since it was listed: deleted here, as cluster mode runs no active
          // expiry and compaction keeps LocalBackend's expired records (KeepExpired).
          CAIRN_RETURN_IF_ERROR(local.Delete(db, key, {}));
          continue;
        }
        CAIRN_RETURN_IF_ERROR(s);
        // The key as a command that wrote it whole would leave it: the snapshot exports
        // the replicated form (members and metadata) of what was put into it.
        KeySnapshot snapshot(db, key, now_ms);
        CAIRN_RETURN_IF_ERROR(snapshot.Put(db, key, record, {}));
        if (store::IsCollection(record.type)) {
          store::CollectionMeta meta;
          CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(record.type, record.value, &meta));
          std::vector<store::Mutation> members;
          CAIRN_RETURN_IF_ERROR(local.ScanMembers(
              db, key, meta.version, "", "", false, [&](std::string_view m, std::string_view v) {
                members.push_back(store::Mutation::PutMember(db, key, meta.version, std::string(m),
                                                             std::string(v)));
                return true;
              }));
          stats.members += members.size();
          CAIRN_RETURN_IF_ERROR(snapshot.Apply(members, {}));
        }
        auto exported = snapshot.Export(key);
        if (!exported.ok()) return Named(exported.status(), db, key);
        if (!exported->has_value()) {  // expired: deleted, as above
          CAIRN_RETURN_IF_ERROR(local.Delete(db, key, {}));
          continue;
        }
        // The replicated form must load back as the key it came from (a collection whose
        // metadata disagrees with its members would not) and fit one engine write, or the
        // single-node copy stays and the server does not start.
        if ((*exported)->ByteSizeLong() > kMaxReplicatedBytes) {
          return Named(absl::ResourceExhaustedError(absl::StrCat(
                           "too large to replicate whole (", (*exported)->ByteSizeLong(),
                           " bytes); delete or shrink it in single-node mode first")),
                       db, key);
        }
        KeySnapshot check(db, key, now_ms);
        CAIRN_RETURN_IF_ERROR(Named(check.Load(key, **exported), db, key));
        CAIRN_RETURN_IF_ERROR(Named(write(db, key, std::move(**exported)), db, key));
        CAIRN_RETURN_IF_ERROR(local.Delete(db, key, {}));
        stats.keys++;
      }
      start = keys.back() + std::string(1, '\0');
    }
  }
  // Keys that expired before they were listed are records still: cluster mode runs no
  // active expiry and compaction keeps LocalBackend's expired records (KeepExpired) until
  // it deletes them, so they are deleted (and uncounted) here.
  std::string after;
  while (true) {
    auto expired = local.ScanExpired(now_ms, kPage, after);
    CAIRN_RETURN_IF_ERROR(expired.status());
    if (expired->empty()) break;
    for (const store::ExpiredKey& e : *expired) {
      CAIRN_RETURN_IF_ERROR(local.DeleteExpired(e, {}).status());
    }
    after = expired->back().index_key;
  }
  CAIRN_RETURN_IF_ERROR(local.Sync());
  return stats;
}

absl::StatusOr<RegisterSource::Read> LocalRegisters::ReadRegister(int db,
                                                                  std::string_view register_key) {
  auto versions = store_->Read(db + cluster::kRegisterSpace, register_key);
  if (!versions.ok()) return versions.status();
  auto merged = cluster::MergeRegister(*versions);
  if (!merged.ok()) return merged.status();
  Read out;
  if (merged->has_value()) out.merged = std::move(**merged);
  out.context = cluster::MergedClock(*versions);
  std::vector<const pb::Counter*> counters;
  for (const pb::Record& v : *versions) {
    if (v.has_counter()) counters.push_back(&v.counter());
  }
  if (!counters.empty()) out.history = cluster::MergeCounters(counters);
  return out;
}

absl::StatusOr<uint64_t> LocalRegisters::LocalCount(int db, char type, std::string_view key) {
  auto summary = store_->Summary(db, type, key);
  if (!summary.ok()) return summary.status();
  return summary->members;
}

absl::Status LocalRegisters::ScanLocal(
    int db, char type, std::string_view key, std::string_view start, std::string_view end,
    bool reverse, absl::FunctionRef<bool(std::string_view, std::string_view)> fn) {
  return store_->ScanRegisters(db, type, key, start, end, reverse,
                               [&](std::string_view m, const pb::Record& merged) { return fn(m, merged.value()); });
}

absl::Status LocalRegisters::ScanLocalScores(int db, std::string_view key, std::string_view start,
                                             std::string_view end, bool reverse,
                                             absl::FunctionRef<bool(std::string_view)> fn) {
  return store_->ScanScores(db, key, start, end, reverse, fn);
}

absl::StatusOr<MigrationStats> MigrateClusterToSingle(cluster::ReplicaStore& replicas,
                                                      store::Backend& local, int64_t now_ms,
                                                      RegisterSource* registers) {
  MigrationStats stats;
  bool any = false;  // replicas held something (tombstones too): clear them at the end
  std::vector<std::pair<std::string, cluster::VersionList>> page;
  for (int db = 0; db < store::kMaxDatabases; db++) {
    std::string start;
    bool more = true;
    while (more) {
      page.clear();  // Scan appends
      CAIRN_RETURN_IF_ERROR(replicas.Scan(db, start, kPage, &page, &more));
      if (page.empty()) break;
      any = true;
      for (const auto& [key, versions] : page) {
        auto merged = cluster::MergeForRead(versions);
        if (!merged.ok()) return merged.status();
        if (!merged->has_value() || (*merged)->tombstone()) continue;
        KeySnapshot snapshot(db, key, now_ms);
        snapshot.set_register_source(registers);
        CAIRN_RETURN_IF_ERROR(snapshot.Load(key, **merged));
        store::Record record;
        absl::Status s = snapshot.Get(db, key, &record);
        if (absl::IsNotFound(s)) continue;  // expired
        CAIRN_RETURN_IF_ERROR(s);
        if (store::IsCollection(record.type)) {
          // Members go first, under a version no record names yet: a crash before the
          // record is written leaves garbage the engine reclaims, not a half collection.
          // The record naming the new version goes in the first batch, with members:
          // the engine reclaims members no record names (MemberReclaimFilter), even
          // before a later batch would have written it. A crash before the last batch
          // leaves a short collection here, which the next open copies again from the
          // replicas (they are cleared only after every copy is durable).
          store::CollectionMeta meta;
          CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(record.type, record.value, &meta));
          const uint64_t old_version = meta.version;
          try {
            meta.version = local.NewVersion();
          } catch (const std::exception& e) {
            return absl::UnavailableError(e.what());
          }
          record.value = store::EncodeCollectionMeta(record.type, meta);
          const std::string name = key;  // a structured binding: not captured below (clang 14)
          std::vector<store::Mutation> batch = {store::Mutation::Put(db, name, record)};
          uint64_t copied = 0;
          absl::Status write;
          CAIRN_RETURN_IF_ERROR(snapshot.ScanMembers(
              db, name, old_version, "", "", false, [&](std::string_view m, std::string_view v) {
                batch.push_back(store::Mutation::PutMember(db, name, meta.version, std::string(m),
                                                           std::string(v)));
                stats.members++;
                // A sorted set's members come in pairs (by member, by score); a stream's size
                // counts its entries ('e'), not its groups' state.
                if (record.type == store::ValueType::kStream) {
                  copied += m.starts_with("e");
                } else if (record.type != store::ValueType::kZSet || m.starts_with(store::kZSetByMember)) {
                  copied++;
                }
                if (batch.size() < kMembersPerBatch) return true;
                write = local.Apply(batch, {});
                batch.clear();
                return write.ok();
              }));
          CAIRN_RETURN_IF_ERROR(write);
          if (!batch.empty()) CAIRN_RETURN_IF_ERROR(local.Apply(batch, {}));
          if (copied == 0 && record.type != store::ValueType::kStream) {  // a stream exists empty
            // No live member (a collection kept as registers, all removed): no key.
            CAIRN_RETURN_IF_ERROR(local.Delete(db, name, {}));
            continue;
          }
          if (copied != meta.size) {
            // The size the record was written with was this replica's count of registers
            // (a collection kept as registers); the members copied are the truth.
            meta.size = copied;
            record.value = store::EncodeCollectionMeta(record.type, meta);
            CAIRN_RETURN_IF_ERROR(local.Put(db, name, record, {}));
          }
        } else {
          CAIRN_RETURN_IF_ERROR(local.Put(db, key, record, {}));
        }
        stats.keys++;
      }
      start = page.back().first + std::string(1, '\0');
    }
  }
  if (any) CAIRN_RETURN_IF_ERROR(local.Sync());  // the copies are durable before the originals go
  // Registers and tombstones too (a node may hold registers whose headers are gone).
  CAIRN_RETURN_IF_ERROR(replicas.Clear(-1));
  return stats;
}

absl::StatusOr<bool> HasSingleNodeKeys(store::Backend& local) {
  std::vector<std::string> keys;
  for (int db = 0; db < store::kMaxDatabases; db++) {
    CAIRN_RETURN_IF_ERROR(ListKeys(local, db, "", &keys));
    if (!keys.empty()) return true;
  }
  return false;
}

}  // namespace cairn::server
