#include "base/numbers.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cairn {

bool ParseLongDouble(std::string_view s, long double* v) {
  if (s.empty() || s.size() > 5000 || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string z(s);
  char* end = nullptr;
  errno = 0;
  const long double d = std::strtold(z.c_str(), &end);
  if (end != z.c_str() + z.size() || std::isnan(d)) return false;
  if (errno == ERANGE && (std::isinf(d) || d == 0)) return false;
  *v = d;
  return true;
}

std::string FormatLongDouble(long double v) {
  char buf[5600];
  int n = std::snprintf(buf, sizeof(buf), "%.17Lf", v);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "0";
  std::string text(buf, n);
  if (text.find('.') != std::string::npos) {
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

std::string ScoreText(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  const int n = std::snprintf(buf, sizeof(buf), "%.17g", v);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace cairn
