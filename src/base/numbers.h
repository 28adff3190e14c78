// Decimal text of numbers as Redis reads and prints them.
#ifndef CAIRN_BASE_NUMBERS_H_
#define CAIRN_BASE_NUMBERS_H_

#include <string>
#include <string_view>

namespace cairn {

// Redis's string2ld: a long double with ParseDouble's rules (no spaces, no NaN; 1e400 is
// valid in long double). False if s is not one.
bool ParseLongDouble(std::string_view s, long double* v);
// INCRBYFLOAT's text: "%.17Lf" with trailing zeros (and a trailing point) removed, so
// 3.1 prints as "3.1", not "3.10000000000000009".
std::string FormatLongDouble(long double v);
// A double as the shortest text that reads back as the same double ("%.17g"); empty for
// an infinity or NaN.
std::string ScoreText(double v);

}  // namespace cairn

#endif  // CAIRN_BASE_NUMBERS_H_
