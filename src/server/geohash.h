// Redis's geohash arithmetic, so that geo sets are bit-for-bit the sorted sets Redis makes:
// a point is a 52-bit score interleaving 26 bits of latitude (even bits, over
// [-85.05112878, 85.05112878], Web Mercator's range) with 26 bits of longitude (odd bits,
// over [-180, 180]); distances are haversine on a sphere of Redis's earth radius; a search
// visits the cell holding its centre and up to eight neighbours, at a precision chosen from
// the search's size, exactly as Redis does (so unordered and COUNT ANY replies agree too).
// Pure functions: no state, any thread.
#ifndef CAIRN_SERVER_GEOHASH_H_
#define CAIRN_SERVER_GEOHASH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::server::geo {

inline constexpr double kLonMin = -180, kLonMax = 180;
inline constexpr double kLatMin = -85.05112878, kLatMax = 85.05112878;
inline constexpr double kEarthRadiusMeters = 6372797.560856;
inline constexpr int kMaxStep = 26;  // bits per coordinate of a stored score

// A cell: its interleaved bits and how many bits per coordinate they hold. Step 0 with
// bits 0 is "no cell" (a neighbour a search leaves out).
struct Cell {
  uint64_t bits = 0;
  int step = 0;
  bool none() const { return bits == 0 && step == 0; }
};

struct Point {
  double lon = 0, lat = 0;
};

// Whether (lon, lat) may be stored (GEOADD and search centres check this).
bool ValidPoint(double lon, double lat);
// The 52-bit score of a valid point.
uint64_t Encode(double lon, double lat);
// A score's point: the centre of its cell, clamped to the valid range. Any double is
// accepted (a score written by ZADD decodes to some point, as in Redis).
Point Decode(double score);
// The 11-character standard geohash (latitude over [-90, 90]) GEOHASH replies.
std::string StandardGeohash(double score);
// Haversine distance in meters.
double Distance(const Point& a, const Point& b);

// A search area: a circle of radius, or a box width x height (meters), about centre.
struct Shape {
  Point centre;
  bool box = false;
  double radius_m = 0, width_m = 0, height_m = 0;
};
// Whether p lies in the shape; *distance_m is then its distance from the centre.
bool Within(const Shape& shape, const Point& p, double* distance_m);

// The score ranges [min, max) to visit, in Redis's order (centre, north, south, east,
// west, north-east, north-west, south-east, south-west), cells the search cannot need
// and repeats of the previous cell left out.
struct ScoreRange {
  uint64_t min, max;
};
std::vector<ScoreRange> SearchRanges(const Shape& shape);

}  // namespace cairn::server::geo

#endif  // CAIRN_SERVER_GEOHASH_H_
