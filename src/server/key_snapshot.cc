#include "server/key_snapshot.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "store/collection.h"

namespace cairn::server {

namespace pb = cluster::pb;

absl::Status KeySnapshot::Check(int db, std::string_view key) const {
  if (db == db_ && key == key_) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "CROSSSLOT Keys in request don't hash to the same slot (cluster mode runs a command on one key)");
}

absl::Status KeySnapshot::Load(const pb::Record& record) {
  store::Record r;
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
    Bump(meta.version);
    for (int i = 0; i < state.members_size(); i++) {
      members_.emplace(std::make_pair(meta.version, state.members(i)), state.values(i));
    }
  }
  record_ = std::move(r);
  return absl::OkStatus();
}

std::optional<pb::Record> KeySnapshot::Export() const {
  if (!record_ || (record_->expire_at_ms != 0 && record_->expire_at_ms <= now_ms_)) return std::nullopt;
  pb::Record out;
  out.set_type(static_cast<uint32_t>(record_->type));
  out.set_expire_at_ms(record_->expire_at_ms);
  if (!store::IsCollection(record_->type)) {
    out.set_value(record_->value);
    return out;
  }
  store::CollectionMeta meta;
  if (!store::DecodeCollectionMeta(record_->type, record_->value, &meta).ok()) return std::nullopt;
  pb::CollectionState state;
  state.set_meta(record_->value);
  for (auto it = members_.lower_bound({meta.version, ""});
       it != members_.end() && it->first.first == meta.version; ++it) {
    state.add_members(it->first.second);
    state.add_values(it->second);
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
        break;
      case store::Mutation::Kind::kDeleteMember:
        members_.erase({m.version, m.member});
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
  auto first = members_.lower_bound({version, std::string(start)});
  auto last = end.empty() ? members_.lower_bound({version + 1, ""})
                          : members_.lower_bound({version, std::string(end)});
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
