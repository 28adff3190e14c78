// DUMP and RESTORE (Redis 7.0 semantics and payload format, rdb_payload.h): values move
// between cairn and Redis as migration tools move them.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/collections.h"
#include "server/command.h"
#include "server/rdb_payload.h"
#include "server/stream.h"
#include "server/zset.h"

namespace cairn::server {
namespace {

using store::ValueType;

int Db(const CommandContext& c) { return c.client.db.load(std::memory_order_relaxed); }

// DUMP key: the payload of the simplest encodings Redis 7.0 loads (rdb_payload.h).
void Dump(CommandContext& c) {
  Collection coll;
  if (!LoadAnyType(c, Db(c), c.args[1], &coll)) return;
  if (!coll.exists) return c.out.Null();
  if (coll.type == ValueType::kStream) {
    RdbStream stream;
    if (!ExportStream(c, coll, &stream)) return;
    RdbPayloadWriter w(kRdbStreamListpacks2);
    w.Stream(stream);
    return c.out.Bulk(w.Finish());
  }
  if (coll.type == ValueType::kString) {
    store::Record r;
    absl::Status s = c.server.backend->Get(Db(c), c.args[1], &r);
    if (absl::IsNotFound(s)) return c.out.Null();
    if (!s.ok()) return ReplyStatusError(c.out, s);
    RdbPayloadWriter w(kRdbString);
    w.String(r.value);
    return c.out.Bulk(w.Finish());
  }
  RdbType rdb_type = kRdbList;
  std::string_view start, end;
  switch (coll.type) {
    case ValueType::kList:
      rdb_type = kRdbList;
      break;
    case ValueType::kSet:
      rdb_type = kRdbSet;
      break;
    case ValueType::kHash:
      rdb_type = kRdbHash;
      break;
    case ValueType::kZSet:
      rdb_type = kRdbZSet2;
      start = std::string_view(&store::kZSetByMember, 1);  // one member per element
      end = "n";
      break;
    default:  // strings and streams are dumped above
      return c.out.Error(kErrWrongType);
  }
  RdbPayloadWriter w(rdb_type);
  w.Length(coll.meta.size);
  uint64_t written = 0;
  if (!ScanMembers(c, coll, start, end, false,
                   [&](std::string_view member, std::string_view value) {
                     switch (coll.type) {
                       case ValueType::kList:
                         w.String(value);
                         break;
                       case ValueType::kSet:
                         w.String(member);
                         break;
                       case ValueType::kHash:
                         w.String(member);
                         w.String(value);
                         break;
                       default:  // sorted sets: 'm' | member -> score
                         w.String(member.substr(1));
                         w.BinaryDouble(store::DecodeScore(value));
                     }
                     written++;
                     return true;
                   })) {
    return;
  }
  // The count is written first; a collection whose members disagree with its metadata
  // (it cannot happen under the key locks) must not produce a payload that lies.
  if (written != coll.meta.size) {
    return c.out.Error("ERR the key's members do not match its size; try again");
  }
  c.out.Bulk(w.Finish());
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
// cairn keeps no LRU or LFU clock: IDLETIME and FREQ are checked as Redis checks them
// and then ignored. Checks run in Redis's order (options, BUSYKEY, TTL, payload).
void Restore(CommandContext& c) {
  bool replace = false, absttl = false, idletime = false, freq = false;
  for (size_t i = 4; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    const bool has_value = i + 1 < c.args.size();
    if (opt == "replace") {
      replace = true;
    } else if (opt == "absttl") {
      absttl = true;
    } else if (opt == "idletime" && has_value && !freq) {
      int64_t v;
      if (!ParseInt64(c.args[++i], &v)) return c.out.Error(kErrNotInteger);
      if (v < 0) return c.out.Error("ERR Invalid IDLETIME value, must be >= 0");
      idletime = true;
    } else if (opt == "freq" && has_value && !idletime) {
      int64_t v;
      if (!ParseInt64(c.args[++i], &v)) return c.out.Error(kErrNotInteger);
      if (v < 0 || v > 255) return c.out.Error("ERR Invalid FREQ value, must be >= 0 and <= 255");
      freq = true;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  const std::string_view key = c.args[1];
  store::Record existing;
  bool exists = true;
  if (absl::Status s = c.server.backend->Get(Db(c), key, &existing); absl::IsNotFound(s)) {
    exists = false;
  } else if (!s.ok()) {
    return ReplyStatusError(c.out, s);
  }
  if (exists && !replace) return c.out.Error("BUSYKEY Target key name already exists.");
  int64_t ttl;
  if (!ParseInt64(c.args[2], &ttl)) return c.out.Error(kErrNotInteger);
  if (ttl < 0) return c.out.Error("ERR Invalid TTL value, must be >= 0");
  if (!VerifyRdbPayload(c.args[3]))
    return c.out.Error("ERR DUMP payload version or checksum are wrong");
  RdbValue v;
  if (!ParseRdbPayload(c.args[3], &v, c.server.config->Get().proto_max_bulk_len).ok()) return c.out.Error("ERR Bad data format");
  int64_t at = 0;
  if (ttl != 0) {
    at = absttl ? ttl : (ttl > INT64_MAX - c.now_ms ? INT64_MAX : ttl + c.now_ms);
    if (at <= c.now_ms) {  // already expired: Redis answers OK and leaves no key
      if (exists) {
        if (absl::Status s = c.server.backend->Delete(Db(c), key); !s.ok()) {
          return ReplyStatusError(c.out, s);
        }
      }
      return c.out.SimpleString("OK");
    }
    // Past what the engine holds (about the year 294 000) the key keeps that instant.
    at = std::min(at, store::kMaxExpireAtMs);
  }
  if (v.type == ValueType::kString) {
    store::Record r;
    r.type = ValueType::kString;
    r.expire_at_ms = at;
    r.value = std::move(v.string);
    if (absl::Status s = c.server.backend->Put(Db(c), key, r); !s.ok()) {
      return ReplyStatusError(c.out, s);
    }
    return c.out.SimpleString("OK");
  }
  CollectionBatch batch(c);
  if (exists) batch.DeleteKey(key);
  Collection coll;
  coll.key = std::string(key);
  coll.type = v.type;
  batch.Create(&coll);
  coll.expire_at_ms = at;
  switch (v.type) {
    case ValueType::kList:
      for (size_t i = 0; i < v.elements.size(); i++) {
        batch.PutMember(coll, store::ListIndexMember(coll.meta.head + i), v.elements[i]);
      }
      coll.meta.size = v.elements.size();
      break;
    case ValueType::kSet:
      for (const std::string& m : v.elements) batch.PutMember(coll, m, "");
      coll.meta.size = v.elements.size();
      break;
    case ValueType::kHash:
      for (const auto& [f, val] : v.fields) batch.PutMember(coll, f, val);
      coll.meta.size = v.fields.size();
      break;
    case ValueType::kZSet:
      for (const auto& [m, score] : v.scores) PutZSetElement(batch, coll, m, score);
      coll.meta.size = v.scores.size();
      break;
    case ValueType::kStream:
      ImportStream(batch, &coll, v.stream);
      break;
    case ValueType::kString:
      break;  // written above
  }
  batch.SaveMeta(coll);
  if (batch.Commit()) c.out.SimpleString("OK");
}

const CommandSpec kCommands[] = {
    // kLockKeys: the metadata and the members read must agree.
    {"dump", 2, kReadOnly | kLockKeys, 1, 1, 1, Dump, "generic",
     "Returns a serialized representation of the value stored at a key."},
    {"restore", -4, kWrite | kDenyOom, 1, 1, 1, Restore, "generic",
     "Creates a key from the serialized representation of a value."},
};

}  // namespace

void RegisterDumpCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
