// libFuzzer target for the WAL reader (wal::Reader) and the write-batch decoder. Input: the
// bytes of a log file (docs/formats/wal.md), as found on disk.
//
// The input is read as it is and, when that changes it, once more with every header_check
// and checksum repaired (RepairLogFraming), so mutated lengths, types and batches get past
// the checksums to the code behind them.
//
// wal::Reader has no recovery mode of its own: kTolerateCorruptedTail and kPointInTime are
// rules DBImpl::ReplayWals applies to what the reader returns and reports (which prefix of
// the records to replay). The reader is run as recovery runs it (reporting to a
// DamageSummary), with no reporter, and with an I/O error at each possible read; every
// record it returns is then decoded as recovery decodes it.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - reading ends, and every record returned is complete: re-walking the file from
//    last_record_offset() finds FULL, or FIRST MIDDLE* LAST, fragments with intact headers
//    and matching checksums whose payloads are the record, ending at end_of_last_record();
//  - records lie in the file, in order, without overlapping; the bytes returned and the
//    bytes reported dropped each fit in the file; every reported reason is Corruption;
//  - the reporter changes nothing; an I/O error leaves a prefix of the records and an
//    error status that is not Corruption;
//  - every record either decodes as a batch (SetContents, then Iterate) or fails with
//    Corruption; InsertInto a MemTable gives the same status and entries as Iterate; a
//    decoded batch re-encodes to one that decodes the same, and each of its entries is
//    what the memtable returns at that entry's sequence.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/coding.h"
#include "cairn/engine/write_batch.h"
#include "engine/dbformat.h"
#include "engine/memtable.h"
#include "engine/wal_format.h"
#include "engine/wal_reader.h"
#include "engine/write_batch_internal.h"
#include "fuzz_util.h"

namespace cairn::engine {
namespace {

using fuzz::Check;
using wal::kBlockSize;
using wal::kHeaderSize;

// Checks every report and counts what it drops; forwards to the reporter recovery uses.
class CheckingReporter final : public wal::Reader::Reporter {
 public:
  explicit CheckingReporter(size_t file_size) : file_size_(file_size) {}
  void Corruption(uint64_t offset, size_t bytes, const absl::Status& reason) override {
    Check(IsCorruption(reason), "reported reason is not Corruption");
    Check(!reason.message().empty(), "reported reason without text");
    Check(offset <= file_size_ && bytes <= file_size_ - offset, "reported drop outside the file");
    dropped_ += bytes;
    Check(dropped_ <= file_size_, "reported dropping more bytes than the file holds");
    summary.Corruption(offset, bytes, reason);
  }
  wal::DamageSummary summary;

 private:
  const size_t file_size_;
  uint64_t dropped_ = 0;
};

struct ReadResult {
  std::vector<std::string> records;
  std::vector<uint64_t> starts;        // last_record_offset() after each record
  std::vector<uint64_t> ends;          // end_of_last_record() after each record
  absl::Status status;
};

// Re-walks the fragments of the record the reader returned from [start, end).
void CheckFrames(std::string_view file, std::string_view record, uint64_t start, uint64_t end) {
  Check(start < end && end <= file.size(), "record offsets outside the file");
  std::string assembled;
  uint64_t pos = start;
  bool first = true;
  while (true) {
    if (kBlockSize - pos % kBlockSize < kHeaderSize) {
      Check(!first, "record starts in a block trailer");
      pos += kBlockSize - pos % kBlockSize;  // the zero trailer between fragments
    }
    Check(pos + kHeaderSize <= end, "fragment header past the record's end");
    const wal::Header h = wal::DecodeHeader(file.data() + pos);
    Check(h.intact, "returned a fragment whose header check fails");
    const uint64_t block_end = std::min<uint64_t>(file.size(), (pos / kBlockSize + 1) * kBlockSize);
    Check(pos + kHeaderSize + h.length <= block_end, "returned a fragment that leaves its block");
    const std::string_view payload = file.substr(pos + kHeaderSize, h.length);
    Check(wal::RecordChecksum(h.type, payload) == h.checksum,
          "returned a fragment whose checksum does not match");
    if (first) {
      Check(h.type == wal::kFullType || h.type == wal::kFirstType, "record starts mid-record");
    } else {
      Check(h.type == wal::kMiddleType || h.type == wal::kLastType, "fragment chain broken");
    }
    assembled.append(payload);
    pos += kHeaderSize + h.length;
    first = false;
    if (h.type == wal::kFullType || h.type == wal::kLastType) break;
  }
  Check(pos == end, "end_of_last_record() is not the end of the record's last fragment");
  Check(assembled == record, "record differs from its fragments' payloads");
}

ReadResult ReadLog(std::string_view file, CheckingReporter* reporter, int fail_read) {
  ReadResult res;
  wal::Reader reader(std::make_unique<fuzz::StringSequentialFile>(file, fail_read), reporter);
  std::string scratch;
  std::string_view record;
  uint64_t returned_bytes = 0;
  while (reader.ReadRecord(&record, &scratch)) {
    // Every record has at least one header: more cannot come out of the file.
    Check(res.records.size() < file.size() / kHeaderSize, "more records than headers fit");
    const uint64_t start = reader.last_record_offset();
    const uint64_t end = reader.end_of_last_record();
    CheckFrames(file, record, start, end);
    Check(res.ends.empty() || start >= res.ends.back(), "records overlap or go backwards");
    returned_bytes += record.size();
    Check(returned_bytes <= file.size(), "returned more bytes than the file holds");
    res.records.emplace_back(record);
    res.starts.push_back(start);
    res.ends.push_back(end);
  }
  Check(record.empty(), "ReadRecord returned false with a record");
  res.status = reader.status();
  return res;
}

// One decoded entry of a batch.
struct Op {
  ValueType type;
  std::string key, value;
  uint64_t expire_at = 0;
  bool operator==(const Op&) const = default;
};

class Collector final : public WriteBatch::Handler {
 public:
  void Put(std::string_view key, std::string_view value) override {
    ops.push_back({kTypeValue, std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) override {
    ops.push_back({kTypeDeletion, std::string(key), ""});
  }
  void PutWithExpiry(std::string_view key, std::string_view value, uint64_t expire) override {
    ops.push_back({kTypeValueWithExpiry, std::string(key), std::string(value), expire});
  }
  void PutBlobIndex(std::string_view key, std::string_view stored) override {
    ops.push_back({kTypeBlobIndex, std::string(key), std::string(stored)});
  }
  std::vector<Op> ops;
};

// The reader hands out records of any length; the decoder must judge them.
void DecodeBatch(std::string_view record) {
  WriteBatch batch;
  absl::Status s = WriteBatchInternal::SetContents(&batch, record);
  if (record.size() < WriteBatchInternal::kHeaderSize) {
    Check(IsCorruption(s), "a record shorter than a batch header was accepted");
    return;
  }
  Check(s.ok(), "SetContents rejected a record of header size or more");
  Check(WriteBatchInternal::Contents(batch) == record, "SetContents changed the bytes");

  Collector collected;
  const absl::Status iterated = batch.Iterate(&collected);
  fuzz::CheckCorruptionOrOk(iterated, "Iterate: error other than Corruption");
  Check(!iterated.ok() || collected.ops.size() == batch.Count(),
        "Iterate succeeded with a count other than the header's");

  // Recovery's path: entries go into a memtable as they are decoded, up to any error.
  MemTable mem(64 << 10);
  const absl::Status inserted = WriteBatchInternal::InsertInto(batch, &mem);
  Check(inserted == iterated, "InsertInto and Iterate disagree");
  Check(mem.num_entries() == collected.ops.size(), "InsertInto added other entries than Iterate");
  if (!iterated.ok()) return;

  // Re-encode: the same entries, in a batch no longer than the record (varints written by
  // the decoder's input may be longer than needed; the encoder's never are).
  WriteBatch again;
  for (const Op& op : collected.ops) {
    switch (op.type) {
      case kTypeValue:
        again.Put(op.key, op.value);
        break;
      case kTypeDeletion:
        again.Delete(op.key);
        break;
      case kTypeValueWithExpiry:
        again.PutWithExpiry(op.key, op.value, op.expire_at);
        break;
      case kTypeBlobIndex:
        WriteBatchInternal::PutBlobIndex(&again, op.key, op.value);
        break;
    }
  }
  const SequenceNumber first = WriteBatchInternal::Sequence(batch);
  WriteBatchInternal::SetSequence(&again, first);
  Check(WriteBatchInternal::Contents(again).size() <= record.size(), "re-encoded batch is longer");
  Collector recollected;
  Check(again.Iterate(&recollected).ok(), "re-encoded batch does not decode");
  Check(recollected.ops == collected.ops, "re-encoded batch decodes to other entries");
  Check(WriteBatchInternal::Sequence(again) == first && again.Count() == batch.Count(),
        "re-encoded batch has another header");

  // Each entry, looked up at its own sequence, is what the memtable returns. Only when the
  // sequences fit in the 56 bits an internal key holds.
  const uint64_t n = collected.ops.size();
  if (n == 0 || first > kMaxSequenceNumber || kMaxSequenceNumber - first < n - 1) return;
  constexpr uint64_t kNow = uint64_t{1} << 40;
  for (uint64_t i = 0; i < n; i++) {
    const Op& op = collected.ops[i];
    LookupKey lookup(op.key, first + i);
    std::string value;
    absl::Status got;
    Check(mem.Get(lookup, kNow, &value, &got), "memtable lost an entry");
    const bool live = op.type == kTypeValue ||
                      (op.type == kTypeValueWithExpiry && op.expire_at > kNow);
    if (live) {
      Check(got.ok() && value == op.value, "memtable returns another value");
    } else {
      Check(absl::IsNotFound(got), "memtable returns a value for a deletion or expired put");
    }
  }
}

void CheckSameRecords(const ReadResult& a, const ReadResult& b, const char* what) {
  Check(a.records == b.records && a.starts == b.starts && a.ends == b.ends, what);
}

void FuzzLog(std::string_view file) {
  CheckingReporter reporter(file.size());
  const ReadResult full = ReadLog(file, &reporter, -1);
  Check(full.status.ok(), "I/O error from a file that cannot fail");
  Check(!reporter.summary.damaged || reporter.summary.first_offset <= file.size(),
        "damage reported outside the file");

  const ReadResult quiet = ReadLog(file, nullptr, -1);
  Check(quiet.status.ok(), "I/O error from a file that cannot fail");
  CheckSameRecords(full, quiet, "a null reporter changes the records");

  // An I/O error at read k (one read per block, plus one at the end): the reader stops
  // with that error and has returned a prefix of the records.
  const int reads = static_cast<int>(file.size() / kBlockSize) + 1;
  for (int k = 0; k < reads; k++) {
    CheckingReporter failing_reporter(file.size());
    const ReadResult cut = ReadLog(file, &failing_reporter, k);
    Check(!cut.status.ok() && !IsCorruption(cut.status), "injected I/O error lost or mislabeled");
    Check(cut.records.size() <= full.records.size(), "an I/O error added records");
    for (size_t i = 0; i < cut.records.size(); i++) {
      Check(cut.records[i] == full.records[i] && cut.starts[i] == full.starts[i] &&
                cut.ends[i] == full.ends[i],
            "an I/O error changed the records before it");
    }
  }

  // Both recovery modes replay a prefix of these records (kPointInTime: those before the
  // first damage; kTolerateCorruptedTail: all, or it fails Open when an intact record
  // follows damage), so decoding every record covers what either mode decodes.
  for (const std::string& record : full.records) DecodeBatch(record);
}

}  // namespace
}  // namespace cairn::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  cairn::engine::FuzzLog(file);
  const std::string repaired = cairn::fuzz::RepairLogFraming(file);
  if (repaired != file) cairn::engine::FuzzLog(repaired);
  return 0;
}
