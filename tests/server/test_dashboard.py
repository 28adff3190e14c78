"""The web dashboard (docs/dashboard.md) in a real headless browser: Debian's chromium
driven by chromedriver through python3-selenium (scripts/install-deps.sh installs all three).

A real server (and a real 3-node cluster) under a write load; the page is opened as a user
would open it, and the test reads the DOM the page's script rendered from /v1/stats and
/v1/cluster: member ids, non-zero ops/s, hit rates, the token ring. A screenshot must show
the ring's colours and not be blank.
"""
import base64
import os
import shutil
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cluster"))
from cluster_util import Cluster, info, wait_for  # noqa: E402
from conftest import RespSocket  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The ring's first three colours (dashboard.js COLORS), as RGB.
RING_COLORS = [(0x1f, 0x6f, 0xbf), (0xe6, 0x7e, 0x22), (0x2e, 0x85, 0x40)]


def browser():
    # Not a skip: without the browser this suite would prove nothing (install-deps.sh).
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), \
        "chromium and chromium-driver are needed: run scripts/install-deps.sh"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1300", "--force-device-scale-factor=1",
                "--disable-extensions", "--no-first-run"]:
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def driver():
    d = browser()
    yield d
    d.quit()


class Load:
    """SETs and GETs (a quarter of them of missing keys) on one RESP port, until stopped."""

    def __init__(self, host, port, password=None):
        self.host, self.port, self.password = host, port, password
        self.ops = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            conn = RespSocket(self.host, self.port)
            if self.password:
                assert conn.command("AUTH", self.password) == "OK"
            i = 0
            while not self.stop.is_set():
                assert conn.command("SET", "key:%d" % (i % 500), "value-%d" % i) == "OK"
                conn.command("GET", "key:%d" % (i % 500))
                conn.command("GET", "key:%d" % (i % 500))
                conn.command("GET", "missing:%d" % i)
                self.ops += 4
                i += 1
                time.sleep(0.001)
        except Exception as e:  # reported by finish()
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        assert not self.errors, self.errors
        assert self.ops > 0


def text(d, element_id):
    return d.find_element("id", element_id).text


def wait_dom(what, predicate, timeout=60.0):
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt():
        try:
            return predicate()
        except StaleElementReferenceException:  # the page re-rendered meanwhile: ask again
            return False
    return wait_for(what, attempt, timeout, 0.2)


def table_rows(d, table_id):
    """The cells' text of a table's body rows, read in one script (the page replaces the
    rows on every refresh, so elements found one by one may go stale)."""
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent));", table_id)


def decode_png(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG (a screenshot)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xff
            elif f == 2:
                line[x] = (line[x] + b) & 0xff
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xff
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def screenshot_colors(d, element=None):
    """{rgb: pixel count} of a screenshot of the whole window (or of one element)."""
    png = element.screenshot_as_png if element is not None else d.get_screenshot_as_png()
    width, height, rows = decode_png(png)
    if element is None:
        assert width >= 800 and height >= 600, (width, height)
    counts = {}
    for row in rows:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    return counts


def assert_not_blank(counts):
    total = sum(counts.values())
    background = max(counts.values())
    # A blank or error page is one colour (or a few); the dashboard has text, cards,
    # meters, a chart and a ring.
    assert len(counts) > 200, "only %d colours in the screenshot" % len(counts)
    assert background < 0.9 * total, "one colour covers %.0f%% of the screenshot" % (100 * background / total)


def http(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.server_args("--requirepass", "sesame")
def test_dashboard_single_node(server, driver):
    base = "http://%s:%d" % (server.host, server.http_port)
    basic = {"Authorization": "Basic " + base64.b64encode(b"default:sesame").decode()}

    # Access as for the other read routes: a browser is asked for Basic credentials.
    status, headers, _ = http(base + "/")
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Basic"), (status, headers)
    # The assets: built in, with their types and a validator that a revisit uses.
    for path, ctype in [("/", "text/html"), ("/ui/dashboard.js", "text/javascript"),
                        ("/ui/dashboard.css", "text/css"), ("/ui/favicon.svg", "image/svg+xml")]:
        status, headers, body = http(base + path, basic)
        assert status == 200 and headers["Content-Type"].startswith(ctype), (path, status, headers)
        assert headers["Cache-Control"] == "no-cache" and headers["ETag"].startswith('"'), headers
        assert len(body) > 100
        status, again, body = http(base + path, dict(basic, **{"If-None-Match": headers["ETag"]}))
        assert status == 304 and body == b"" and again["ETag"] == headers["ETag"], (path, status)
    assert http(base + "/ui/nothing.js", basic)[0] == 404
    # No script from elsewhere, ever: the page's policy allows this origin only.
    status, headers, body = http(base + "/", basic)
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert b"http://" not in body and b"https://" not in body

    load = Load(server.host, server.port, "sesame")
    try:
        # The browser authenticates as a user does, with credentials in the URL.
        driver.get("http://default:sesame@%s:%d/" % (server.host, server.http_port))
        wait_dom("the page to render stats", lambda: driver.find_element("tag name", "body")
                 .get_attribute("data-ready") == "true")
        wait_dom("non-zero ops/s", lambda: float(driver.find_element("id", "ops-per-sec")
                                                 .get_attribute("data-value") or 0) > 0)
        assert text(driver, "node-id") == "standalone"
        assert text(driver, "mode") == "single node"
        # 2 hits for every miss: the keyspace hit rate is about 67%.
        wait_dom("a keyspace hit rate", lambda: text(driver, "hit-rate-keyspace").endswith("%"))
        rate = float(text(driver, "hit-rate-keyspace").rstrip("%"))
        assert 50 < rate < 80, rate
        latency = driver.find_element("id", "latency").text
        assert "set" in latency and "get" in latency, latency
        assert "B" in text(driver, "disk-dir-bytes")
        assert "error" not in driver.find_element("id", "status").get_attribute("class")
        assert driver.find_element("id", "cluster-card").get_attribute("hidden") is not None
        assert_not_blank(screenshot_colors(driver))
    finally:
        load.finish()


def test_dashboard_denied_without_info(server):
    """A user who may not run INFO may not read the dashboard either (docs/acl.md)."""
    conn = server.raw()
    assert conn.command("ACL", "SETUSER", "writer", "on", ">pw", "~*", "+set", "+get") == "OK"
    auth = {"Authorization": "Basic " + base64.b64encode(b"writer:pw").decode()}
    base = "http://%s:%d" % (server.host, server.http_port)
    for path in ["/", "/ui/dashboard.js", "/v1/stats"]:
        status, _, body = http(base + path, auth)
        assert status == 403 and b"NOPERM" in body, (path, status, body)


def test_dashboard_cluster(tmp_path, driver):
    nodes = Cluster(tmp_path, 3, extra=["--wal-sync", "none"])
    load = None
    try:
        wait_for("3 members up", lambda: all(info(n).get("cluster_members_alive") == "3"
                                             and info(n).get("cluster_pending_change", "") == ""
                                             for n in nodes), 60)
        load = Load(nodes[0].host, nodes[0].port)
        driver.get("http://%s:%d/" % (nodes[0].host, nodes[0].http_port))
        wait_dom("the cluster card", lambda: driver.find_element("id", "cluster-card")
                 .get_attribute("hidden") is None)

        def members():
            return driver.execute_script(
                "const m = {}; document.querySelectorAll('#members tbody tr')"
                ".forEach(r => { m[r.dataset.member] = r.dataset.state; }); return m;")
        wait_dom("3 members up on the page",
                 lambda: members() == {"node0": "up", "node1": "up", "node2": "up"})
        wait_dom("non-zero ops/s", lambda: float(driver.find_element("id", "ops-per-sec")
                                                 .get_attribute("data-value") or 0) > 0)
        assert text(driver, "node-id") == "node0"
        assert text(driver, "mode") == "cluster"
        # The ring: arcs of every member; 256 tokens each.
        arcs = driver.execute_script(
            "return Array.from(document.querySelectorAll('#ring path.range'), p => p.dataset.member);")
        assert set(arcs) == {"node0", "node1", "node2"}
        assert len(arcs) > 100, len(arcs)
        shares = driver.execute_script(
            "return Array.from(document.querySelectorAll('#ring path.share'), p => p.dataset.member);")
        assert sorted(shares) == ["node0", "node1", "node2"]
        table = driver.find_element("id", "members").text
        assert "node0 (this node)" in table and table.count("256") >= 3, table
        # Each member is the primary of about a third of the ring.
        for row in table_rows(driver, "members"):
            primary = float(row[5].rstrip("%"))
            assert 20 < primary < 47, (row, primary)
        assert "no transfer in progress" in text(driver, "transfers-summary")
        assert text(driver, "repair-rounds") != "–"
        wait_dom("a keyspace hit rate", lambda: text(driver, "hit-rate-keyspace").endswith("%"))
        driver.execute_script("arguments[0].scrollIntoView()", driver.find_element("id", "ring"))
        counts = screenshot_colors(driver)
        if os.environ.get("CAIRN_DASHBOARD_SCREENSHOT"):
            driver.save_screenshot(os.environ["CAIRN_DASHBOARD_SCREENSHOT"])
        assert_not_blank(counts)
        # The ring is drawn, in each member's colour (pixels near it: antialiasing blends
        # the edges of the thin token arcs).
        ring = screenshot_colors(driver, driver.find_element("id", "ring"))
        for rgb in RING_COLORS:
            near = sum(n for px, n in ring.items()
                       if sum((a - b) ** 2 for a, b in zip(px, rgb)) < 40 ** 2)
            assert near > 2000, (rgb, near, sum(ring.values()))
        # A member that dies is shown down (W=2 of N=3: the load goes on).
        nodes[2].kill()
        wait_dom("node2 down on the page", lambda: members().get("node2") == "down")
        assert members()["node0"] == "up" and members()["node1"] == "up"
    finally:
        if load is not None:
            load.finish()
        nodes.stop_all()


def test_dashboard_transfer_in_progress(tmp_path, driver):
    """A node joining a loaded cluster receives its ranges slowly (transfer-rate): its
    dashboard shows the transfer under way, source by source."""
    from cluster_util import Node
    nodes = Cluster(tmp_path, 2, extra=["--wal-sync", "none"])
    joiner = None
    try:
        wait_for("2 members up", lambda: all(info(n).get("cluster_members_alive") == "2"
                                             for n in nodes), 60)
        conn = nodes[0].raw(timeout=60)
        value = "x" * 1000
        conn.send(b"".join(RespSocket.encode("SET", "bulk:%d" % i, value) for i in range(3000)))
        assert all(conn.read_reply() == "OK" for _ in range(3000))
        # 3 MB to receive (N=3 > 2 members: the third holds everything) at 100 kB/s.
        joiner = Node(tmp_path, "node2", ["--wal-sync", "none", "--transfer-rate", "100000"])
        joiner.start(nodes.seeds())
        driver.get("http://%s:%d/" % (joiner.host, joiner.http_port))
        wait_dom("a transfer on the page", lambda: "receiving" in text(driver, "transfers-summary"))
        sources = {row[0]: row[3] for row in table_rows(driver, "transfers")}
        # Per source member (and its "#digests" stream).
        assert {src.split("#")[0] for src in sources} == {"node0", "node1"}, sources
        assert "pulling" in sources.values() or "done" in sources.values(), sources
        progress = float(driver.find_element("id", "transfers-progress").get_attribute("value"))
        assert 0 <= progress < 1, progress
        assert "of the ring at" in text(driver, "transfers-summary")
    finally:
        if joiner is not None and joiner.proc is not None:
            joiner.stop()
        nodes.stop_all()


@pytest.mark.server_args("--requirepass", "sesame")
def test_dashboard_polls_never_overlap(server, driver):
    """A server slower to answer than the poll interval (here: 3 s of network latency) is
    not sent a new poll before the last one is answered, so a loaded server is not piled
    with requests by the page meant to watch it."""
    # Counts the page's requests in flight, from before its own script runs.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.__inflight = 0; window.__maxInflight = 0; window.__polls = 0;
        const realFetch = window.fetch.bind(window);
        window.fetch = async (...args) => {
          if (String(args[0]).endsWith('/v1/stats')) window.__polls++;
          window.__inflight++;
          window.__maxInflight = Math.max(window.__maxInflight, window.__inflight);
          try { return await realFetch(...args); } finally { window.__inflight--; }
        };"""})
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 3000, "downloadThroughput": -1, "uploadThroughput": -1})
    driver.get("http://default:sesame@%s:%d/" % (server.host, server.http_port))
    wait_dom("the page to render stats", lambda: driver.find_element("tag name", "body")
             .get_attribute("data-ready") == "true")
    time.sleep(10)
    inflight, polls = driver.execute_script("return [window.__maxInflight, window.__polls];")
    assert polls >= 2, polls
    assert inflight == 1, "%d requests in flight at once" % inflight
