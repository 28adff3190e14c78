// cairn's version, as `cairn-server --version` and INFO's cairn_version show it. Kept equal
// to CMakeLists.txt's project(VERSION).
#ifndef CAIRN_SERVER_VERSION_H_
#define CAIRN_SERVER_VERSION_H_

namespace cairn::server {

inline constexpr char kCairnVersion[] = "0.1.0";
// The Redis version cairn's commands and replies follow (INFO redis_version).
inline constexpr char kRedisVersion[] = "7.0.15";

}  // namespace cairn::server

#endif  // CAIRN_SERVER_VERSION_H_
