"""A bounded run of bench/large_collections.py: a 100,000-member hash, set and sorted set
created, ranged, scanned and deleted on a real cairn-server, with memory bounded and
deletion immediate. The 1,000,000-member run is the documented command in
docs/BENCHMARKS.md."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))

import large_collections  # noqa: E402


def sanitized(binary):
    """AddressSanitizer builds keep freed memory in quarantine: memory bounds do not apply."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def test_large_collections_stay_on_disk_and_delete_at_once():
    args = large_collections.parse_args(["--members", "100000"])
    summary = large_collections.run(args)
    for kind in ("hash", "set", "zset"):
        # DEL of a 100k-member collection is one metadata write.
        assert summary["steps"][kind + " del"]["seconds"] < 0.5, summary["steps"]
    # The members live in the engine: anonymous memory stays within the server's fixed
    # budget (block cache + two memtables + their indexes), whatever the collections hold.
    if not sanitized(args.server_bin):
        assert summary["anon_peak_mib"] < 400, summary
