#include "server/geohash.h"

#include <cmath>

namespace cairn::server::geo {
namespace {

struct Range {
  double min, max;
};
constexpr Range kLon{kLonMin, kLonMax};
constexpr Range kLat{kLatMin, kLatMax};

constexpr double kDegToRad = M_PI / 180.0;
double Rad(double deg) { return deg * kDegToRad; }
double Deg(double rad) { return rad / kDegToRad; }

// Spreads the 32 bits of v over the even bits of the result.
uint64_t Spread(uint32_t v) {
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x << 2)) & 0x3333333333333333ULL;
  x = (x | (x << 1)) & 0x5555555555555555ULL;
  return x;
}

// The inverse: the even bits of x, packed.
uint32_t Squash(uint64_t x) {
  x &= 0x5555555555555555ULL;
  x = (x | (x >> 1)) & 0x3333333333333333ULL;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
  return static_cast<uint32_t>(x);
}

// Latitude in the even bits, longitude in the odd ones. The offsets are truncated to
// integers as Redis's conversion to uint32 does (a coordinate at the range's maximum
// sets the bit above the step, as in Redis).
Cell EncodeIn(const Range& lon_range, const Range& lat_range, double lon, double lat, int step) {
  double lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
  double lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
  lat_offset *= static_cast<double>(uint64_t{1} << step);
  lon_offset *= static_cast<double>(uint64_t{1} << step);
  const uint32_t ilat = static_cast<uint32_t>(lat_offset), ilon = static_cast<uint32_t>(lon_offset);
  return Cell{Spread(ilat) | (Spread(ilon) << 1), step};
}

struct Area {
  Range lon, lat;
};

Area DecodeIn(const Range& lon_range, const Range& lat_range, const Cell& cell) {
  const uint32_t ilat = Squash(cell.bits), ilon = Squash(cell.bits >> 1);
  const double cells = static_cast<double>(uint64_t{1} << cell.step);
  const double lat_scale = lat_range.max - lat_range.min, lon_scale = lon_range.max - lon_range.min;
  // uint32 arithmetic for the upper edge, as in Redis (it wraps only for bits no score has).
  const uint32_t ilat_next = ilat + 1, ilon_next = ilon + 1;
  Area a;
  a.lat.min = lat_range.min + (ilat * 1.0 / cells) * lat_scale;
  a.lat.max = lat_range.min + (ilat_next * 1.0 / cells) * lat_scale;
  a.lon.min = lon_range.min + (ilon * 1.0 / cells) * lon_scale;
  a.lon.max = lon_range.min + (ilon_next * 1.0 / cells) * lon_scale;
  return a;
}

Point Centre(const Area& a) {
  Point p{(a.lon.min + a.lon.max) / 2, (a.lat.min + a.lat.max) / 2};
  p.lon = std::fmin(std::fmax(p.lon, kLonMin), kLonMax);
  p.lat = std::fmin(std::fmax(p.lat, kLatMin), kLatMax);
  return p;
}

// A score as Redis's (uint64_t) cast of it reads on x86-64: truncation, with values past
// the range of int64 wrapping as the conversion instruction does.
uint64_t ScoreBits(double score) {
  constexpr double k2p63 = 9223372036854775808.0;
  if (std::isnan(score)) return uint64_t{1} << 63;
  if (score >= k2p63) {
    if (score >= 2 * k2p63) return 0;  // the conversion's "indefinite" value, flipped
    return static_cast<uint64_t>(static_cast<int64_t>(score - k2p63)) ^ (uint64_t{1} << 63);
  }
  if (score < -k2p63) return uint64_t{1} << 63;
  return static_cast<uint64_t>(static_cast<int64_t>(score));
}

// Moves a cell one step along one coordinate, whose bits are those of `own` (longitude:
// the odd bits, latitude: the even ones); the other coordinate's bits stay. Adding with
// the other coordinate's bits set carries across them.
Cell Move(Cell c, int d, uint64_t own) {
  const uint64_t other = ~own;
  const uint64_t zz = other >> (64 - c.step * 2);
  uint64_t v = c.bits & own;
  v = d > 0 ? v + (zz + 1) : (v | zz) - (zz + 1);
  v &= own >> (64 - c.step * 2);
  c.bits = v | (c.bits & other);
  return c;
}
// East (+1) or west (-1); north (+1) or south (-1).
Cell MoveX(Cell c, int d) { return Move(c, d, 0xAAAAAAAAAAAAAAAAULL); }
Cell MoveY(Cell c, int d) { return Move(c, d, 0x5555555555555555ULL); }

// The precision (bits per coordinate) of cells about as large as the search.
int StepFor(double range_m, double lat) {
  if (range_m == 0) return kMaxStep;
  constexpr double kMercatorMax = 20037726.37;
  int step = 1;
  while (range_m < kMercatorMax) {
    range_m *= 2;
    step++;
  }
  step -= 2;
  // Cells are narrower towards the poles.
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > kMaxStep) step = kMaxStep;
  return step;
}

double LatDistance(double lat1, double lat2) {
  return kEarthRadiusMeters * std::fabs(Rad(lat2) - Rad(lat1));
}

}  // namespace

bool ValidPoint(double lon, double lat) {
  return !(lon < kLonMin || lon > kLonMax || lat < kLatMin || lat > kLatMax);
}

uint64_t Encode(double lon, double lat) { return EncodeIn(kLon, kLat, lon, lat, kMaxStep).bits; }

Point Decode(double score) {
  return Centre(DecodeIn(kLon, kLat, Cell{ScoreBits(score), kMaxStep}));
}

std::string StandardGeohash(double score) {
  static constexpr char kAlphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
  const Point p = Decode(score);
  const Cell cell = EncodeIn(kLon, Range{-90, 90}, p.lon, p.lat, kMaxStep);
  std::string out(11, '0');
  // 52 bits make ten characters and two bits; the eleventh is taken as zero, as Redis does.
  for (int i = 0; i < 10; i++) out[i] = kAlphabet[(cell.bits >> (52 - (i + 1) * 5)) & 0x1F];
  return out;
}

double Distance(const Point& a, const Point& b) {
  const double v = std::sin((Rad(b.lon) - Rad(a.lon)) / 2);
  // Same meridian: the latitude difference alone, as Redis shortcuts it.
  if (v == 0.0) return LatDistance(a.lat, b.lat);
  const double lat1 = Rad(a.lat), lat2 = Rad(b.lat);
  const double u = std::sin((lat2 - lat1) / 2);
  const double h = u * u + std::cos(lat1) * std::cos(lat2) * v * v;
  // (Rounding can take h a hair past 1 for nearly antipodal points: asin would be NaN.)
  return 2.0 * kEarthRadiusMeters * std::asin(std::sqrt(std::min(h, 1.0)));
}

bool Within(const Shape& shape, const Point& p, double* distance_m) {
  if (!shape.box) {
    *distance_m = Distance(shape.centre, p);
    return *distance_m <= shape.radius_m;
  }
  // Latitude first: it is the cheaper test.
  if (LatDistance(p.lat, shape.centre.lat) > shape.height_m / 2) return false;
  if (Distance(p, Point{shape.centre.lon, p.lat}) > shape.width_m / 2) return false;
  *distance_m = Distance(shape.centre, p);
  return true;
}

std::vector<ScoreRange> SearchRanges(const Shape& shape) {
  const double lon = shape.centre.lon, lat = shape.centre.lat;
  const double half_h = shape.box ? shape.height_m / 2 : shape.radius_m;
  const double half_w = shape.box ? shape.width_m / 2 : shape.radius_m;
  // The bounding box of the shape.
  const double lat_delta = Deg(half_h / kEarthRadiusMeters);
  const double lon_delta_top = Deg(half_w / kEarthRadiusMeters / std::cos(Rad(lat + lat_delta)));
  const double lon_delta_bottom = Deg(half_w / kEarthRadiusMeters / std::cos(Rad(lat - lat_delta)));
  const bool southern = lat < 0;
  const double min_lon = southern ? lon - lon_delta_bottom : lon - lon_delta_top;
  const double max_lon = southern ? lon + lon_delta_bottom : lon + lon_delta_top;
  const double min_lat = lat - lat_delta, max_lat = lat + lat_delta;
  // A box's reach is its half diagonal.
  const double reach = shape.box ? std::sqrt(half_w * half_w + half_h * half_h) : shape.radius_m;

  int step = StepFor(reach, lat);
  Cell centre = EncodeIn(kLon, kLat, lon, lat, step);
  Cell north = MoveY(centre, 1), south = MoveY(centre, -1);
  Cell east = MoveX(centre, 1), west = MoveX(centre, -1);
  // Near a cell's edge the estimated cells may be too small to cover the box: one
  // precision coarser then.
  const bool coarser = DecodeIn(kLon, kLat, north).lat.max < max_lat ||
                       DecodeIn(kLon, kLat, south).lat.min > min_lat ||
                       DecodeIn(kLon, kLat, east).lon.max < max_lon ||
                       DecodeIn(kLon, kLat, west).lon.min > min_lon;
  if (step > 1 && coarser) {
    step--;
    centre = EncodeIn(kLon, kLat, lon, lat, step);
    north = MoveY(centre, 1), south = MoveY(centre, -1);
    east = MoveX(centre, 1), west = MoveX(centre, -1);
  }
  Cell ne = MoveY(MoveX(centre, 1), 1), nw = MoveY(MoveX(centre, -1), 1);
  Cell se = MoveY(MoveX(centre, 1), -1), sw = MoveY(MoveX(centre, -1), -1);
  const Area area = DecodeIn(kLon, kLat, centre);
  // Neighbours beyond the box are left out.
  if (step >= 2) {
    if (area.lat.min < min_lat) south = se = sw = Cell{};
    if (area.lat.max > max_lat) north = ne = nw = Cell{};
    if (area.lon.min < min_lon) west = sw = nw = Cell{};
    if (area.lon.max > max_lon) east = se = ne = Cell{};
  }
  const Cell cells[9] = {centre, north, south, east, west, ne, nw, se, sw};
  std::vector<ScoreRange> out;
  int last = 0;  // the last cell visited; 0 also means none, as in Redis
  for (int i = 0; i < 9; i++) {
    if (cells[i].none()) continue;
    // Huge radii make neighbours coincide: a cell equal to the one just visited is skipped.
    if (last != 0 && cells[i].bits == cells[last].bits && cells[i].step == cells[last].step)
      continue;
    const int shift = 52 - cells[i].step * 2;
    out.push_back({cells[i].bits << shift, (cells[i].bits + 1) << shift});
    last = i;
  }
  return out;
}

}  // namespace cairn::server::geo
