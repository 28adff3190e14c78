#include "server/key_snapshot.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/counter.h"
#include "store/collection.h"

namespace cairn::server {

namespace pb = cluster::pb;

std::string_view ReplicatedTypeName(const pb::Record& record) {
  return store::TypeName(static_cast<store::ValueType>(record.type() == 0 ? 's' : record.type()));
}

absl::Status KeySnapshot::Check(int db, std::string_view key) const {
  if (db == db_ && key == key_) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "CROSSSLOT Keys in request don't hash to the same slot (cluster mode runs a command on one key)");
}

namespace {

// The members agree with the metadata as the single-node commands expect (they trust
// it): as many as it counts; a list's are its indices from head on; a sorted set's come
// in pairs (by member -> 8-byte score, by score -> "") naming the same elements.
absl::Status CheckMembers(store::ValueType type, const store::CollectionMeta& meta,
                          const pb::CollectionState& state) {
  const auto bad = [] { return CorruptionError("replicated collection's members do not match its metadata"); };
  const uint64_t n = static_cast<uint64_t>(state.members_size());
  if (type == store::ValueType::kZSet) {
    if (n != 2 * meta.size) return bad();
    std::map<std::string, std::string> by_member;
    for (int i = 0; i < state.members_size(); i++) {
      const std::string& m = state.members(i);
      if (!m.empty() && m[0] == store::kZSetByMember && state.values(i).size() == 8) {
        by_member.emplace(m.substr(1), state.values(i));
      }
    }
    if (by_member.size() != meta.size) return bad();
    for (int i = 0; i < state.members_size(); i++) {
      const std::string& m = state.members(i);
      if (m.empty() || m[0] != store::kZSetByScore) continue;
      auto it = m.size() >= 9 ? by_member.find(m.substr(9)) : by_member.end();
      if (it == by_member.end() || it->second != m.substr(1, 8) || !state.values(i).empty()) {
        return bad();
      }
    }
    return absl::OkStatus();
  }
  if (n != meta.size) return bad();
  if (type == store::ValueType::kList) {
    for (uint64_t i = 0; i < n; i++) {
      if (state.members(static_cast<int>(i)) != store::ListIndexMember(meta.head + i)) return bad();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status KeySnapshot::Load(const pb::Record& record) {
  store::Record r;
  if (ReplicatedTypeName(record) == "none") return CorruptionError("replicated value of an unknown type");
  r.type = static_cast<store::ValueType>(record.type() == 0 ? 's' : record.type());
  r.expire_at_ms = record.expire_at_ms();
  if (!store::IsCollection(r.type)) {
    r.value = record.value();
  } else {
    pb::CollectionState state;
    if (!state.ParseFromString(record.value()) || state.members_size() != state.values_size()) {
      return CorruptionError("replicated collection does not parse");
    }
    r.value = state.meta();
    store::CollectionMeta meta;
    CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(r.type, r.value, &meta));
    CAIRN_RETURN_IF_ERROR(CheckMembers(r.type, meta, state));
    Bump(meta.version);
    for (int i = 0; i < state.members_size(); i++) {
      auto at = std::make_pair(meta.version, state.members(i));
      const pb::ClockEntry& dot =
          i < state.dots_size() && !state.dots(i).node().empty() ? state.dots(i) : record.dot();
      if (!dot.node().empty()) dots_.emplace(at, dot);
      members_.emplace(std::move(at), state.values(i));
    }
  }
  record_ = std::move(r);
  loaded_ = record;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Record>> KeySnapshot::Export() const {
  if (!record_ || (record_->expire_at_ms != 0 && record_->expire_at_ms <= now_ms_)) {
    return std::optional<pb::Record>();
  }
  pb::Record out;
  out.set_type(static_cast<uint32_t>(record_->type));
  out.set_expire_at_ms(record_->expire_at_ms);
  if (!store::IsCollection(record_->type)) {
    out.set_value(record_->value);
    if (!counter_node_.empty()) {
      // The increment is this node's contribution to the counter the key held (or to a
      // new one: a plain number, or nothing, read as its offset).
      const bool was_string = loaded_ && ReplicatedTypeName(*loaded_) == "string";
      pb::Counter counter;
      if (was_string && loaded_->has_counter()) {
        counter = loaded_->counter();
      } else if (was_string) {
        auto plain = cluster::CounterFromValue(loaded_->value(), loaded_->version());
        if (!plain) return absl::InvalidArgumentError("value is not a number");
        counter = std::move(*plain);
      }
      CAIRN_RETURN_IF_ERROR(cluster::AddIncrement(&counter, counter_node_,
                                                  was_string ? loaded_->value() : "0",
                                                  record_->value));
      *out.mutable_counter() = std::move(counter);
    }
    return out;
  }
  store::CollectionMeta meta;
  CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(record_->type, record_->value, &meta));
  pb::CollectionState state;
  state.set_meta(record_->value);
  for (auto it = members_.lower_bound({meta.version, ""});
       it != members_.end() && it->first.first == meta.version; ++it) {
    state.add_members(it->first.second);
    state.add_values(it->second);
    if (record_->type != store::ValueType::kList) {
      auto dot = dots_.find(it->first);
      *state.add_dots() = dot != dots_.end() ? dot->second : pb::ClockEntry();
    }
  }
  out.set_value(state.SerializeAsString());
  return out;
}

absl::Status KeySnapshot::Get(int db, std::string_view key, store::Record* record) {
  CAIRN_RETURN_IF_ERROR(Check(db, key));
  if (!record_ || (record_->expire_at_ms != 0 && record_->expire_at_ms <= now_ms_)) {
    return absl::NotFoundError("");
  }
  *record = *record_;
  return absl::OkStatus();
}

absl::Status KeySnapshot::Put(int db, std::string_view key, const store::Record& record,
                              const store::WriteOptions&) {
  return Apply({store::Mutation::Put(db, std::string(key), record)}, {});
}

absl::Status KeySnapshot::Delete(int db, std::string_view key, const store::WriteOptions&) {
  return Apply({store::Mutation::Delete(db, std::string(key))}, {});
}

absl::Status KeySnapshot::Apply(const std::vector<store::Mutation>& batch,
                                const store::WriteOptions&) {
  for (const store::Mutation& m : batch) {  // all or nothing: check first
    CAIRN_RETURN_IF_ERROR(Check(m.db, m.key));
    if (m.kind == store::Mutation::Kind::kPut &&
        (m.record.expire_at_ms < 0 || m.record.expire_at_ms > store::kMaxExpireAtMs)) {
      return absl::InvalidArgumentError("expire time out of range");
    }
  }
  for (const store::Mutation& m : batch) {
    changed_ = true;
    switch (m.kind) {
      case store::Mutation::Kind::kPut:
        record_ = m.record;
        break;
      case store::Mutation::Kind::kDelete:
        record_.reset();
        break;
      case store::Mutation::Kind::kPutMember:
        Bump(m.version);
        members_[{m.version, m.member}] = m.value;
        dots_.erase({m.version, m.member});
        break;
      case store::Mutation::Kind::kDeleteMember:
        members_.erase({m.version, m.member});
        dots_.erase({m.version, m.member});
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status KeySnapshot::Scan(
    int db, std::string_view start, std::string_view end,
    absl::FunctionRef<bool(std::string_view key, const store::RecordView& record)> fn) {
  if (db != db_ || !record_ || key_ < start || (!end.empty() && key_ >= end)) return absl::OkStatus();
  if (record_->expire_at_ms != 0 && record_->expire_at_ms <= now_ms_) return absl::OkStatus();
  fn(key_, store::RecordView{record_->type, record_->expire_at_ms, record_->value});
  return absl::OkStatus();
}

absl::Status KeySnapshot::Clear(int db) {
  return absl::InvalidArgumentError("ERR FLUSHDB is not supported in cluster mode");
}

absl::Status KeySnapshot::SwapDb(int a, int b) {
  return absl::InvalidArgumentError("ERR SWAPDB is not supported in cluster mode");
}

absl::Status KeySnapshot::GetMember(int db, std::string_view key, uint64_t version,
                                    std::string_view member, std::string* value) {
  CAIRN_RETURN_IF_ERROR(Check(db, key));
  auto it = members_.find({version, std::string(member)});
  if (it == members_.end()) return absl::NotFoundError("");
  *value = it->second;
  return absl::OkStatus();
}

absl::Status KeySnapshot::ScanMembers(
    int db, std::string_view key, uint64_t version, std::string_view start, std::string_view end,
    bool reverse, absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) {
  CAIRN_RETURN_IF_ERROR(Check(db, key));
  if (!end.empty() && start >= end) return absl::OkStatus();
  auto first = members_.lower_bound({version, std::string(start)});
  auto last = !end.empty() ? members_.lower_bound({version, std::string(end)})
               : version == UINT64_MAX ? members_.end()
                                       : members_.lower_bound({version + 1, ""});
  if (reverse) {
    for (auto it = last; it != first;) {
      --it;
      if (!fn(it->first.second, it->second)) break;
    }
  } else {
    for (auto it = first; it != last; ++it) {
      if (!fn(it->first.second, it->second)) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::server
