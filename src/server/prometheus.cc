#include "server/prometheus.h"

#include <array>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cairn::server {
namespace {

// Bucket bounds in microseconds: near 50 µs to 10 s, as Prometheus's default buckets
// with a finer low end (most commands finish within a millisecond), each moved to the
// nearest edge of base::Histogram's buckets (48 µs, 96 µs, 256 µs, ... 10.48576 s).
// A bound inside an internal bucket would count that bucket's values below the bound
// on the wrong side of it; at an edge every count is exact (docs/http-api.md).
constexpr uint64_t kNominalBoundsMicros[] = {50,     100,     250,     500,     1000,    2500,
                                             5000,   10000,   25000,   50000,   100000,  250000,
                                             500000, 1000000, 2500000, 5000000, 10000000};

const std::array<uint64_t, std::size(kNominalBoundsMicros)>& BoundsMicros() {
  static const auto bounds = [] {
    std::array<uint64_t, std::size(kNominalBoundsMicros)> out;
    for (size_t i = 0; i < out.size(); i++) out[i] = Histogram::EdgeNear(kNominalBoundsMicros[i]);
    return out;
  }();
  return bounds;
}

std::string Seconds(double s) { return absl::StrFormat("%.9g", s); }

}  // namespace

void PrometheusText::Family(std::string_view name, Type type, std::string_view help) {
  if (!declared_.insert(std::string(name)).second) return;
  const char* t = type == Type::kCounter ? "counter" : type == Type::kGauge ? "gauge" : "histogram";
  absl::StrAppend(&out_, "# HELP ", absl::string_view(name.data(), name.size()), " ",
                  absl::string_view(help.data(), help.size()), "\n# TYPE ",
                  absl::string_view(name.data(), name.size()), " ", t, "\n");
}

void PrometheusText::Sample(std::string_view name, std::string_view labels, uint64_t value) {
  absl::StrAppend(&out_, absl::string_view(name.data(), name.size()));
  if (!labels.empty()) {
    absl::StrAppend(&out_, "{", absl::string_view(labels.data(), labels.size()), "}");
  }
  absl::StrAppend(&out_, " ", value, "\n");
}

void PrometheusText::Sample(std::string_view name, std::string_view labels, double value) {
  absl::StrAppend(&out_, absl::string_view(name.data(), name.size()));
  if (!labels.empty()) {
    absl::StrAppend(&out_, "{", absl::string_view(labels.data(), labels.size()), "}");
  }
  absl::StrAppend(&out_, " ", Seconds(value), "\n");
}

void PrometheusText::HistogramSeconds(std::string_view name, std::string_view labels,
                                      const Histogram& micros) {
  const absl::string_view n(name.data(), name.size());
  const std::string sep =
      labels.empty() ? "" : absl::StrCat(absl::string_view(labels.data(), labels.size()), ",");
  // count first: a value recorded while the buckets are read then shows up in no bucket
  // above the count, keeping the buckets cumulative and +Inf equal to _count.
  const uint64_t count = micros.count();
  // A duration is recorded truncated to whole microseconds: it is at most `bound`
  // microseconds (le) exactly when its recorded value is below the edge, or equal to it
  // and it was exactly that long; Below(bound) errs low only by durations of exactly
  // the bound, to the nanosecond.
  for (uint64_t bound : BoundsMicros()) {
    absl::StrAppend(&out_, n, "_bucket{", sep, "le=\"", Seconds(bound / 1e6), "\"} ",
                    std::min(count, micros.CountBelow(bound)), "\n");
  }
  absl::StrAppend(&out_, n, "_bucket{", sep, "le=\"+Inf\"} ", count, "\n");
  const std::string braces =
      labels.empty() ? "" : absl::StrCat("{", absl::string_view(labels.data(), labels.size()), "}");
  absl::StrAppend(&out_, n, "_sum", braces, " ", Seconds(micros.sum() / 1e6), "\n", n, "_count",
                  braces, " ", count, "\n");
}

std::string PrometheusText::Label(std::string_view key, std::string_view value) {
  std::string out(key);
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string PrometheusText::SafeName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (!absl::ascii_isalnum(c) && c != '_') c = '_';
  }
  return out;
}

}  // namespace cairn::server
