"""GEO commands against redis-server 7.0.15 side by side: the same command sequences go to
both, and every reply, errors included, must be equal: the scores GEOADD stores (read back
with ZSCORE and ZRANGE WITHSCORES), GEOPOS's decoded coordinates, GEODIST's haversine,
GEOHASH's strings, and the searches' members, order, distances, hashes and coordinates.

Keys share the hash tag {g} so the same cases run on a 3-node cluster.
"""
import random

from conftest import RespError
from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)

SICILY = ("13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")

CASES = [
    # GEOADD: options, scores, errors
    ("GEOADD", "{g}s", *SICILY), ("ZRANGE", "{g}s", "0", "-1", "WITHSCORES"),
    ("GEOADD", "{g}s", "13.361389", "38.115556", "Palermo"),
    ("GEOADD", "{g}s", "CH", "13.361390", "38.115556", "Palermo"),
    ("GEOADD", "{g}s", "NX", "0", "0", "Palermo", "1", "1", "null-island"),
    ("GEOADD", "{g}s", "XX", "2", "2", "null-island", "3", "3", "nowhere"),
    ("GEOADD", "{g}s", "XX", "CH", "2", "2", "null-island"), ("ZSCORE", "{g}s", "null-island"),
    ("GEOADD", "{g}s", "NX", "XX", "1", "1", "a"), ("GEOADD", "{g}s", "1", "1"),
    ("GEOADD", "{g}s", "1", "1", "a", "2"), ("GEOADD", "{g}s", "ch", "ch", "ch"),
    ("GEOADD", "{g}s", "181", "0", "bad"), ("GEOADD", "{g}s", "0", "85.06", "bad"),
    ("GEOADD", "{g}s", "-180.0001", "-85.06", "bad"), ("GEOADD", "{g}s", "x", "0", "bad"),
    ("GEOADD", "{g}s", "0", "nan", "bad"), ("GEOADD", "{g}s", "1", "1", "ok", "200", "0", "bad"),
    ("EXISTS", "{g}bad"), ("ZCARD", "{g}s"),
    # poles and the antimeridian
    ("GEOADD", "{g}edge", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "0", "0", "origin",
     "179.9999", "0.5", "east", "-179.9999", "0.5", "west", "180", "0", "e180", "-180", "0", "w180"),
    ("ZRANGE", "{g}edge", "0", "-1", "WITHSCORES"), ("GEOPOS", "{g}edge", "ne", "sw", "origin", "east", "west"),
    ("GEOHASH", "{g}edge", "ne", "sw", "origin", "east", "west", "e180", "w180"),
    ("GEODIST", "{g}edge", "east", "west", "km"), ("GEODIST", "{g}edge", "ne", "sw"),
    ("GEORADIUS", "{g}edge", "180", "0.5", "100", "km", "WITHDIST", "ASC"),
    ("GEORADIUS", "{g}edge", "-180", "0", "60", "km", "WITHCOORD", "WITHHASH", "WITHDIST"),
    ("GEOSEARCH", "{g}edge", "FROMLONLAT", "0", "85", "BYRADIUS", "500", "km"),
    ("GEOSEARCH", "{g}edge", "FROMMEMBER", "ne", "BYBOX", "1000", "1000", "km", "WITHDIST"),
    ("GEOSEARCH", "{g}edge", "FROMMEMBER", "origin", "BYRADIUS", "20000", "km", "ASC", "WITHDIST"),
    ("GEOSEARCH", "{g}edge", "FROMMEMBER", "origin", "BYRADIUS", "20000", "km"),
    # GEOPOS, GEOHASH, GEODIST
    ("GEOPOS", "{g}s", "Palermo", "Catania", "missing"), ("GEOPOS", "{g}nokey", "a", "b"), ("GEOPOS", "{g}s"),
    ("GEOHASH", "{g}s", "Palermo", "Catania", "missing"), ("GEOHASH", "{g}nokey", "a"), ("GEOHASH", "{g}s"),
    ("GEODIST", "{g}s", "Palermo", "Catania"), ("GEODIST", "{g}s", "Palermo", "Catania", "km"),
    ("GEODIST", "{g}s", "Palermo", "Catania", "MI"), ("GEODIST", "{g}s", "Palermo", "Catania", "ft"),
    ("GEODIST", "{g}s", "Palermo", "Catania", "m"), ("GEODIST", "{g}s", "Palermo", "Catania", "yd"),
    ("GEODIST", "{g}s", "Palermo", "Catania", "km", "x"), ("GEODIST", "{g}s", "Palermo", "missing"),
    ("GEODIST", "{g}s", "missing", "Palermo"), ("GEODIST", "{g}nokey", "a", "b"),
    ("GEODIST", "{g}s", "Palermo", "Palermo"), ("GEODIST", "{g}nokey", "a", "b", "yd"),
    # plain sorted-set scores decode too
    ("ZADD", "{g}z", "0", "zero", "1", "one", "4503599627370495", "max", "-5", "neg", "1e20", "big"),
    ("GEOPOS", "{g}z", "zero", "one", "max", "neg", "big"), ("GEOHASH", "{g}z", "zero", "one", "max"),
    ("GEODIST", "{g}z", "zero", "max"),
    # WRONGTYPE
    ("SET", "{g}str", "v"), ("GEOADD", "{g}str", "1", "1", "a"), ("GEOPOS", "{g}str", "a"),
    ("GEOHASH", "{g}str", "a"), ("GEODIST", "{g}str", "a", "b"),
    ("GEORADIUS", "{g}str", "1", "1", "1", "km"), ("GEORADIUS", "{g}str", "1000", "1", "-1", "yd"),
    ("GEORADIUSBYMEMBER", "{g}str", "a", "1", "km"), ("GEOSEARCH", "{g}str", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}str", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m"),
    # GEORADIUS and its options
    ("GEORADIUS", "{g}s", "15", "37", "200", "km"), ("GEORADIUS", "{g}s", "15", "37", "200", "km", "ASC"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "DESC"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "withhash"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "1"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "1", "DESC", "WITHDIST"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "1", "ANY"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "ANY"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "0"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "-3"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT", "x"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "COUNT"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "BOGUS"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "yd"), ("GEORADIUS", "{g}s", "15", "37", "-1", "km"),
    ("GEORADIUS", "{g}s", "15", "37", "x", "km"), ("GEORADIUS", "{g}s", "15", "91", "1", "km"),
    ("GEORADIUS", "{g}s", "x", "37", "1", "km"), ("GEORADIUS", "{g}s", "15", "37", "0", "km"),
    ("GEORADIUS", "{g}s", "15", "37", "1", "m"), ("GEORADIUS", "{g}s", "15", "37", "124", "mi", "WITHDIST"),
    ("GEORADIUS", "{g}s", "15", "37", "600000", "ft", "WITHDIST"),
    ("GEORADIUS", "{g}nokey", "15", "37", "200", "km"),
    ("GEORADIUS", "{g}nokey", "15", "37", "200", "km", "STORE", "{g}dst"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "FROMMEMBER", "Palermo"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STOREDIST"),
    # GEORADIUSBYMEMBER
    ("GEORADIUSBYMEMBER", "{g}s", "Palermo", "200", "km"),
    ("GEORADIUSBYMEMBER", "{g}s", "Palermo", "200", "km", "WITHDIST", "DESC"),
    ("GEORADIUSBYMEMBER", "{g}s", "missing", "200", "km"),
    ("GEORADIUSBYMEMBER", "{g}s", "missing", "-200", "yd"),
    ("GEORADIUSBYMEMBER", "{g}s", "Palermo", "-200", "km"),
    ("GEORADIUSBYMEMBER", "{g}nokey", "Palermo", "-200", "yd"),
    ("GEORADIUSBYMEMBER", "{g}nokey", "Palermo", "200", "km", "STORE", "{g}dst"),
    ("GEORADIUSBYMEMBER", "{g}nokey", "Palermo", "200", "km", "BOGUS"),
    ("GEORADIUSBYMEMBER_RO", "{g}s", "Palermo", "200", "km", "WITHCOORD"),
    ("GEORADIUSBYMEMBER_RO", "{g}s", "Palermo", "200", "km", "STORE", "{g}dst"),
    ("GEORADIUS_RO", "{g}s", "15", "37", "200", "km", "STOREDIST", "{g}dst"),
    ("GEORADIUS_RO", "{g}s", "15", "37", "200", "km", "COUNT", "1", "WITHDIST"),
    # STORE / STOREDIST, read back
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STORE", "{g}dst"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STOREDIST", "{g}dst"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STORE", "{g}a", "STOREDIST", "{g}dst", "COUNT", "1"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"), ("EXISTS", "{g}a"),
    ("GEORADIUSBYMEMBER", "{g}s", "Palermo", "100", "mi", "STOREDIST", "{g}dst"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STORE", "{g}dst", "WITHDIST"),
    ("GEORADIUS", "{g}s", "15", "37", "200", "km", "WITHCOORD", "STORE", "{g}dst"),
    ("GEORADIUS", "{g}s", "-70", "-30", "1", "km", "STORE", "{g}dst"), ("EXISTS", "{g}dst"),
    ("SET", "{g}dst", "string"), ("GEORADIUS", "{g}s", "15", "37", "200", "km", "STORE", "{g}dst"),
    ("TYPE", "{g}dst"), ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    # GEOSEARCH
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"),
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "200", "100", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "400", "100", "km", "DESC", "WITHDIST"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "0", "0", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "-1", "0", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "x", "0", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "1", "y", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "1", "1", "yd"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYBOX", "1", "1"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "missing", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "1", "1", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"),
    ("GEOSEARCH", "{g}s", "BYRADIUS", "1", "km", "WITHDIST"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "WITHDIST"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "ANY"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "COUNT", "1", "ANY"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STORE", "{g}dst"),
    ("GEOSEARCH", "{g}s", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STOREDIST"),
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "200", "1", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "1", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km"),
    ("GEOSEARCH", "{g}nokey", "FROMMEMBER", "x", "BYRADIUS", "-1", "km"),
    ("GEOSEARCH", "{g}nokey", "FROMMEMBER", "x"),
    ("GEOSEARCH", "{g}s", "FROMLONLAT", "-70", "-30", "BYRADIUS", "1", "km"),
    # GEOSEARCHSTORE
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "COUNT", "2"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "STOREDIST"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMMEMBER", "Catania", "BYRADIUS", "10", "mi", "STOREDIST", "COUNT", "1", "ANY"),
    ("ZRANGE", "{g}dst", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMMEMBER", "Catania", "BYRADIUS", "10", "mi", "WITHDIST"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMMEMBER", "Catania", "BYRADIUS", "10", "mi", "STORE", "{g}x"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMLONLAT", "-70", "-30", "BYRADIUS", "1", "km"), ("EXISTS", "{g}dst"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}s", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("GEOSEARCHSTORE", "{g}dst", "{g}nokey", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("EXISTS", "{g}dst"),
]


def test_geo_replies_match_redis(server, redis):
    cairn = both(server, redis)
    for args in CASES:
        same(cairn, redis, *args)


def test_geo_resp3_coordinates(server, redis):
    cairn = both(server, redis)
    for conn in (cairn, redis):
        conn.command("HELLO", "3")
    for args in (("GEOADD", "{g}r3", *SICILY), ("GEOPOS", "{g}r3", "Palermo", "nope"),
                 ("GEODIST", "{g}r3", "Palermo", "Catania"),
                 ("GEOSEARCH", "{g}r3", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHCOORD", "WITHDIST", "ASC")):
        got, want = cairn.command(*args), redis.command(*args)
        assert got == want and cairn.last_type == redis.last_type, (args, got, want)


def test_random_points_and_searches_match_redis(server, redis):
    """Random points everywhere, dense clusters and searches of every size: the unordered
    replies (cell by cell, as Redis visits them), COUNT ANY's pick, BYBOX, and the scores
    must all agree."""
    cairn = both(server, redis)
    rng = random.Random(7)
    args = ["GEOADD", "{g}rand"]
    for i in range(400):
        if i % 2:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05, 85.05)
        else:  # a cluster about Rome
            lon, lat = 12.5 + rng.uniform(-2, 2), 41.9 + rng.uniform(-2, 2)
        args += ["%.6f" % lon, "%.6f" % lat, "p%d" % i]
    same(cairn, redis, *args)
    same(cairn, redis, "ZRANGE", "{g}rand", "0", "-1", "WITHSCORES")
    for i in range(60):
        lon, lat = ("%.5f" % rng.uniform(-180, 180), "%.5f" % rng.uniform(-85, 85)) if i % 3 == 0 else \
            ("%.5f" % (12.5 + rng.uniform(-1, 1)), "%.5f" % (41.9 + rng.uniform(-1, 1)))
        radius = rng.choice(["0.5", "10", "50", "120", "800", "3000", "9000"])
        same(cairn, redis, "GEORADIUS", "{g}rand", lon, lat, radius, "km")
        same(cairn, redis, "GEORADIUS", "{g}rand", lon, lat, radius, "km", "COUNT", "3", "ANY", "WITHHASH")
        same(cairn, redis, "GEOSEARCH", "{g}rand", "FROMLONLAT", lon, lat, "BYBOX", radius, "100", "km", "WITHDIST")
        same(cairn, redis, "GEOSEARCH", "{g}rand", "FROMMEMBER", "p%d" % i, "BYRADIUS", radius, "km", "COUNT", "5",
             "WITHDIST", "WITHCOORD")
        same(cairn, redis, "GEODIST", "{g}rand", "p%d" % i, "p%d" % (i + 1), "mi")
    same(cairn, redis, "GEOHASH", "{g}rand", *["p%d" % i for i in range(40)])
    same(cairn, redis, "GEOPOS", "{g}rand", *["p%d" % i for i in range(40)])


def test_geo_command_info_matches_redis(server, redis):
    cairn = both(server, redis)
    for name in ("geoadd", "geodist", "geohash", "geopos", "georadius", "georadius_ro", "georadiusbymember",
                 "georadiusbymember_ro", "geosearch", "geosearchstore"):
        got, want = cairn.command("COMMAND", "INFO", name)[0], redis.command("COMMAND", "INFO", name)[0]
        assert got[:2] == want[:2] and got[3:6] == want[3:6], (name, got, want)
        assert isinstance(got, list) and not isinstance(got, RespError)
