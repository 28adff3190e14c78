#include "base/glob.h"

#include <cctype>

namespace cairn {
namespace {

char Fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// Matches one [...] class at p (just after '['); sets *end to the byte after ']'.
bool MatchClass(std::string_view p, size_t* pos, char c, bool nocase) {
  size_t i = *pos;
  bool negate = false;
  if (i < p.size() && p[i] == '^') {
    negate = true;
    i++;
  }
  bool match = false;
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '\\' && i + 1 < p.size()) {
      i++;
      if (Fold(p[i], nocase) == Fold(c, nocase)) match = true;
      i++;
    } else if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      char lo = Fold(p[i], nocase), hi = Fold(p[i + 2], nocase);
      if (lo > hi) std::swap(lo, hi);
      const char x = Fold(c, nocase);
      if (x >= lo && x <= hi) match = true;
      i += 3;
    } else {
      if (Fold(p[i], nocase) == Fold(c, nocase)) match = true;
      i++;
    }
  }
  // An unterminated class runs to the end of the pattern, as in Redis.
  *pos = i < p.size() ? i + 1 : i;
  return negate ? !match : match;
}

}  // namespace

// Iterative matcher with single-star backtracking: linear in practice, and never the
// exponential blow-up of naive recursion on patterns like "*a*a*a*b".
bool GlobMatch(std::string_view p, std::string_view t, bool nocase) {
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      const char pc = p[pi];
      if (pc == '*') {
        while (pi < p.size() && p[pi] == '*') pi++;
        if (pi == p.size()) return true;
        star_p = pi;
        star_t = ti;
        continue;
      }
      if (pc == '?') {
        pi++;
        ti++;
        continue;
      }
      if (pc == '[') {
        size_t next = pi + 1;
        if (MatchClass(p, &next, t[ti], nocase)) {
          pi = next;
          ti++;
          continue;
        }
      } else {
        size_t lit = pi;
        if (pc == '\\' && pi + 1 < p.size()) lit = pi + 1;
        if (Fold(p[lit], nocase) == Fold(t[ti], nocase)) {
          pi = lit + 1;
          ti++;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

std::string GlobLiteralPrefix(std::string_view pattern) {
  std::string prefix;
  for (size_t i = 0; i < pattern.size(); i++) {
    const char ch = pattern[i];
    if (ch == '*' || ch == '?' || ch == '[') break;
    if (ch == '\\') {
      if (++i >= pattern.size()) break;
      prefix.push_back(pattern[i]);
      continue;
    }
    prefix.push_back(ch);
  }
  return prefix;
}

}  // namespace cairn
