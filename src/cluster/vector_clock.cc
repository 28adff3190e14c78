#include "cluster/vector_clock.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cairn::cluster {

ClockOrder Compare(const Clock& a, const Clock& b) {
  bool a_ahead = false, b_ahead = false;  // some counter of a (b) exceeds the other's
  int i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].node() < b[j].node())) {
      a_ahead |= a[i++].counter() > 0;
    } else if (i == a.size() || b[j].node() < a[i].node()) {
      b_ahead |= b[j++].counter() > 0;
    } else {
      a_ahead |= a[i].counter() > b[j].counter();
      b_ahead |= b[j].counter() > a[i].counter();
      i++;
      j++;
    }
  }
  if (a_ahead && b_ahead) return ClockOrder::kConcurrent;
  if (a_ahead) return ClockOrder::kAfter;
  if (b_ahead) return ClockOrder::kBefore;
  return ClockOrder::kEqual;
}

void Merge(Clock* into, const Clock& other) {
  Clock out;
  int i = 0, j = 0;
  const Clock& a = *into;
  while (i < a.size() || j < other.size()) {
    if (j == other.size() || (i < a.size() && a[i].node() < other[j].node())) {
      *out.Add() = a[i++];
    } else if (i == a.size() || other[j].node() < a[i].node()) {
      *out.Add() = other[j++];
    } else {
      pb::ClockEntry* e = out.Add();
      e->set_node(a[i].node());
      e->set_counter(std::max(a[i].counter(), other[j].counter()));
      e->set_timestamp(std::max(a[i].timestamp(), other[j].timestamp()));
      i++;
      j++;
    }
  }
  into->Swap(&out);
}

uint64_t CounterOf(const Clock& clock, std::string_view node) {
  for (const pb::ClockEntry& e : clock) {
    if (e.node() == node) return e.counter();
  }
  return 0;
}

void Advance(Clock* clock, std::string_view node, uint64_t counter, uint64_t timestamp) {
  int pos = 0;
  while (pos < clock->size() && (*clock)[pos].node() < node) pos++;
  if (pos == clock->size() || (*clock)[pos].node() != node) {
    clock->Add();
    for (int k = clock->size() - 1; k > pos; k--) clock->SwapElements(k, k - 1);
    (*clock)[pos].set_node(std::string(node));
  }
  pb::ClockEntry& e = (*clock)[pos];
  e.set_counter(std::max(e.counter(), counter));
  e.set_timestamp(std::max(e.timestamp(), timestamp));
}

void Prune(Clock* clock, size_t max_entries, std::string_view keep) {
  while (static_cast<size_t>(clock->size()) > max_entries) {
    int oldest = -1;
    for (int k = 0; k < clock->size(); k++) {
      if ((*clock)[k].node() == keep) continue;
      if (oldest < 0 || (*clock)[k].timestamp() < (*clock)[oldest].timestamp()) oldest = k;
    }
    if (oldest < 0) return;
    clock->erase(clock->begin() + oldest);  // keeps the others in order
  }
}

std::string ClockString(const Clock& clock) {
  std::string out;
  for (const pb::ClockEntry& e : clock) {
    absl::StrAppend(&out, out.empty() ? "" : ",", e.node(), ":", e.counter());
  }
  return out;
}

}  // namespace cairn::cluster
