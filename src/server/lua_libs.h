// The two Lua libraries Redis scripts use that Debian does not package for Lua 5.1:
// cmsgpack (MessagePack: pack(...), unpack(s), unpack_one(s [, offset]),
// unpack_limit(s, limit [, offset])) and struct (Roberto Ierusalimschy's: pack, unpack,
// size). cjson and bit come from Debian's lua-cjson and lua-bitop.
//
// Both are plain Lua C functions: they raise Lua errors (longjmp), so no C++ object with
// a destructor lives across a call that may raise.
#ifndef CAIRN_SERVER_LUA_LIBS_H_
#define CAIRN_SERVER_LUA_LIBS_H_

extern "C" {
#include <lua.h>
}

namespace cairn::server {

// Each pushes its library's table (and sets no global).
int OpenCmsgpack(lua_State* L);
int OpenStruct(lua_State* L);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_LUA_LIBS_H_
