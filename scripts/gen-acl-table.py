#!/usr/bin/python3
"""Generates src/server/acl_table.{h,cc}: Redis 7.0.15's ACL categories and key specs.

Starts the installed redis-server on a free port, reads COMMAND INFO (RESP3, via
redis-py), and writes one entry per command and subcommand, in name order. cairn's own
commands (CAIRN_COMMANDS below) are appended with the categories chosen here.

Usage: scripts/gen-acl-table.py [--redis-server /usr/bin/redis-server] [--out src/server]
"""
import argparse
import os
import socket
import subprocess
import tempfile
import time

import redis

# Redis 7.0's category order (ACL CAT lists them so; ACL LIST's approximation walks them so).
CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting"]

# cairn's commands: name -> categories. CAIRN.RANGE lists keys with their values: it is
# checked as a read of every key (see acl.cc), on top of these categories.
CAIRN_COMMANDS = {
    "cairn.consistency": ["connection", "fast"],
    "cairn.range": ["keyspace", "read", "slow", "dangerous"],
    "cairn.fcall": ["scripting", "slow", "admin", "dangerous"],
    "cairn.replica": ["admin", "slow", "dangerous"],
}

KEY_FLAGS = ["RW", "RO", "OW", "RM", "access", "update", "insert", "delete",
             "not_key", "incomplete", "variable_flags"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def to_dict(v):
    if isinstance(v, dict):
        return {k.decode() if isinstance(k, bytes) else k: v[k] for k in v}
    it = iter(v)
    return {(k.decode() if isinstance(k, bytes) else k): x for k, x in zip(it, it)}


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def parse_key_spec(raw):
    d = to_dict(raw)
    flags = [s(f) for f in d["flags"]]
    bs = to_dict(d["begin_search"])
    fk = to_dict(d["find_keys"])
    bs_type, fk_type = s(bs["type"]), s(fk["type"])
    bss = to_dict(bs["spec"]) if bs_type != "unknown" else {}
    fks = to_dict(fk["spec"]) if fk_type != "unknown" else {}
    return {
        "flags": flags,
        "bs_type": bs_type,
        "bs_index": int(bss.get("index", 0)),
        "bs_keyword": s(bss.get("keyword", b"")),
        "bs_startfrom": int(bss.get("startfrom", 0)),
        "fk_type": fk_type,
        "lastkey": int(fks.get("lastkey", 0)),
        "keystep": int(fks.get("keystep", 0)),
        "limit": int(fks.get("limit", 0)),
        "keynumidx": int(fks.get("keynumidx", 0)),
        "firstkey": int(fks.get("firstkey", 0)),
        "step": int(fks.get("keystep", 0)),
    }


def collect(info, out):
    name = s(info[0]).lower()
    flags = [s(f) for f in info[2]]
    cats = [s(c).lstrip("@") for c in info[6]]
    specs = [parse_key_spec(k) for k in info[8]]
    out[name] = {"cats": cats, "specs": specs, "movable": "movablekeys" in flags,
                 "noauth": "no_auth" in flags, "arity": int(info[1])}
    for sub in info[9] or []:
        collect(sub, out)


def read_redis(binary):
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                                 "--dir", d], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    r = redis.Redis(port=port)
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            version = r.info()["redis_version"]
            # The raw reply (redis-py's COMMAND callback would reshape it).
            conn = r.connection_pool.get_connection("COMMAND")
            conn.send_command("COMMAND", "INFO")
            raw = conn.read_response()
            r.connection_pool.release(conn)
        finally:
            proc.terminate()
            proc.wait()
    out = {}
    for info in raw:
        if info:
            collect(info, out)
    return version, out


def cat_expr(cats):
    bits = [f"kCat{c.capitalize()}" for c in cats]
    return " | ".join(bits) if bits else "0"


def spec_expr(k):
    flags = " | ".join(f"kKs{f.capitalize() if f.islower() else f}" for f in k["flags"]) or "0"
    bs = {"index": "kBeginIndex", "keyword": "kBeginKeyword"}.get(k["bs_type"], "kBeginUnknown")
    fk = {"range": "kFindRange", "keynum": "kFindKeynum"}.get(k["fk_type"], "kFindUnknown")
    kw = '"%s"' % k["bs_keyword"] if k["bs_keyword"] else "nullptr"
    if k["fk_type"] == "keynum":
        a, b, c = k["keynumidx"], k["firstkey"], k["step"]
    else:
        a, b, c = k["lastkey"], k["keystep"], k["limit"]
    return (f"{{{flags}, {bs}, {k['bs_index']}, {kw}, {k['bs_startfrom']}, {fk}, "
            f"{a}, {b}, {c}}}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-server", default="/usr/bin/redis-server")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "src", "server"))
    a = ap.parse_args()
    version, cmds = read_redis(a.redis_server)
    for name, cats in CAIRN_COMMANDS.items():
        cmds[name] = {"cats": cats, "specs": [], "movable": False, "noauth": False, "arity": 0}
    names = sorted(cmds)
    gen = (f"// Generated by scripts/gen-acl-table.py from redis-server {version}'s COMMAND INFO;\n"
           "// do not edit. Regenerate: scripts/gen-acl-table.py (needs redis-server and\n"
           "// python3-redis), then rebuild.\n")
    hdr = gen + """// Redis's ACL categories and key specs of every command and subcommand ("config|get").
#ifndef CAIRN_SERVER_ACL_TABLE_H_
#define CAIRN_SERVER_ACL_TABLE_H_

#include <cstddef>
#include <cstdint>

namespace cairn::server::acl {

enum Category : uint32_t {
"""
    for i, c in enumerate(CATEGORIES):
        hdr += f"  kCat{c.capitalize()} = 1u << {i},\n"
    hdr += "};\ninline constexpr int kCategoryCount = %d;\n" % len(CATEGORIES)
    hdr += "// In bit order (ACL CAT's order).\nextern const char* const kCategoryNames[kCategoryCount];\n\n"
    hdr += "enum KeySpecFlag : uint32_t {\n"
    for i, f in enumerate(KEY_FLAGS):
        hdr += f"  kKs{f.capitalize() if f.islower() else f} = 1u << {i},\n"
    hdr += """};

enum BeginSearch : uint8_t { kBeginUnknown, kBeginIndex, kBeginKeyword };
enum FindKeys : uint8_t { kFindUnknown, kFindRange, kFindKeynum };

// One of Redis's key specs. kFindRange uses a=lastkey, b=keystep, c=limit; kFindKeynum
// uses a=keynumidx, b=firstkey, c=keystep.
struct KeySpec {
  uint32_t flags;
  BeginSearch begin;
  int index;            // kBeginIndex
  const char* keyword;  // kBeginKeyword
  int startfrom;        // kBeginKeyword (negative: from the end)
  FindKeys find;
  int a, b, c;
};

struct CommandAcl {
  const char* name;  // lower case; a subcommand is "parent|sub"
  int arity;         // Redis's (0: cairn's own command, see its CommandSpec)
  uint32_t categories;
  bool movable_keys;  // Redis finds keys with a procedure (some specs incomplete)
  bool no_auth;       // allowed to every user (AUTH, HELLO)
  int key_spec_count;
  const KeySpec* key_specs;
};

// Sorted by name; the index of an entry is the command's id in ACL bitmaps.
extern const CommandAcl kCommandAcls[];
inline constexpr size_t kCommandAclCount = %d;

}  // namespace cairn::server::acl

#endif  // CAIRN_SERVER_ACL_TABLE_H_
""" % len(names)
    cc = gen + '#include "server/acl_table.h"\n\nnamespace cairn::server::acl {\n\n'
    cc += "const char* const kCategoryNames[kCategoryCount] = {\n"
    cc += "".join(f'    "{c}",\n' for c in CATEGORIES) + "};\n\nnamespace {\n"
    for i, n in enumerate(names):
        if cmds[n]["specs"]:
            cc += f"const KeySpec kSpecs{i}[] = {{\n"
            cc += "".join(f"    {spec_expr(k)},\n" for k in cmds[n]["specs"])
            cc += "};\n"
    cc += "}  // namespace\n\nconst CommandAcl kCommandAcls[] = {\n"
    for i, n in enumerate(names):
        c = cmds[n]
        sp = f"kSpecs{i}" if c["specs"] else "nullptr"
        cc += (f'    {{"{n}", {c["arity"]}, {cat_expr(c["cats"])}, {str(c["movable"]).lower()}, {str(c["noauth"]).lower()}, '
               f'{len(c["specs"])}, {sp}}},\n')
    cc += "};\n\n}  // namespace cairn::server::acl\n"
    with open(os.path.join(a.out, "acl_table.h"), "w") as f:
        f.write(hdr)
    with open(os.path.join(a.out, "acl_table.cc"), "w") as f:
        f.write(cc)
    print(f"{len(names)} commands from redis {version}")


if __name__ == "__main__":
    main()
