// GEO commands (Redis 7.0 semantics): GEOADD GEODIST GEOHASH GEOPOS GEORADIUS
// GEORADIUSBYMEMBER GEORADIUS_RO GEORADIUSBYMEMBER_RO GEOSEARCH GEOSEARCHSTORE.
//
// A geo set is a sorted set whose scores are Redis's 52-bit geohashes (geohash.h), so
// the sorted-set commands read and write it, and a search visits the score ranges of the
// cells Redis visits, in Redis's order.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/numbers.h"
#include "base/status.h"
#include "server/geohash.h"
#include "server/zset.h"

namespace cairn::server {
namespace {

constexpr std::string_view kErrNoMember = "ERR could not decode requested zset member";

// A coordinate as Redis prints it (addReplyHumanLongDouble): a "%.17Lf" text trimmed of
// trailing zeros, as a bulk string (RESP2) or a double (RESP3).
void ReplyCoordinate(CommandContext& c, double v) {
  const std::string text = FormatLongDouble(v);
  if (c.out.protocol() == 2) return c.out.Bulk(text);
  c.out.buffer()->append(absl::StrCat(",", text, "\r\n"));
}

// A distance as Redis prints it: "%.4f", always a bulk string.
void ReplyDistance(CommandContext& c, double d) { c.out.Bulk(absl::StrFormat("%.4f", d)); }

// Parses "longitude latitude" at args[i]; false after replying Redis's error.
bool ParsePoint(CommandContext& c, size_t i, geo::Point* p) {
  if (!ParseDouble(c.args[i], &p->lon) || !ParseDouble(c.args[i + 1], &p->lat)) {
    c.out.Error(kErrNotFloat);
    return false;
  }
  if (!geo::ValidPoint(p->lon, p->lat)) {
    c.out.Error(absl::StrFormat("ERR invalid longitude,latitude pair %f,%f", p->lon, p->lat));
    return false;
  }
  return true;
}

// Meters per unit; false after replying the error.
bool ParseUnit(CommandContext& c, std::string_view arg, double* to_meters) {
  const std::string u = Lower(arg);
  if (u == "m") {
    *to_meters = 1;
  } else if (u == "km") {
    *to_meters = 1000;
  } else if (u == "ft") {
    *to_meters = 0.3048;
  } else if (u == "mi") {
    *to_meters = 1609.34;
  } else {
    c.out.Error("ERR unsupported unit provided. please use M, KM, FT, MI");
    return false;
  }
  return true;
}

bool ParseNumber(CommandContext& c, std::string_view arg, std::string_view what, double* v) {
  if (ParseDouble(arg, v)) return true;
  c.out.Error(absl::StrCat("ERR need numeric ", ToAbsl(what)));
  return false;
}

// "radius unit" at args[i].
bool ParseRadius(CommandContext& c, size_t i, geo::Shape* shape, double* to_meters) {
  double r;
  if (!ParseNumber(c, c.args[i], "radius", &r)) return false;
  if (r < 0) {
    c.out.Error("ERR radius cannot be negative");
    return false;
  }
  if (!ParseUnit(c, c.args[i + 1], to_meters)) return false;
  shape->box = false;
  shape->radius_m = r * *to_meters;
  return true;
}

// "width height unit" at args[i].
bool ParseBox(CommandContext& c, size_t i, geo::Shape* shape, double* to_meters) {
  double w, h;
  if (!ParseNumber(c, c.args[i], "width", &w) || !ParseNumber(c, c.args[i + 1], "height", &h)) {
    return false;
  }
  if (w < 0 || h < 0) {
    c.out.Error("ERR height or width cannot be negative");
    return false;
  }
  if (!ParseUnit(c, c.args[i + 2], to_meters)) return false;
  shape->box = true;
  shape->width_m = w * *to_meters;
  shape->height_m = h * *to_meters;
  return true;
}

// A member's point; false with *found false if it is absent (storage errors reply).
bool MemberPoint(CommandContext& c, const Collection& z, std::string_view member, geo::Point* p,
                 bool* found) {
  double score;
  *found = false;
  if (!ZSetScore(c, z, member, &score, found)) return false;
  if (*found) *p = geo::Decode(score);
  return true;
}

// GEOADD key [NX | XX] [CH] longitude latitude member [...]: a ZADD of the members'
// geohashes, as Redis runs it.
void GeoAdd(CommandContext& c) {
  size_t i = 2;
  bool nx = false, xx = false;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "nx") {
      nx = true;
    } else if (opt == "xx") {
      xx = true;
    } else if (opt != "ch") {
      break;
    }
  }
  if ((c.args.size() - i) % 3 != 0 || (nx && xx)) return c.out.Error(kErrSyntax);
  std::vector<std::string> zadd = {"zadd"};
  for (size_t j = 1; j < i; j++) zadd.emplace_back(c.args[j]);
  for (size_t j = i; j < c.args.size(); j += 3) {
    geo::Point p;
    if (!ParsePoint(c, j, &p)) return;
    zadd.push_back(absl::StrCat(geo::Encode(p.lon, p.lat)));
    zadd.emplace_back(c.args[j + 2]);
  }
  const std::vector<std::string_view> args(zadd.begin(), zadd.end());
  CommandContext z{c.server, c.client, args, c.out, c.now_ms, {}};
  CommandTable::Get().Find("zadd")->handler(z);
  c.written = std::move(z.written);
}

// GEODIST key member1 member2 [unit]
void GeoDist(CommandContext& c) {
  double to_meters = 1;
  if (c.args.size() == 5) {
    if (!ParseUnit(c, c.args[4], &to_meters)) return;
  } else if (c.args.size() > 5) {
    return c.out.Error(kErrSyntax);
  }
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  if (!z.exists) return c.out.Null();
  geo::Point a, b;
  bool found_a, found_b = false;
  if (!MemberPoint(c, z, c.args[2], &a, &found_a)) return;
  if (found_a && !MemberPoint(c, z, c.args[3], &b, &found_b)) return;
  if (!found_a || !found_b) return c.out.Null();
  ReplyDistance(c, geo::Distance(a, b) / to_meters);
}

// GEOHASH key [member ...]
void GeoHash(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<std::optional<std::string>> hashes;
  for (size_t i = 2; i < c.args.size(); i++) {
    double score;
    bool found = false;
    if (z.exists && !ZSetScore(c, z, c.args[i], &score, &found)) return;
    hashes.push_back(found ? std::optional<std::string>(geo::StandardGeohash(score))
                           : std::nullopt);
  }
  c.out.ArrayHeader(hashes.size());
  for (const auto& h : hashes) h ? c.out.Bulk(*h) : c.out.Null();
}

// GEOPOS key [member ...]
void GeoPos(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<std::optional<geo::Point>> points;
  for (size_t i = 2; i < c.args.size(); i++) {
    geo::Point p;
    bool found = false;
    if (z.exists && !MemberPoint(c, z, c.args[i], &p, &found)) return;
    points.push_back(found ? std::optional<geo::Point>(p) : std::nullopt);
  }
  c.out.ArrayHeader(points.size());
  for (const auto& p : points) {
    if (!p) {
      c.out.NullArray();
      continue;
    }
    c.out.ArrayHeader(2);
    ReplyCoordinate(c, p->lon);
    ReplyCoordinate(c, p->lat);
  }
}

// --- searches -------------------------------------------------------------------------

enum SearchFlags : int {
  kByCoords = 1,     // GEORADIUS[_RO] key lon lat radius unit
  kByMember = 2,     // GEORADIUSBYMEMBER[_RO] key member radius unit
  kSearch = 4,       // GEOSEARCH key ...
  kSearchStore = 8,  // GEOSEARCHSTORE dst key ...
  kNoStore = 16,     // the _RO forms
};

struct Found {
  std::string member;
  double score;
  double distance_m;
  geo::Point point;
};

struct SearchOptions {
  bool withdist = false, withhash = false, withcoord = false, any = false;
  int sort = 0;            // 0 none, 1 ascending, -1 descending
  int64_t count = 0;       // 0: all
  std::string_view store;  // destination, empty: reply the results
  bool has_store = false, storedist = false;
  bool from_member = false, from_point = false, by_radius = false, by_box = false;
};

// The members within the shape, in the order Redis finds them (the cells of
// geo::SearchRanges, each by score), stopping at limit when limit > 0.
bool Collect(CommandContext& c, const Collection& z, const geo::Shape& shape, int64_t limit,
             std::vector<Found>* out) {
  for (const geo::ScoreRange& r : geo::SearchRanges(shape)) {
    if (limit > 0 && static_cast<int64_t>(out->size()) >= limit) break;
    const bool ok =
        ForEachInScoreRange(c, z, static_cast<double>(r.min), static_cast<double>(r.max),
                            [&](std::string_view member, double score) {
                              const geo::Point p = geo::Decode(score);
                              double d;
                              if (geo::Within(shape, p, &d)) {
                                out->push_back({std::string(member), score, d, p});
                                if (limit > 0 && static_cast<int64_t>(out->size()) >= limit)
                                  return false;
                              }
                              return true;
                            });
    if (!ok) return false;
  }
  return true;
}

void ReplyFound(CommandContext& c, const std::vector<Found>& found, size_t n,
                const SearchOptions& o, double to_meters) {
  const int extra = o.withdist + o.withhash + o.withcoord;
  c.out.ArrayHeader(n);
  for (size_t i = 0; i < n; i++) {
    const Found& f = found[i];
    if (extra) c.out.ArrayHeader(extra + 1);
    c.out.Bulk(f.member);
    if (o.withdist) ReplyDistance(c, f.distance_m / to_meters);
    if (o.withhash) c.out.Integer(static_cast<int64_t>(f.score));
    if (o.withcoord) {
      c.out.ArrayHeader(2);
      ReplyCoordinate(c, f.point.lon);
      ReplyCoordinate(c, f.point.lat);
    }
  }
}

// Parses the options from args[i] on (Redis's georadiusGeneric order and conditions).
// z is the source (absent: FROMMEMBER is not looked up). False after replying.
bool ParseSearchOptions(CommandContext& c, size_t i, int flags, const Collection& z,
                        SearchOptions* o, geo::Shape* shape, double* to_meters) {
  const bool search = flags & kSearch;
  const bool can_store = !(flags & kNoStore) && !search;
  for (; i < c.args.size(); i++) {
    const std::string arg = Lower(c.args[i]);
    const size_t left = c.args.size() - i - 1;
    if (arg == "withdist") {
      o->withdist = true;
    } else if (arg == "withhash") {
      o->withhash = true;
    } else if (arg == "withcoord") {
      o->withcoord = true;
    } else if (arg == "any") {
      o->any = true;
    } else if (arg == "asc") {
      o->sort = 1;
    } else if (arg == "desc") {
      o->sort = -1;
    } else if (arg == "count" && left >= 1) {
      if (!ParseInt64(c.args[++i], &o->count)) {
        c.out.Error(kErrNotInteger);
        return false;
      }
      if (o->count <= 0) {
        c.out.Error("ERR COUNT must be > 0");
        return false;
      }
    } else if ((arg == "store" || arg == "storedist") && left >= 1 && can_store) {
      o->store = c.args[++i];
      o->has_store = true;
      o->storedist = arg == "storedist";
    } else if (arg == "storedist" && (flags & kSearchStore)) {
      o->storedist = true;
    } else if (arg == "frommember" && left >= 1 && search && !o->from_point) {
      o->from_member = true;
      if (!z.exists) {
        i++;
        continue;
      }
      bool found;
      if (!MemberPoint(c, z, c.args[++i], &shape->centre, &found)) return false;
      if (!found) {
        c.out.Error(kErrNoMember);
        return false;
      }
    } else if (arg == "fromlonlat" && left >= 2 && search && !o->from_member) {
      if (!ParsePoint(c, i + 1, &shape->centre)) return false;
      o->from_point = true;
      i += 2;
    } else if (arg == "byradius" && left >= 2 && search && !o->by_box) {
      if (!ParseRadius(c, i + 1, shape, to_meters)) return false;
      o->by_radius = true;
      i += 2;
    } else if (arg == "bybox" && left >= 3 && search && !o->by_radius) {
      if (!ParseBox(c, i + 1, shape, to_meters)) return false;
      o->by_box = true;
      i += 3;
    } else {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  if (o->has_store && (o->withdist || o->withhash || o->withcoord)) {
    c.out.Error(absl::StrCat(
        "ERR ", (flags & kSearchStore) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS",
        " is not compatible with WITHDIST, WITHHASH and WITHCOORD options"));
    return false;
  }
  if (search && !(o->from_member || o->from_point)) {
    c.out.Error(absl::StrCat("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ",
                             ToAbsl(c.args[0])));
    return false;
  }
  if (search && !(o->by_radius || o->by_box)) {
    c.out.Error(absl::StrCat("ERR exactly one of BYRADIUS and BYBOX can be specified for ",
                             ToAbsl(c.args[0])));
    return false;
  }
  if (o->any && o->count == 0) {
    c.out.Error("ERR the ANY argument requires COUNT argument");
    return false;
  }
  return true;
}

void Store(CommandContext& c, std::string_view dst, const std::vector<Found>& found, size_t n,
           bool storedist, double to_meters) {
  std::vector<std::pair<std::string_view, double>> elements;
  absl::flat_hash_set<std::string_view> seen;  // a member found twice is stored once
  for (size_t i = 0; i < n; i++) {
    if (!seen.insert(found[i].member).second) continue;
    elements.emplace_back(found[i].member,
                          storedist ? found[i].distance_m / to_meters : found[i].score);
  }
  StoreZSet(c, dst, elements);
}

void GeoSearchGeneric(CommandContext& c, int flags) {
  const size_t key_at = (flags & kSearchStore) ? 2 : 1;
  Collection z;
  if (!LoadZSet(c, c.args[key_at], &z)) return;
  geo::Shape shape;
  double to_meters = 1;
  size_t options_at;
  SearchOptions o;
  if (flags & kByCoords) {
    options_at = 6;
    if (!ParsePoint(c, 2, &shape.centre) || !ParseRadius(c, 4, &shape, &to_meters)) return;
  } else if (flags & kByMember) {
    options_at = 5;
    // An absent key: the options are still parsed, to know which empty reply to give.
    if (z.exists) {
      bool found;
      if (!MemberPoint(c, z, c.args[2], &shape.centre, &found)) return;
      if (!found) return c.out.Error(kErrNoMember);
      if (!ParseRadius(c, 3, &shape, &to_meters)) return;
    }
  } else {
    options_at = key_at + 1;
    if (flags & kSearchStore) {
      o.store = c.args[1];
      o.has_store = true;
    }
  }
  if (!ParseSearchOptions(c, options_at, flags, z, &o, &shape, &to_meters)) return;
  if (!z.exists) {
    if (o.has_store) return StoreZSet(c, o.store, std::vector<std::pair<std::string, double>>{});
    return c.out.ArrayHeader(0);
  }
  // COUNT keeps the nearest: it sorts unless ANY takes the first found.
  if (o.count != 0 && o.sort == 0 && !o.any) o.sort = 1;
  std::vector<Found> found;
  if (!Collect(c, z, shape, o.any ? o.count : 0, &found)) return;
  const size_t n = o.count == 0 ? found.size() : std::min<size_t>(found.size(), o.count);
  if (o.sort != 0) {
    const bool asc = o.sort > 0;
    std::stable_sort(found.begin(), found.end(), [asc](const Found& a, const Found& b) {
      return asc ? a.distance_m < b.distance_m : a.distance_m > b.distance_m;
    });
  }
  if (o.has_store) return Store(c, o.store, found, n, o.storedist, to_meters);
  ReplyFound(c, found, n, o, to_meters);
}

void GeoRadius(CommandContext& c) { GeoSearchGeneric(c, kByCoords); }
void GeoRadiusRo(CommandContext& c) { GeoSearchGeneric(c, kByCoords | kNoStore); }
void GeoRadiusByMember(CommandContext& c) { GeoSearchGeneric(c, kByMember); }
void GeoRadiusByMemberRo(CommandContext& c) { GeoSearchGeneric(c, kByMember | kNoStore); }
void GeoSearch(CommandContext& c) { GeoSearchGeneric(c, kSearch); }
void GeoSearchStore(CommandContext& c) { GeoSearchGeneric(c, kSearch | kSearchStore); }

// GEORADIUS[BYMEMBER]'s STORE / STOREDIST key (the last one given counts), as Redis's
// georadiusGetKeys finds it.
void StoreKey(const std::vector<std::string_view>& args, std::vector<std::string_view>* keys) {
  size_t at = 0;
  for (size_t i = 5; i + 1 < args.size(); i++) {
    const std::string a = Lower(args[i]);
    if (a == "store" || a == "storedist") at = ++i;
  }
  if (at != 0) keys->push_back(args[at]);
}

constexpr uint32_t kRead = kReadOnly | kLockKeys;

const CommandSpec kCommands[] = {
    {"geoadd", -5, kWrite | kDenyOom, 1, 1, 1, GeoAdd, "geo",
     "Adds one or more members to a geospatial index. The key is created if it doesn't exist."},
    {"geodist", -4, kRead, 1, 1, 1, GeoDist, "geo",
     "Returns the distance between two members of a geospatial index."},
    {"geohash", -2, kRead, 1, 1, 1, GeoHash, "geo",
     "Returns members from a geospatial index as geohash strings."},
    {"geopos", -2, kRead, 1, 1, 1, GeoPos, "geo",
     "Returns the longitude and latitude of members from a geospatial index."},
    {"georadius", -6, kWrite | kDenyOom, 1, 1, 1, GeoRadius, "geo",
     "Queries a geospatial index for members within a distance from a coordinate, optionally "
     "stores the result.",
     0, 0, nullptr, StoreKey},
    {"georadius_ro", -6, kRead, 1, 1, 1, GeoRadiusRo, "geo",
     "Returns members from a geospatial index that are within a distance from a coordinate."},
    {"georadiusbymember", -5, kWrite | kDenyOom, 1, 1, 1, GeoRadiusByMember, "geo",
     "Queries a geospatial index for members within a distance from a member, optionally "
     "stores the result.",
     0, 0, nullptr, StoreKey},
    {"georadiusbymember_ro", -5, kRead, 1, 1, 1, GeoRadiusByMemberRo, "geo",
     "Returns members from a geospatial index that are within a distance from a member."},
    {"geosearch", -7, kRead, 1, 1, 1, GeoSearch, "geo",
     "Queries a geospatial index for members inside an area of a box or a circle."},
    {"geosearchstore", -8, kWrite | kDenyOom, 1, 2, 1, GeoSearchStore, "geo",
     "Queries a geospatial index for members inside an area of a box or a circle, optionally "
     "stores the result."},
};

}  // namespace

void RegisterGeoCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
