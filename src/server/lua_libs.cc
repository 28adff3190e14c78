// cmsgpack and struct for scripts (lua_libs.h). Written for cairn after the libraries'
// documented behaviour: MessagePack's specification, and struct's manual.
#include "server/lua_libs.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" {
#include <lauxlib.h>
}

namespace cairn::server {
namespace {

// --- cmsgpack -----------------------------------------------------------------------------

constexpr int kMaxNesting = 16;  // deeper tables are packed as nil, as Redis's library does

// A growable byte buffer in malloc'd memory: packing raises no Lua error but out of memory,
// where the buffer leaks (as every allocation of a failing script would).
struct Buf {
  char* data = nullptr;
  size_t len = 0, cap = 0;
};

void Put(Buf* b, const void* p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap == 0 ? 64 : b->cap * 2;
    while (cap < b->len + n) cap *= 2;
    char* grown = static_cast<char*>(std::realloc(b->data, cap));
    if (grown == nullptr) std::abort();
    b->data = grown;
    b->cap = cap;
  }
  std::memcpy(b->data + b->len, p, n);
  b->len += n;
}

void PutByte(Buf* b, uint8_t v) { Put(b, &v, 1); }

void PutBig(Buf* b, uint8_t tag, uint64_t v, int bytes) {
  uint8_t out[9];
  out[0] = tag;
  for (int i = 0; i < bytes; i++) out[1 + i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
  Put(b, out, 1 + bytes);
}

void PackInteger(Buf* b, int64_t v) {
  if (v >= 0) {
    const uint64_t u = static_cast<uint64_t>(v);
    if (u < 128) return PutByte(b, static_cast<uint8_t>(u));
    if (u <= 0xff) return PutBig(b, 0xcc, u, 1);
    if (u <= 0xffff) return PutBig(b, 0xcd, u, 2);
    if (u <= 0xffffffffull) return PutBig(b, 0xce, u, 4);
    return PutBig(b, 0xcf, u, 8);
  }
  if (v >= -32) return PutByte(b, static_cast<uint8_t>(v));
  if (v >= -128) return PutBig(b, 0xd0, static_cast<uint64_t>(v) & 0xff, 1);
  if (v >= -32768) return PutBig(b, 0xd1, static_cast<uint64_t>(v) & 0xffff, 2);
  if (v >= INT32_MIN) return PutBig(b, 0xd2, static_cast<uint64_t>(v) & 0xffffffffull, 4);
  PutBig(b, 0xd3, static_cast<uint64_t>(v), 8);
}

void PackNumber(Buf* b, double n) {
  if (std::isfinite(n) && n == std::floor(n) && n >= -9223372036854775808.0 &&
      n < 9223372036854775808.0) {
    return PackInteger(b, static_cast<int64_t>(n));
  }
  const float f = static_cast<float>(n);
  if (static_cast<double>(f) == n) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return PutBig(b, 0xca, bits, 4);
  }
  uint64_t bits;
  std::memcpy(&bits, &n, 8);
  PutBig(b, 0xcb, bits, 8);
}

void PackString(Buf* b, const char* s, size_t n) {
  if (n < 32) {
    PutByte(b, static_cast<uint8_t>(0xa0 | n));
  } else if (n <= 0xff) {
    PutBig(b, 0xd9, n, 1);
  } else if (n <= 0xffff) {
    PutBig(b, 0xda, n, 2);
  } else {
    PutBig(b, 0xdb, n, 4);
  }
  Put(b, s, n);
}

// The table at the top is an array when its keys are exactly 1..n (n may be 0).
bool IsArray(lua_State* L, size_t* n) {
  size_t count = 0;
  double max = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return false;
    }
    const double k = lua_tonumber(L, -1);
    if (k <= 0 || k != std::floor(k)) {
      lua_pop(L, 1);
      return false;
    }
    if (k > max) max = k;
    count++;
  }
  *n = count;
  return max == static_cast<double>(count);
}

void PackValue(lua_State* L, Buf* b, int level);

void PackTable(lua_State* L, Buf* b, int level) {
  size_t n = 0;
  if (IsArray(L, &n)) {
    if (n < 16) {
      PutByte(b, static_cast<uint8_t>(0x90 | n));
    } else if (n <= 0xffff) {
      PutBig(b, 0xdc, n, 2);
    } else {
      PutBig(b, 0xdd, n, 4);
    }
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, static_cast<int>(i));
      PackValue(L, b, level + 1);
      lua_pop(L, 1);
    }
    return;
  }
  size_t pairs = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    pairs++;
  }
  if (pairs < 16) {
    PutByte(b, static_cast<uint8_t>(0x80 | pairs));
  } else if (pairs <= 0xffff) {
    PutBig(b, 0xde, pairs, 2);
  } else {
    PutBig(b, 0xdf, pairs, 4);
  }
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);  // the key, packed without disturbing lua_next's copy
    PackValue(L, b, level + 1);
    lua_pop(L, 1);
    PackValue(L, b, level + 1);
    lua_pop(L, 1);
  }
}

void PackValue(lua_State* L, Buf* b, int level) {
  luaL_checkstack(L, 4, "cmsgpack: nesting too deep");
  switch (lua_type(L, -1)) {
    case LUA_TBOOLEAN:
      return PutByte(b, lua_toboolean(L, -1) ? 0xc3 : 0xc2);
    case LUA_TNUMBER:
      return PackNumber(b, lua_tonumber(L, -1));
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, -1, &n);
      return PackString(b, s, n);
    }
    case LUA_TTABLE:
      if (level < kMaxNesting) return PackTable(L, b, level);
      return PutByte(b, 0xc0);
    default:
      return PutByte(b, 0xc0);
  }
}

int Pack(lua_State* L) {
  const int n = lua_gettop(L);
  if (n == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  Buf b;
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, i);
    PackValue(L, &b, 0);
    lua_pop(L, 1);
  }
  lua_pushlstring(L, b.data == nullptr ? "" : b.data, b.len);
  std::free(b.data);
  return 1;
}

// Decoding: *pos advances over one object, whose value is pushed. False (nothing pushed)
// when the input ends early; a malformed type byte raises.
bool Need(size_t len, size_t pos, size_t n) { return n <= len && pos <= len - n; }

uint64_t Big(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
  return v;
}

bool Unpack(lua_State* L, const unsigned char* s, size_t len, size_t* pos, int depth);

bool UnpackArray(lua_State* L, const unsigned char* s, size_t len, size_t* pos, uint64_t n, int depth) {
  lua_newtable(L);
  for (uint64_t i = 1; i <= n; i++) {
    if (!Unpack(L, s, len, pos, depth + 1)) {
      lua_pop(L, 1);
      return false;
    }
    lua_rawseti(L, -2, static_cast<int>(i));
  }
  return true;
}

bool UnpackMap(lua_State* L, const unsigned char* s, size_t len, size_t* pos, uint64_t n, int depth) {
  lua_newtable(L);
  for (uint64_t i = 0; i < n; i++) {
    if (!Unpack(L, s, len, pos, depth + 1)) {
      lua_pop(L, 1);
      return false;
    }
    if (!Unpack(L, s, len, pos, depth + 1)) {
      lua_pop(L, 2);
      return false;
    }
    if (lua_isnil(L, -2)) {
      lua_pop(L, 2);  // a nil key cannot be stored
    } else {
      lua_rawset(L, -3);
    }
  }
  return true;
}

bool Unpack(lua_State* L, const unsigned char* s, size_t len, size_t* pos, int depth) {
  luaL_checkstack(L, 4, "cmsgpack: nesting too deep");
  if (depth > 1000) luaL_error(L, "Bad data format in input.");
  if (!Need(len, *pos, 1)) return false;
  const unsigned char t = s[(*pos)++];
  auto fixed = [&](int bytes, uint64_t* v) {
    if (!Need(len, *pos, static_cast<size_t>(bytes))) return false;
    *v = Big(s + *pos, bytes);
    *pos += static_cast<size_t>(bytes);
    return true;
  };
  auto bytes = [&](uint64_t n) {
    if (!Need(len, *pos, n)) return false;
    lua_pushlstring(L, reinterpret_cast<const char*>(s + *pos), n);
    *pos += n;
    return true;
  };
  uint64_t v = 0;
  if (t <= 0x7f) {
    lua_pushnumber(L, t);
    return true;
  }
  if (t >= 0xe0) {
    lua_pushnumber(L, static_cast<int8_t>(t));
    return true;
  }
  if ((t & 0xe0) == 0xa0) return bytes(t & 0x1f);
  if ((t & 0xf0) == 0x90) return UnpackArray(L, s, len, pos, t & 0x0f, depth);
  if ((t & 0xf0) == 0x80) return UnpackMap(L, s, len, pos, t & 0x0f, depth);
  switch (t) {
    case 0xc0:
      lua_pushnil(L);
      return true;
    case 0xc2:
      lua_pushboolean(L, 0);
      return true;
    case 0xc3:
      lua_pushboolean(L, 1);
      return true;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const int n = 1 << (t - 0xcc);
      if (!fixed(n, &v)) return false;
      lua_pushnumber(L, static_cast<lua_Number>(v));
      return true;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      const int n = 1 << (t - 0xd0);
      if (!fixed(n, &v)) return false;
      int64_t x;
      if (n == 1) {
        x = static_cast<int8_t>(v);
      } else if (n == 2) {
        x = static_cast<int16_t>(v);
      } else if (n == 4) {
        x = static_cast<int32_t>(v);
      } else {
        x = static_cast<int64_t>(v);
      }
      lua_pushnumber(L, static_cast<lua_Number>(x));
      return true;
    }
    case 0xca: {
      if (!fixed(4, &v)) return false;
      const uint32_t bits = static_cast<uint32_t>(v);
      float f;
      std::memcpy(&f, &bits, 4);
      lua_pushnumber(L, f);
      return true;
    }
    case 0xcb: {
      if (!fixed(8, &v)) return false;
      double d;
      std::memcpy(&d, &v, 8);
      lua_pushnumber(L, d);
      return true;
    }
    case 0xc4: case 0xd9:
      return fixed(1, &v) && bytes(v);
    case 0xc5: case 0xda:
      return fixed(2, &v) && bytes(v);
    case 0xc6: case 0xdb:
      return fixed(4, &v) && bytes(v);
    case 0xdc:
      return fixed(2, &v) && UnpackArray(L, s, len, pos, v, depth);
    case 0xdd:
      return fixed(4, &v) && UnpackArray(L, s, len, pos, v, depth);
    case 0xde:
      return fixed(2, &v) && UnpackMap(L, s, len, pos, v, depth);
    case 0xdf:
      return fixed(4, &v) && UnpackMap(L, s, len, pos, v, depth);
    default:
      luaL_error(L, "Bad data format in input.");
      return false;
  }
}

// Unpacks up to limit objects (0: all) from offset; returns the offset after them (-1 at
// the end) first when with_offset.
int UnpackFrom(lua_State* L, size_t offset, int limit, bool with_offset) {
  size_t len = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(luaL_checklstring(L, 1, &len));
  if (offset > len) luaL_error(L, "Start offset %d greater than input length %d.", static_cast<int>(offset), static_cast<int>(len));
  const int base = lua_gettop(L);
  if (with_offset) lua_pushnil(L);  // replaced by the offset
  size_t pos = offset;
  int count = 0;
  while (pos < len && (limit == 0 || count < limit)) {
    if (!Unpack(L, s, len, &pos, 0)) luaL_error(L, "Missing bytes in input.");
    count++;
  }
  if (with_offset) {
    lua_pushnumber(L, pos >= len ? -1 : static_cast<lua_Number>(pos));
    lua_replace(L, base + 1);
  }
  return lua_gettop(L) - base;
}

int UnpackAll(lua_State* L) { return UnpackFrom(L, 0, 0, false); }

int UnpackOne(lua_State* L) {
  const lua_Number offset = luaL_optnumber(L, 2, 0);
  if (offset < 0) luaL_error(L, "Offset and limit can't be negative.");
  lua_settop(L, 1);
  return UnpackFrom(L, static_cast<size_t>(offset), 1, true);
}

int UnpackLimit(lua_State* L) {
  const lua_Number limit = luaL_checknumber(L, 2);
  const lua_Number offset = luaL_optnumber(L, 3, 0);
  if (offset < 0 || limit < 0) luaL_error(L, "Offset and limit can't be negative.");
  lua_settop(L, 1);
  return UnpackFrom(L, static_cast<size_t>(offset), static_cast<int>(limit), true);
}

const luaL_Reg kCmsgpack[] = {{"pack", Pack},
                              {"unpack", UnpackAll},
                              {"unpack_one", UnpackOne},
                              {"unpack_limit", UnpackLimit},
                              {nullptr, nullptr}};

// --- struct -------------------------------------------------------------------------------

struct Format {
  bool little = true;
  size_t align = 1;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

size_t Count(const char** f, size_t def) {
  if (!IsDigit(**f)) return def;
  size_t n = 0;
  while (IsDigit(**f)) {
    n = n * 10 + static_cast<size_t>(*((*f)++) - '0');
    if (n > 1u << 30) break;
  }
  return n;
}

// The size of one item of option c (0 for those without a fixed size).
size_t ItemSize(lua_State* L, char c, const char** f) {
  switch (c) {
    case 'b': case 'B': case 'x': return 1;
    case 'h': case 'H': return 2;
    case 'l': case 'L': case 'T': return 8;
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'c': return Count(f, 1);
    case 'i': case 'I': {
      const size_t n = Count(f, sizeof(int));
      if (n < 1 || n > 8) luaL_error(L, "integral size %d is larger than limit of %d", static_cast<int>(n), 8);
      return n;
    }
    default: return 0;
  }
}

// Options that change the state ('<', '>', '=', '!', ' '); false for an item.
bool Control(lua_State* L, char c, const char** f, Format* fmt) {
  switch (c) {
    case ' ': return true;
    case '>': fmt->little = false; return true;
    case '<': case '=': fmt->little = true; return true;
    case '!': {
      const size_t a = Count(f, 8);
      if (a == 0 || (a & (a - 1)) != 0) luaL_error(L, "alignment %d is not a power of 2", static_cast<int>(a));
      fmt->align = a;
      return true;
    }
    default: return false;
  }
}

size_t Padding(const Format& fmt, size_t pos, size_t size) {
  const size_t a = size < fmt.align ? size : fmt.align;
  if (a <= 1 || (a & (a - 1)) != 0) return 0;
  return (a - (pos & (a - 1))) & (a - 1);
}

void PutInt(luaL_Buffer* b, uint64_t v, size_t size, bool little) {
  char out[8];
  for (size_t i = 0; i < size; i++) {
    const char byte = static_cast<char>((v >> (8 * i)) & 0xff);
    out[little ? i : size - 1 - i] = byte;
  }
  luaL_addlstring(b, out, size);
}

int StructPack(lua_State* L) {
  const char* f = luaL_checkstring(L, 1);
  Format fmt;
  int arg = 2;
  size_t pos = 0;
  luaL_Buffer b;
  lua_pushnil(L);  // a slot luaL_Buffer may use
  luaL_buffinit(L, &b);
  while (*f != '\0') {
    const char c = *f++;
    if (Control(L, c, &f, &fmt)) continue;
    const size_t size = ItemSize(L, c, &f);
    const size_t pad = c == 'c' || c == 's' ? 0 : Padding(fmt, pos, size);
    for (size_t i = 0; i < pad; i++) luaL_addchar(&b, '\0');
    pos += pad;
    switch (c) {
      case 'x':
        luaL_addchar(&b, '\0');
        break;
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I': {
        const lua_Number n = luaL_checknumber(L, arg++);
        const int64_t v = n < 0 ? static_cast<int64_t>(n) : static_cast<int64_t>(static_cast<uint64_t>(n));
        PutInt(&b, static_cast<uint64_t>(v), size, fmt.little);
        break;
      }
      case 'f': {
        const float v = static_cast<float>(luaL_checknumber(L, arg++));
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        PutInt(&b, bits, 4, fmt.little);
        break;
      }
      case 'd': {
        const double v = luaL_checknumber(L, arg++);
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        PutInt(&b, bits, 8, fmt.little);
        break;
      }
      case 'c': case 's': {
        size_t len = 0;
        const char* s = luaL_checklstring(L, arg++, &len);
        size_t n = c == 's' ? len : size;
        if (c == 'c' && n == 0) n = len;
        if (c == 'c' && len < n) luaL_argerror(L, arg - 1, "string too short");
        luaL_addlstring(&b, s, n);
        if (c == 's') {
          luaL_addchar(&b, '\0');
          n++;
        }
        pos += n;
        continue;
      }
      default:
        luaL_error(L, "invalid format option '%c'", c);
    }
    pos += size;
  }
  luaL_pushresult(&b);
  return 1;
}

uint64_t GetInt(const char* p, size_t size, bool little) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; i++) {
    const auto byte = static_cast<unsigned char>(p[little ? size - 1 - i : i]);
    v = (v << 8) | byte;
  }
  return v;
}

int StructUnpack(lua_State* L) {
  const char* f = luaL_checkstring(L, 1);
  size_t len = 0;
  const char* data = luaL_checklstring(L, 2, &len);
  size_t pos = static_cast<size_t>(luaL_optinteger(L, 3, 1)) - 1;
  luaL_argcheck(L, pos <= len, 3, "offset must be 1 or greater");
  Format fmt;
  int results = 0;
  while (*f != '\0') {
    const char c = *f++;
    if (Control(L, c, &f, &fmt)) continue;
    size_t size = ItemSize(L, c, &f);
    pos += c == 'c' || c == 's' ? 0 : Padding(fmt, pos, size);
    // Every item is checked against the data before it is read (pos never passes len).
    luaL_argcheck(L, pos <= len && size <= len - pos, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (c) {
      case 'x':
        break;
      case 'b': case 'h': case 'l': case 'i': case 'B': case 'H': case 'L': case 'T': case 'I': {
        luaL_argcheck(L, pos + size <= len, 2, "data string too short");
        uint64_t v = GetInt(data + pos, size, fmt.little);
        const bool is_signed = c == 'b' || c == 'h' || c == 'l' || c == 'i';
        if (is_signed && size < 8 && (v >> (size * 8 - 1)) != 0) v |= ~uint64_t{0} << (size * 8);
        lua_pushnumber(L, is_signed ? static_cast<lua_Number>(static_cast<int64_t>(v))
                                    : static_cast<lua_Number>(v));
        results++;
        break;
      }
      case 'f': {
        luaL_argcheck(L, pos + 4 <= len, 2, "data string too short");
        const auto bits = static_cast<uint32_t>(GetInt(data + pos, 4, fmt.little));
        float v;
        std::memcpy(&v, &bits, 4);
        lua_pushnumber(L, v);
        results++;
        break;
      }
      case 'd': {
        luaL_argcheck(L, pos + 8 <= len, 2, "data string too short");
        const uint64_t bits = GetInt(data + pos, 8, fmt.little);
        double v;
        std::memcpy(&v, &bits, 8);
        lua_pushnumber(L, v);
        results++;
        break;
      }
      case 'c': {
        if (size == 0) {  // the length is the previous result
          if (results == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
          const lua_Number n = lua_tonumber(L, -1);
          luaL_argcheck(L, n >= 0 && n <= static_cast<lua_Number>(len - pos), 2, "data string too short");
          size = static_cast<size_t>(n);
          lua_pop(L, 1);
          results--;
        }
        luaL_argcheck(L, size <= len - pos, 2, "data string too short");
        lua_pushlstring(L, data + pos, size);
        results++;
        break;
      }
      case 's': {
        const void* end = std::memchr(data + pos, '\0', len - pos);
        if (end == nullptr) luaL_error(L, "unfinished string in data");
        size = static_cast<size_t>(static_cast<const char*>(end) - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        results++;
        break;
      }
      default:
        luaL_error(L, "invalid format option '%c'", c);
    }
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos + 1));
  return results + 1;
}

int StructSize(lua_State* L) {
  const char* f = luaL_checkstring(L, 1);
  Format fmt;
  size_t pos = 0;
  while (*f != '\0') {
    const char c = *f++;
    if (Control(L, c, &f, &fmt)) continue;
    const size_t size = ItemSize(L, c, &f);
    if (c == 's' || (c == 'c' && size == 0)) luaL_argerror(L, 1, "options 'c0' - 's' have undefined sizes");
    pos += Padding(fmt, pos, size) + size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos));
  return 1;
}

const luaL_Reg kStruct[] = {
    {"pack", StructPack}, {"unpack", StructUnpack}, {"size", StructSize}, {nullptr, nullptr}};

void NewLib(lua_State* L, const luaL_Reg* fns) {
  lua_newtable(L);
  for (; fns->name != nullptr; fns++) {
    lua_pushcfunction(L, fns->func);
    lua_setfield(L, -2, fns->name);
  }
}

}  // namespace

int OpenCmsgpack(lua_State* L) {
  NewLib(L, kCmsgpack);
  lua_pushstring(L, "lua-cmsgpack");
  lua_setfield(L, -2, "_NAME");
  return 1;
}

int OpenStruct(lua_State* L) {
  NewLib(L, kStruct);
  return 1;
}

}  // namespace cairn::server
