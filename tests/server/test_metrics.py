"""GET /metrics read by a strict parser of the Prometheus text format (0.0.4): every sample
belongs to a family with one # HELP and one # TYPE line before it, names and labels are
valid, families are contiguous, histogram buckets are cumulative and end in +Inf equal to
_count; then values must move under load (issue 20, observability). Under
CAIRN_TEST_CLUSTER=3 the same checks cover the cluster's histograms.
"""
import math
import re
import urllib.request

import pytest

from conftest import in_cluster

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text, line):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'}; strict about quoting and escapes."""
    labels = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        assert LABEL_NAME.match(name), ("bad label name", name, line)
        assert text[eq + 1] == '"', ("label value not quoted", line)
        j = eq + 2
        value = []
        while text[j] != '"':
            if text[j] == "\\":
                esc = text[j + 1]
                assert esc in '\\"n', ("bad escape", line)
                value.append("\n" if esc == "n" else esc)
                j += 2
            else:
                assert text[j] != "\n"
                value.append(text[j])
                j += 1
        assert name not in labels, ("label repeated", line)
        labels[name] = "".join(value)
        i = j + 1
        if i < len(text):
            assert text[i] == ",", ("labels not comma separated", line)
            i += 1
    return labels


def parse_value(s, line):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.match(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\Z", s), ("bad value", line)
    return float(s)


def parse(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}; asserts the format."""
    assert text.endswith("\n")
    families = {}
    current = None
    closed = set()
    seen = set()
    for line in text.split("\n")[:-1]:
        assert line == line.strip() and line, ("blank or padded line", line)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert NAME.match(name), ("bad family name", line)
                assert name not in closed, ("family split in two", name)
                fam = families.setdefault(name, {"samples": []})
                assert not fam["samples"], ("HELP/TYPE after samples", line)
                key = parts[1].lower()
                assert key not in fam, ("repeated " + parts[1], name)
                assert len(parts) == 4 and parts[3], ("empty " + parts[1], line)
                if key == "type":
                    assert parts[3] in TYPES, line
                fam[key] = parts[3]
                if current is not None and current != name:
                    closed.add(current)
                current = name
            continue
        m = re.match(r"([^{ ]+)(\{(.*)\})? (\S+)( -?[0-9]+)?\Z", line)
        assert m, ("bad sample line", line)
        name, labels, value = m.group(1), parse_labels(m.group(3) or "", line), m.group(4)
        assert NAME.match(name), ("bad metric name", line)
        family = name
        if name not in families:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)]
                if name.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
                    family = base
        assert family in families, ("sample without HELP/TYPE", line)
        fam = families[family]
        assert "help" in fam and "type" in fam, ("sample without HELP or TYPE", line)
        assert family == current, ("sample outside its family's block", line)
        ident = (name, tuple(sorted(labels.items())))
        assert ident not in seen, ("duplicate sample", line)
        seen.add(ident)
        v = parse_value(value, line)
        if fam["type"] == "counter":
            assert name.endswith("_total") and v >= 0, ("counter", line)
        fam["samples"].append((name, labels, v))
    for family, fam in families.items():
        if fam["type"] != "histogram":
            continue
        series = {}
        for name, labels, v in fam["samples"]:
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            s = series.setdefault(rest, {"buckets": []})
            if name == family + "_bucket":
                s["buckets"].append((parse_value(labels["le"], name), v))
            else:
                assert "le" not in labels
                s[name[len(family):]] = v
        assert series, ("histogram without samples", family)
        for rest, s in series.items():
            b = s["buckets"]
            assert b and b[-1][0] == math.inf, ("histogram must end in +Inf", family, rest)
            assert [le for le, _ in b] == sorted(le for le, _ in b), ("le not ascending", family)
            assert all(x <= y for (_, x), (_, y) in zip(b, b[1:])), ("not cumulative", family, b)
            assert "_sum" in s and "_count" in s and s["_count"] == b[-1][1], (family, rest, s)
    return families


def scrape(server):
    with urllib.request.urlopen(server.http_url("/metrics"), timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(resp.read().decode())


def value(fams, family, name=None, **labels):
    for n, l, v in fams[family]["samples"]:
        if n == (name or family) and all(l.get(k) == x for k, x in labels.items()):
            return v
    raise KeyError((family, name, labels))


def test_parser_rejects_what_prometheus_rejects():
    good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
    parse(good)
    bad = [
        "a_total 3\n",  # no HELP/TYPE
        "# TYPE a_total counter\na_total 3\n",  # no HELP
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 3\n",  # unquoted
        "# HELP a A.\n# TYPE a counter\na 3\n",  # counter without _total
        "# HELP 1a A.\n# TYPE 1a gauge\n1a 3\n",  # bad name
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",  # not cumulative
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",  # no +Inf
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 2\n",
        "# HELP g G.\n# TYPE g gauge\ng 1\ng 2\n",  # duplicate
        "# HELP g G.\n# TYPE g gauge\ng 1\n# HELP f F.\n# TYPE f gauge\nf 1\n# HELP g G.\n",
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            parse(text)


def test_metrics_parse_strictly_and_move_under_load(server):
    r = server.client()
    before = scrape(server)
    for family in ("cairn_build_info", "cairn_command_duration_seconds", "cairn_data_dir_bytes",
                   "cairn_engine_pending_compaction_bytes", "cairn_engine_level_files",
                   "cairn_engine_level_bytes", "cairn_uptime_seconds", "cairn_blocked_clients"):
        assert family in before, family
    assert before["cairn_command_duration_seconds"]["type"] == "histogram"
    build = before["cairn_build_info"]["samples"][0][1]
    assert build["version"] and build["git_sha"] and build["redis_version"] == "7.0.15"
    assert "cairn_command_latency_microseconds" not in before  # the summaries are gone
    sets_before = 0
    try:
        sets_before = value(before, "cairn_command_duration_seconds",
                            "cairn_command_duration_seconds_count", command="set")
    except KeyError:
        pass
    disk_before = value(before, "cairn_data_dir_bytes")

    p = r.pipeline(transaction=False)
    for i in range(3000):
        p.set("m%d" % i, "x" * 1000)
    p.execute()
    for i in range(20):
        r.get("m%d" % i)
    after = scrape(server)
    sets = value(after, "cairn_command_duration_seconds", "cairn_command_duration_seconds_count",
                 command="set")
    assert sets - sets_before == 3000
    assert value(after, "cairn_command_duration_seconds", "cairn_command_duration_seconds_sum",
                 command="set") > 0
    assert value(after, "cairn_command_calls_total", command="get") >= 20
    assert value(after, "cairn_data_dir_bytes") > disk_before + 1_000_000  # 3 MB of WAL
    assert value(after, "cairn_commands_processed_total") >= 3020
    if in_cluster():
        writes = value(after, "cairn_cluster_request_duration_seconds",
                       "cairn_cluster_request_duration_seconds_count", op="write")
        assert writes >= 3000
        assert value(after, "cairn_cluster_peer_call_duration_seconds",
                     "cairn_cluster_peer_call_duration_seconds_count") > 0
    else:
        assert value(after, "cairn_db_keys", db="0") == 3000
        assert value(after, "cairn_db_keys_expiring", db="0") == 0


@pytest.mark.server_args("--write-buffer-size", "262144")
def test_level_metrics_follow_the_engine(server):
    if in_cluster():
        pytest.skip("one node's engine checked")
    r = server.client()
    p = r.pipeline(transaction=False)
    for i in range(6000):
        p.set("lv%06d" % i, "y" * 500)
    p.execute()
    fams = scrape(server)
    files = sum(v for _, _, v in fams["cairn_engine_level_files"]["samples"])
    table_bytes = sum(v for _, _, v in fams["cairn_engine_level_bytes"]["samples"])
    assert files >= 1 and table_bytes > 0  # 3 MB through 256 KB memtables: flushed tables
    assert value(fams, "cairn_data_dir_bytes") >= table_bytes
    assert value(fams, "cairn_engine_flushes_total") >= 1
    assert value(fams, "cairn_engine_pending_compaction_bytes") >= 0


def is_histogram_edge(us):
    """Whether us (microseconds) is where one of base::Histogram's buckets ends and the
    next begins: 0..4, then 4 per power of two (32, 40, 48, 56, 64, 80, ...)."""
    if us <= 4:
        return True
    k = us.bit_length() - 3  # us = m * 2^k with m in 4..7 at an edge
    return k >= 0 and us % (1 << k) == 0 and 4 <= us >> k <= 7


def test_histogram_bounds_are_edges_of_the_recorded_buckets(server):
    """A bound inside one of the internal buckets (50 µs inside 48..55) would count that
    bucket's durations below the bound on the wrong side of it: every le is an edge."""
    server.client().ping()
    fams = scrape(server)
    les = set()
    for name, labels, _ in fams["cairn_command_duration_seconds"]["samples"]:
        if name.endswith("_bucket") and labels["le"] != "+Inf":
            les.add(labels["le"])
    assert len(les) == 17, les
    for le in les:
        us = round(float(le) * 1e6)
        assert abs(us - float(le) * 1e6) < 1e-6 and is_histogram_edge(us), le


def test_db_keys_gauge_stays_for_db0_when_empty(server):
    if in_cluster():
        pytest.skip("a cluster node exports no key counts")
    r, r3 = server.client(), server.client(db=3)
    r.set("a", "v")
    r3.set("b", "v", ex=1000)
    fams = scrape(server)
    assert value(fams, "cairn_db_keys", db="0") == 1
    assert value(fams, "cairn_db_keys", db="3") == 1
    assert value(fams, "cairn_db_keys_expiring", db="3") == 1
    r.flushall()
    fams = scrape(server)
    # db 0 stays as 0, so rate() and alerts on it keep a series; other empty
    # databases are left out, as INFO keyspace leaves them out.
    assert value(fams, "cairn_db_keys", db="0") == 0
    assert value(fams, "cairn_db_keys_expiring", db="0") == 0
    with pytest.raises(KeyError):
        value(fams, "cairn_db_keys", db="3")
