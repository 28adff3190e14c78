// Glob-style pattern matching with Redis's rules (KEYS, SCAN MATCH, CONFIG GET):
// * any run, ? any byte, [abc] [^abc] [a-z] classes, \x a literal x. Binary-safe.
#ifndef CAIRN_BASE_GLOB_H_
#define CAIRN_BASE_GLOB_H_

#include <string>
#include <string_view>

namespace cairn {

bool GlobMatch(std::string_view pattern, std::string_view text, bool nocase = false);

// The literal prefix of a pattern (before its first special character): every text the
// pattern matches starts with it, so an ordered scan can start there.
std::string GlobLiteralPrefix(std::string_view pattern);

}  // namespace cairn

#endif  // CAIRN_BASE_GLOB_H_
