"""The admin endpoint (SPEC section 6) against real herdd processes, through curl and jq.

Tests in AdminHerdTest need working peer links (SPEC section 4); the others need one node.
Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_admin.py -v
"""

import base64
import datetime
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, read_whatsat_reply, scaled  # noqa: E402

CURL = shutil.which("curl") or "/usr/bin/curl"
JQ = shutil.which("jq") or "/usr/bin/jq"
TOKEN = "s3cret-Token_with.chars~+/="
CLIENT_FIELDS = {"id", "latitude", "longitude", "client_time", "server", "time_diff", "at"}
PEER_FIELDS = {"name", "address", "state", "since", "sent", "received", "queued_bytes",
               "pending_records", "connects", "connect_failures"}


# -- HTTP through curl ----------------------------------------------------------------

class Response:
    """One HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body, repeated=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.repeated = repeated or {}

    def header(self, name):
        return self.headers.get(name.lower())

    def header_all(self, name):
        """Every value of a header that may come more than once, in order."""
        return self.repeated.get(name.lower(), [])

    def json(self):
        """The body as JSON; the bytes must be strict UTF-8."""
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:300])


def _parse_curl_output(raw):
    """Splits curl -i output (possibly several header blocks) into a Response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers, repeated = {}, {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
        repeated.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(status, headers, body, repeated)


def curl(port, path, method="GET", headers=(), data=None, host=herdtest.HOST):
    """Runs curl against the admin port and returns the Response."""
    argv = [CURL, "-sS", "-i", "-g", "--path-as-is", "--max-time", str(scaled(20))]
    if method == "HEAD":
        argv.append("-I")
    elif method != "GET":
        argv += ["-X", method]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        argv += ["--data-binary", data]
    argv.append("http://%s:%d%s" % (host, port, path))
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=scaled(30))
    if done.returncode != 0:
        raise AssertionError("curl %s failed (%d): %s" % (path, done.returncode,
                                                          done.stderr.decode()))
    return _parse_curl_output(done.stdout)


def jq(filter_text, data, raw=False):
    """Runs jq FILTER on DATA (bytes); returns stdout as text, raises if jq fails."""
    argv = [JQ, "-r" if raw else "-c", filter_text]
    done = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=scaled(30))
    if done.returncode != 0:
        raise AssertionError("jq %r failed: %s" % (filter_text, done.stderr.decode()))
    return done.stdout.decode("utf-8")


def jq_true(filter_text, data):
    """True when jq -e FILTER holds for DATA."""
    done = subprocess.run([JQ, "-e", filter_text], input=data, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=scaled(30))
    return done.returncode == 0


def basic(credentials):
    """Base64 of CREDENTIALS, as a browser sends USER:PASSWORD."""
    return base64.b64encode(credentials.encode()).decode()


def quote_id(client_id):
    """A client ID (bytes or str) percent-encoded for a path segment or query value."""
    if isinstance(client_id, str):
        client_id = client_id.encode("utf-8")
    return urllib.parse.quote_from_bytes(client_id, safe="")


def raw_http(port, data, timeout=20.0):
    """Sends DATA on a raw connection and returns what arrives until the node closes.

    The connection is not half-closed: evhttp drops pipelined requests when it reads EOF.
    """
    with socket.create_connection((herdtest.HOST, port), timeout=scaled(timeout)) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                chunk = b""
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _accepts(port):
    """True when a TCP connection to PORT on the loopback succeeds."""
    try:
        with socket.create_connection((herdtest.HOST, port), timeout=1):
            return True
    except OSError:
        return False


# -- A strict parser of the Prometheus text format 0.0.4 -------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
NUMBER = r"(?:[+-]?Inf|NaN|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
SAMPLE_RE = re.compile(
    r"^(?P<name>%s)(?:\{(?P<labels>%s=%s(?:,%s=%s)*)?\})? (?P<value>%s)(?: (?P<ts>-?[0-9]+))?$"
    % (METRIC_NAME, LABEL_NAME, LABEL_VALUE, LABEL_NAME, LABEL_VALUE, NUMBER))
LABEL_RE = re.compile(r"(%s)=(%s)" % (LABEL_NAME, LABEL_VALUE))
HELP_RE = re.compile(r"^# HELP (%s) ((?:[^\\\n]|\\[\\n])*)$" % METRIC_NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % METRIC_NAME)
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


class PromError(AssertionError):
    pass


def _unescape_label(quoted):
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)


def _number(text):
    return float(text.replace("Inf", "inf"))


def parse_prometheus(text):
    """Parses exposition TEXT strictly; returns {family: {"type", "help", "samples"}}.

    Every sample line must be well formed and belong to a family with a TYPE line given
    before it; families are contiguous; no series repeats; counters are named *_total and
    never negative; histogram buckets are cumulative and end with le="+Inf" == _count.
    """
    if not text.endswith("\n"):
        raise PromError("exposition does not end with a newline")
    families = {}
    closed = set()
    current = None
    series = set()
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (number, line)
        if line == "":
            continue
        if line.startswith("#"):
            m = HELP_RE.match(line)
            if m:
                fam = families.setdefault(m.group(1), {"type": None, "help": None,
                                                       "samples": []})
                if fam["help"] is not None:
                    raise PromError("second HELP, " + where)
                fam["help"] = m.group(2)
                continue
            m = TYPE_RE.match(line)
            if m:
                fam = families.setdefault(m.group(1), {"type": None, "help": None,
                                                       "samples": []})
                if fam["type"] is not None or fam["samples"]:
                    raise PromError("TYPE repeated or after samples, " + where)
                fam["type"] = m.group(2)
                continue
            if line.startswith("# HELP") or line.startswith("# TYPE"):
                raise PromError("malformed HELP or TYPE, " + where)
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise PromError("malformed sample, " + where)
        name = m.group("name")
        labels = {}
        for lm in LABEL_RE.finditer(m.group("labels") or ""):
            if lm.group(1) in labels or lm.group(1).startswith("__"):
                raise PromError("repeated or reserved label, " + where)
            labels[lm.group(1)] = _unescape_label(lm.group(2))
        family = None
        if name in families and families[name]["type"] in ("counter", "gauge", "untyped"):
            family = name
        else:
            for fam_name, fam in families.items():
                for suffix in SUFFIXES.get(fam["type"], ()):
                    if name == fam_name + suffix:
                        family = fam_name
        if family is None:
            raise PromError("sample without a TYPE line, " + where)
        if family != current:
            if family in closed:
                raise PromError("family %s is not contiguous, %s" % (family, where))
            if current is not None:
                closed.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromError("repeated series, " + where)
        series.add(key)
        value = _number(m.group("value"))
        fam = families[family]
        if fam["type"] == "counter":
            if not family.endswith("_total"):
                raise PromError("counter %s is not named *_total" % family)
            if not value >= 0:
                raise PromError("negative counter, " + where)
        fam["samples"].append((name, labels, value))
    for fam_name, fam in families.items():
        if fam["type"] is None:
            raise PromError("family %s has HELP but no TYPE" % fam_name)
        if fam["type"] == "histogram":
            _check_histogram(fam_name, fam["samples"])
    return families


def _check_histogram(name, samples):
    groups = {}
    for sample_name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        group = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sample_name == name + "_bucket":
            if "le" not in labels:
                raise PromError("%s bucket without le" % name)
            group["buckets"].append((_number(labels["le"]), value))
        elif sample_name == name + "_sum":
            group["sum"] = value
        else:
            group["count"] = value
    for group in groups.values():
        bounds = [b for b, _ in group["buckets"]]
        counts = [c for _, c in group["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            raise PromError("%s: last bucket is not +Inf" % name)
        if bounds != sorted(set(bounds)) or counts != sorted(counts):
            raise PromError("%s: buckets not increasing and cumulative" % name)
        if group["sum"] is None or group["count"] is None or group["count"] != counts[-1]:
            raise PromError("%s: _sum/_count missing or +Inf bucket != _count" % name)


def sample(families, name, **labels):
    """The value of the series NAME{LABELS}; raises KeyError if there is none."""
    for fam in families.values():
        for sample_name, sample_labels, value in fam["samples"]:
            if sample_name == name and sample_labels == labels:
                return value
    raise KeyError("%s%r" % (name, labels))


# -- Test cases --------------------------------------------------------------------------

class AdminTestCase(HerdTestCase):
    """Helpers shared by the admin tests."""

    def get(self, node, path, **kw):
        return curl(node.admin_port, path, **kw)

    def get_json(self, node, path, status=200, **kw):
        r = self.get(node, path, **kw)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        return r.json()

    def assertJsonError(self, r, status):
        """R is STATUS with a JSON body {"error": "..."}."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json", r)
        body = r.json()
        self.assertIsInstance(body.get("error"), str, r)
        self.assertTrue(body["error"], r)

    def metrics(self, node):
        r = self.get(node, "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4", r)
        return parse_prometheus(r.body.decode("utf-8"))

    def start(self, herd, *names):
        """Starts the named nodes and waits until their admin ports accept too: the
        harness waits for the client port only, which a node opens first."""
        nodes = herd.start(*names)
        for node in nodes if isinstance(nodes, list) else [nodes]:
            self.wait_for("the admin port of %s" % node.name, lambda: _accepts(node.admin_port))
        return nodes

    def wait_for(self, what, probe, timeout=20.0):
        """Polls PROBE() until it returns a true value; fails with WHAT after TIMEOUT."""
        deadline = time.monotonic() + scaled(timeout)
        last = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.1)
        self.fail("timed out waiting for %s" % what)


class PromParserTest(unittest.TestCase):
    """The strict parser is strict: the metrics tests are only as good as it is."""

    GOOD = ("# HELP a_total Things.\n# TYPE a_total counter\na_total{k=\"v\\\"\"} 1\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 0.5\nh_count 2\n")

    def test_accepts_good_text(self):
        fams = parse_prometheus(self.GOOD)
        self.assertEqual(sample(fams, "a_total", k="v\""), 1)
        self.assertEqual(fams["h"]["type"], "histogram")

    def test_rejects_bad_text(self):
        bad = [
            "x 1\n",                                          # no TYPE
            "# TYPE x gauge\nx 1",                            # no final newline
            "# TYPE x gauge\nx{a=\"1\"} one\n",               # value
            "# TYPE x gauge\nx{a=1} 1\n",                     # unquoted label
            "# TYPE x gauge\nx{a=\"\\t\"} 1\n",               # bad escape
            "# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",         # repeated label
            "# TYPE x gauge\nx 1\nx 2\n",                     # repeated series
            "# TYPE x gauge\n# TYPE x gauge\nx 1\n",          # second TYPE
            "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 1\n",   # interleaved
            "# TYPE x counter\nx 1\n",                        # counter not *_total
            "# TYPE x_total counter\nx_total -1\n",           # negative counter
            "# TYPE x wibble\nx 1\n",                         # unknown type
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",    # no +Inf
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\nh_count 1\n",                           # not cumulative
            "# TYPE x gauge\nx  1\n",                         # two spaces
        ]
        for text in bad:
            with self.assertRaises(PromError, msg=text):
                parse_prometheus(text)


class AdminNodeTest(AdminTestCase):
    """One node, Alford, with neighbours Parker and Powell configured but not running."""

    def setUp(self):
        self.herd = self.make_herd(["Alford", "Parker", "Powell"],
                                   peers={"Alford": ["Parker", "Powell"]})
        self.node = self.start(self.herd, "Alford")

    def iamat(self, client_id, location="+34.068930-118.445127", client_time="1700000000.5"):
        """Sends an IAMAT to the node; returns the AT line (bytes)."""
        at = self.node.request(iamat(client_id, location, client_time))
        self.assertAtLine(at, server="Alford")
        return at

    def test_healthz(self):
        r = self.get(self.node, "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ok\n")
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))

    def test_clients_after_iamat(self):
        at1 = self.iamat("kiwi.cs.ucla.edu", "+34.068930-118.445127", "1621464827.959498503")
        at2 = self.iamat("apple", "-033.8688+151.2093", "1700000000")
        r = self.get(self.node, "/clients")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(jq(".count", r.body).strip(), "2")
        self.assertEqual(jq(".clients[].id", r.body, raw=True), "apple\nkiwi.cs.ucla.edu\n")
        self.assertTrue(jq_true(".next == null", r.body))
        body = r.json()
        for client in body["clients"]:
            self.assertEqual(set(client), CLIENT_FIELDS)
        kiwi = body["clients"][1]
        m = self.assertAtLine(at1, server="Alford")
        self.assertEqual(kiwi["latitude"], 34.06893)
        self.assertEqual(kiwi["longitude"], -118.445127)
        self.assertEqual(kiwi["client_time"], "1621464827.959498503")
        self.assertEqual(kiwi["server"], "Alford")
        self.assertEqual(kiwi["time_diff"], m.group("diff").decode())
        self.assertEqual(kiwi["at"], at1.decode())
        apple = body["clients"][0]
        self.assertEqual((apple["latitude"], apple["longitude"]), (-33.8688, 151.2093))
        self.assertEqual(apple["at"], at2.decode())
        # the exact digits survive: the JSON number text is the client's own
        self.assertIn(b'"latitude":34.068930,', r.body)

        one = self.get_json(self.node, "/clients/kiwi.cs.ucla.edu")
        self.assertEqual(one, kiwi)

    def test_newer_record_replaces_older(self):
        self.iamat("mover", "+1+1", "1700000000")
        at = self.iamat("mover", "+2+2", "1700000001")
        self.iamat("mover", "+3+3", "1600000000")     # older: answered, not stored
        body = self.get_json(self.node, "/clients/mover")
        self.assertEqual(body["at"], at.decode())
        self.assertEqual(self.get_json(self.node, "/clients")["count"], 1)

    def test_odd_client_ids(self):
        ids = [b"caf\xe9", "caf\u00e9".encode(), b'q"uote\\back', b"a+b%c/d?e#f&g=h;i",
               b"\x01ctl\x7f", b"\xff\xfe", b"x" * 255, b"{}[],:"]
        ats = {i: self.iamat(i) for i in ids}
        r = self.get(self.node, "/clients?limit=1000")
        self.assertEqual(r.status, 200)
        self.assertEqual(jq(".clients | length", r.body).strip(), str(len(ids)))
        listed = r.json()["clients"]
        by_bytes = {}
        for client in listed:
            raw = (bytes.fromhex(client["id_hex"]) if "id_hex" in client
                   else client["id"].encode("utf-8"))
            by_bytes[raw] = client
        self.assertEqual(set(by_bytes), set(ids))
        self.assertEqual([bytes.fromhex(c["id_hex"]) if "id_hex" in c else c["id"].encode()
                          for c in listed], sorted(ids))
        for i in ids:
            client = by_bytes[i]
            try:
                i.decode("utf-8")
                valid = True
            except UnicodeDecodeError:
                valid = False
            self.assertEqual("id_hex" in client, not valid, client)
            self.assertEqual("at_hex" in client, not valid, client)
            if valid:
                self.assertEqual(client["id"], i.decode("utf-8"))
                self.assertEqual(client["at"], ats[i].decode("utf-8"))
            else:
                self.assertIn("\ufffd", client["id"])
                self.assertEqual(bytes.fromhex(client["at_hex"]), ats[i])
            one = self.get_json(self.node, "/clients/" + quote_id(i))
            self.assertEqual(one, client)

    def test_unknown_client_and_path(self):
        self.assertJsonError(self.get(self.node, "/clients/nobody"), 404)
        self.assertJsonError(self.get(self.node, "/clients/"), 404)
        for path in ("//", "/index.html", "/nope", "/stats/", "/client", "/clientsx",
                     "/metrics/x", "/%63lients", "/herd/", "/herdx"):
            self.assertJsonError(self.get(self.node, path), 404)
        self.assertJsonError(self.get(self.node, "/clients/%zz"), 400)
        self.assertJsonError(self.get(self.node, "/clients/" + "x" * 256), 400)

    def test_bad_paging_parameters(self):
        for query in ("limit=0", "limit=1001", "limit=abc", "limit", "limit=-1",
                      "limit=1&limit=2", "after=%zz", "after=" + "x" * 256, "offset=3"):
            self.assertJsonError(self.get(self.node, "/clients?" + query), 400)
        self.get_json(self.node, "/clients?limit=1000&after=")

    def test_other_methods_get_405(self):
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FROB"):
            for path in ("/stats", "/nope"):
                r = self.get(self.node, path, method=method,
                             data="x=1" if method in ("POST", "PUT") else None)
                self.assertJsonError(r, 405)
                self.assertEqual(r.header("Allow"), "GET, HEAD", r)
        # the node still serves afterwards
        self.assertEqual(self.get(self.node, "/healthz").status, 200)

    def test_unknown_method_body_is_not_read_as_a_request(self):
        smuggled = b"GET /clients HTTP/1.1\r\nHost: x\r\n\r\n"
        raw = raw_http(self.node.admin_port,
                       b"FROB /stats HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                       % len(smuggled) + smuggled)
        self.assertTrue(raw.startswith(b"HTTP/1.1 405 "), raw)
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)

    def test_connect_is_answered_with_a_length_and_the_connection_closed(self):
        # evhttp 2.1 sends a CONNECT's answer without a length and keeps the connection
        # open, serving what follows, until admin_timeout (10 s).
        with socket.create_connection((herdtest.HOST, self.node.admin_port),
                                      timeout=scaled(5)) as s:
            s.sendall(b"CONNECT /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                except socket.timeout:
                    self.fail("the node did not close after the CONNECT: %r" % raw)
                if not chunk:
                    break
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 405 "), raw)
        self.assertIn(b"\r\nContent-Length: %d" % len(body), head)
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)
        self.assertEqual(self.get(self.node, "/healthz").status, 200)

    def test_pipelined_requests_nobody_reads_take_bounded_memory(self):
        # evhttp reads on while it writes an answer: a client that sends and never reads
        # would have all it sends held in memory.
        def rss_kib():
            with open("/proc/%d/status" % self.node.pid) as f:
                return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
        before = rss_kib()
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        chunk = request * 2000
        sent = 0
        with socket.create_connection((herdtest.HOST, self.node.admin_port)) as s:
            s.setblocking(False)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and sent < 256 << 20:
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
            grown = rss_kib() - before
        self.assertEqual(self.get(self.node, "/healthz").status, 200)
        # The sanitizers' own memory (shadow, quarantine) grows with every request.
        if os.environ.get("HERD_SANITIZE", "none") == "none":
            self.assertLess(grown, 16 * 1024, "RSS grew %d KiB after %d bytes" % (grown, sent))

    def test_head_has_headers_and_no_body(self):
        self.iamat("headless")
        get = self.get(self.node, "/clients")
        head = self.get(self.node, "/clients", method="HEAD")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("Content-Type"), "application/json")
        self.assertEqual(head.header("Content-Length"), str(len(get.body)))
        # on one connection, the GET's answer follows the HEAD's headers directly
        raw = raw_http(self.node.admin_port,
                       b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        first, _, rest = raw.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 3", first)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), raw)
        self.assertTrue(rest.endswith(b"\r\n\r\nok\n"), raw)
        self.assertJsonError(self.get(self.node, "/nope"), 404)
        self.assertEqual(self.get(self.node, "/nope", method="HEAD").status, 404)

    def test_peers_lists_configured_neighbours(self):
        r = self.get(self.node, "/peers")
        self.assertEqual(r.status, 200)
        self.assertEqual(jq("[.peers[].name]", r.body).strip(), '["Parker","Powell"]')
        for peer in r.json()["peers"]:
            self.assertEqual(set(peer), PEER_FIELDS)
            node = self.herd[peer["name"]]
            self.assertEqual(peer["address"], "%s:%d" % (herdtest.HOST, node.peer_port))
            self.assertIn(peer["state"], ("down", "connecting"))
            since = datetime.datetime.strptime(peer["since"], "%Y-%m-%dT%H:%M:%S.%fZ")
            since = since.replace(tzinfo=datetime.timezone.utc)
            self.assertLess(abs(since.timestamp() - time.time()), 600)
            for key in PEER_FIELDS - {"name", "address", "state", "since"}:
                self.assertIsInstance(peer[key], int)
                self.assertGreaterEqual(peer[key], 0)
        fams = self.metrics(self.node)
        for name in ("Parker", "Powell"):
            self.assertEqual(sample(fams, "herd_peer_up", peer=name), 0)
            self.assertEqual(sample(fams, "herd_peer_state", peer=name, state="up"), 0)

    def stats(self):
        return self.get_json(self.node, "/stats")

    def test_stats_fields_and_counters_move(self):
        before = self.stats()
        self.assertEqual(before["node"], "Alford")
        version = herdtest.run_herdd(["-V"]).stdout.split()[-1]
        self.assertEqual(before["version"], version)
        self.assertEqual(set(before["client_connections"]), {"current", "total"})
        self.assertEqual(set(before["commands"]), {"IAMAT", "WHATSAT", "invalid"})
        self.assertEqual(set(before["flood"]), {
            "originated", "received", "forwarded", "stale_dropped", "sync_records_sent",
            "sync_records_received", "coalesced"})
        self.assertEqual(set(before["sync"]), {"full", "walk", "equal", "bytes_sent", "digest"})
        self.assertTrue({"requests", "errors", "coalesced", "latency"} <= set(before["places"]))
        self.assertIsInstance(before["uptime_seconds"], (int, float))

        with self.node.client(timeout=15) as c:
            c.send(iamat("counted", "+1+1", "1700000000") + b"\n")
            c.send(iamat("counted", "+1+1", "1600000000") + b"\n")
            c.send(b"HELLO there\n")
            c.send(b"WHATSAT nobody 10 5\n")
            self.assertEqual(len(c.read_lines(4)), 4)
            during = self.stats()
            self.assertEqual(during["client_connections"]["current"],
                             before["client_connections"]["current"] + 1)
        after = self.wait_for("the client connection to close", lambda: (
            lambda s: s if s["client_connections"]["current"] ==
            before["client_connections"]["current"] else None)(self.stats()))
        self.assertEqual(after["commands"]["IAMAT"], before["commands"]["IAMAT"] + 2)
        self.assertEqual(after["commands"]["invalid"], before["commands"]["invalid"] + 2)
        self.assertEqual(after["client_connections"]["total"],
                         before["client_connections"]["total"] + 1)
        self.assertEqual(after["flood"]["originated"], before["flood"]["originated"] + 1)
        self.assertEqual(after["clients"], 1)
        self.assertGreater(after["uptime_seconds"], before["uptime_seconds"])

    def test_places_counters_move(self):
        self.iamat("seeker")
        before = self.stats()["places"]
        with self.node.client(timeout=30) as c:
            c.send(b"WHATSAT seeker 10 5\n")
            reply = read_whatsat_reply(c, timeout=30)
        self.assertIn(b"UNKNOWN_ERROR", reply)   # the test herd's Places is a closed port
        after = self.stats()
        self.assertEqual(after["commands"]["WHATSAT"], 1)
        places = after["places"]
        self.assertEqual(places["requests"], before["requests"] + 1)
        self.assertEqual(places["errors"], before["errors"] + 1)
        self.assertEqual(places["latency"]["count"], before["latency"]["count"] + 1)
        self.assertEqual(places["latency"]["buckets"]["+Inf"], places["latency"]["count"])
        fams = self.metrics(self.node)
        self.assertEqual(sample(fams, "herd_places_requests_total"), places["requests"])
        self.assertEqual(sample(fams, "herd_places_request_duration_seconds_count"),
                         places["latency"]["count"])

    def test_metrics_are_well_formed_and_move(self):
        fams = self.metrics(self.node)
        want = {
            "herd_build_info": "gauge", "herd_uptime_seconds": "gauge",
            "herd_clients": "gauge", "herd_client_connections": "gauge",
            "herd_client_connections_total": "counter", "herd_commands_total": "counter",
            "herd_flood_records_total": "counter", "herd_sync_records_total": "counter",
            "herd_peer_up": "gauge", "herd_peer_records_sent_total": "counter",
            "herd_peer_records_received_total": "counter", "herd_peer_queued_bytes": "gauge",
            "herd_peer_pending_records": "gauge",
            "herd_peer_connects_total": "counter", "herd_peer_connect_failures_total": "counter",
            "herd_places_requests_total": "counter", "herd_places_errors_total": "counter",
            "herd_places_coalesced_total": "counter",
            "herd_places_request_duration_seconds": "histogram",
        }
        for name, kind in want.items():
            self.assertIn(name, fams)
            self.assertEqual(fams[name]["type"], kind, name)
            self.assertTrue(fams[name]["help"], name)
        version = herdtest.run_herdd(["-V"]).stdout.split()[-1]
        self.assertEqual(sample(fams, "herd_build_info", version=version, node="Alford"), 1)
        iamats = sample(fams, "herd_commands_total", kind="IAMAT")

        self.iamat("metered")
        self.iamat("metered2")
        stats = self.stats()
        fams = self.metrics(self.node)
        self.assertEqual(sample(fams, "herd_commands_total", kind="IAMAT"), iamats + 2)
        self.assertEqual(sample(fams, "herd_clients"), 2)
        self.assertEqual(sample(fams, "herd_client_connections_total"),
                         stats["client_connections"]["total"])
        self.assertEqual(sample(fams, "herd_flood_records_total", kind="originated"),
                         stats["flood"]["originated"])
        self.assertEqual(sample(fams, "herd_commands_total", kind="invalid"),
                         stats["commands"]["invalid"])

    def test_slow_request_is_timed_out(self):
        with socket.create_connection((herdtest.HOST, self.node.admin_port),
                                      timeout=scaled(60)) as s:
            s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n")   # never finished
            start = time.monotonic()
            while s.recv(65536):
                pass
            self.assertLess(time.monotonic() - start, scaled(60))
        self.assertEqual(self.get(self.node, "/healthz").status, 200)

    def test_oversized_headers_are_refused(self):
        raw = raw_http(self.node.admin_port,
                       b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 +
                       b"\r\n\r\n")
        self.assertFalse(raw.startswith(b"HTTP/1.1 200"), raw[:200])
        self.assertEqual(self.get(self.node, "/healthz").status, 200)

    def test_requests_are_logged(self):
        self.get(self.node, "/clients?limit=5")
        line = self.node.wait_log(lambda l: "event=admin_request" in l and "/clients" in l)
        self.assertIsNotNone(line)
        self.assertIn("status=200", line)
        self.assertIn("method=GET", line)


class AdminPagingTest(AdminTestCase):

    N = 10000

    def test_ten_thousand_clients_paged_completely(self):
        node = self.start(self.make_herd(["Alford"]), "Alford")
        ids = ["c%d" % i for i in range(self.N)]
        replies = []

        def read_all(client):
            replies.extend(client.read_lines(self.N, timeout=120))

        with node.client(timeout=120) as c:
            reader = threading.Thread(target=read_all, args=(c,))
            reader.start()
            c.send(b"".join(iamat(i, "+1+1", "1700000000") + b"\n" for i in ids))
            reader.join(scaled(150))
        self.assertEqual(len(replies), self.N)
        self.assertTrue(all(r.startswith(b"AT Alford ") for r in replies))

        for limit in (1000, 337):
            seen, after, pages = [], None, 0
            while True:
                path = "/clients?limit=%d" % limit
                if after is not None:
                    path += "&after=" + quote_id(after)
                r = self.get(node, path)
                self.assertEqual(r.status, 200, r)
                body = r.json()
                pages += 1
                self.assertEqual(body["count"], self.N)
                page = [c["id"] for c in body["clients"]]
                self.assertLessEqual(len(page), limit)
                self.assertEqual(page, sorted(page, key=lambda s: s.encode()))
                if seen:
                    self.assertGreater(page[0].encode(), seen[-1].encode())
                seen += page
                if body["next"] is None:
                    break
                self.assertEqual(body["next"], page[-1])
                self.assertEqual(len(page), limit)
                after = body["next"]
            self.assertEqual(len(seen), self.N, "limit %d" % limit)
            self.assertEqual(len(set(seen)), self.N, "duplicates with limit %d" % limit)
            self.assertEqual(seen, sorted(ids, key=lambda s: s.encode()))
            self.assertEqual(pages, -(-self.N // limit))
        # jq reads a full page too
        r = self.get(node, "/clients?limit=1000&after=c9")
        self.assertEqual(jq(".clients[0].id", r.body, raw=True).strip(), "c90")


class AdminTokenTest(AdminTestCase):

    def make_token_herd(self, token_text=TOKEN + "\n", admin_host=None):
        herd = self.make_herd(["Alford"], herd_options={"admin_token_file": "admin.token"})
        with open(os.path.join(herd.dir, "admin.token"), "w") as f:
            f.write(token_text)
        if admin_host is not None:
            node = herd["Alford"]
            text = herd.config_text().replace(
                "admin_listen = %s:%d" % (herdtest.HOST, node.admin_port),
                "admin_listen = %s:%d" % (admin_host, node.admin_port))
            with open(herd.config_path, "w") as f:
                f.write(text)
        return herd

    def test_every_request_needs_the_token(self):
        node = self.start(self.make_token_herd(), "Alford")
        for path in ("/healthz", "/clients", "/metrics", "/nope"):
            for method in ("GET", "POST"):
                r = self.get(node, path, method=method)
                self.assertJsonError(r, 401)
                # A bearer token for programs; Basic (the token as password) for browsers.
                self.assertEqual(r.header_all("WWW-Authenticate"),
                                 ['Bearer realm="herd"', 'Basic realm="herd", charset="UTF-8"'],
                                 r)
        wrong = ["Bearer", "Bearer ", "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x",
                 "Bearer x" + TOKEN, "Basic " + TOKEN, TOKEN, "Bearer " + TOKEN.upper(),
                 "Bearer" + TOKEN, "Basic " + basic(TOKEN), "Basic " + basic("me:" + TOKEN[:-1]),
                 "Basic " + basic("me:" + TOKEN + "x"), "Basic " + basic("me:")[:-1],
                 "Basic !!!!", "Basic ", "Basic" + basic("me:" + TOKEN),
                 "Bearer " + basic("me:" + TOKEN), "Basic " + basic("me:x:" + TOKEN),
                 "Basic QQ==" + basic("x:" + TOKEN), "Basic " + basic("me:" + TOKEN) + "===="]
        for value in wrong:
            self.assertJsonError(self.get(node, "/stats",
                                          headers=["Authorization: " + value]), 401)
        for value in ("Bearer " + TOKEN, "bearer " + TOKEN, "BEARER  " + TOKEN,
                      "Basic " + basic("me:" + TOKEN), "basic  " + basic(":" + TOKEN)):
            r = self.get(node, "/stats", headers=["Authorization: " + value])
            self.assertEqual(r.status, 200, value)
        auth = ["Authorization: Bearer " + TOKEN]
        self.assertJsonError(self.get(node, "/stats", method="POST", headers=auth), 405)
        self.assertJsonError(self.get(node, "/nope", headers=auth), 404)
        self.assertNotIn(TOKEN, node.log())

    def test_non_loopback_needs_a_token_file(self):
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        with open(herd.config_path, "w") as f:
            f.write(herd.config_text().replace(
                "admin_listen = %s:%d" % (herdtest.HOST, node.admin_port),
                "admin_listen = 0.0.0.0:%d" % node.admin_port))
        done = herdtest.run_herdd(["-t", "-c", herd.config_path])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("admin_token_file", done.stderr)

    def test_non_loopback_with_token(self):
        node = self.start(self.make_token_herd(admin_host="0.0.0.0"), "Alford")
        self.assertJsonError(self.get(node, "/stats"), 401)
        r = self.get(node, "/stats", headers=["Authorization: Bearer " + TOKEN])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["node"], "Alford")

    def assertRefusesToStart(self, herd, why):
        node = herd["Alford"]
        node.start(wait=False)
        self.assertNotEqual(node.wait(), 0)
        text = node.log() + node.stderr_text()
        self.assertIn("admin_token_file", text)
        self.assertIn(why, text)

    def test_empty_token_file_is_refused(self):
        self.assertRefusesToStart(self.make_token_herd("\n"), 'error="empty"')

    def test_missing_token_file_is_refused(self):
        herd = self.make_token_herd()
        os.unlink(os.path.join(herd.dir, "admin.token"))
        self.assertRefusesToStart(herd, "admin.token")

    def test_token_with_white_space_is_refused(self):
        self.assertRefusesToStart(self.make_token_herd("two words\n"), "printable ASCII")

    def test_token_that_is_not_ascii_is_refused(self):
        # herd.conf(5): one word of printable ASCII; "t\u00f6k" was taken, and worked.
        self.assertRefusesToStart(self.make_token_herd("t\u00f6k\n"), "printable ASCII")


class AdminHerdTest(AdminTestCase):
    """Several nodes: these need the peer links of SPEC section 4."""

    def clients_by_id(self, node):
        body = self.get_json(node, "/clients?limit=1000")
        return {c["id"]: c for c in body["clients"]}

    def test_table_holds_clients_from_other_nodes(self):
        herd = self.make_herd(["Alford", "Parker", "Powell"],
                              peers={"Alford": ["Parker"], "Powell": ["Parker"]})
        self.start(herd)
        # links up first, so that the records travel as floods rather than as sync
        for node in herd:
            self.wait_for("every link up at %s" % node.name, lambda: all(
                p["state"] == "up" for p in self.get_json(node, "/peers")["peers"]))
        at_a = herd["Alford"].request(iamat("from-alford", "+1+1", "1700000000"))
        at_p = herd["Powell"].request(iamat("from-powell", "-2-2", "1700000001.25"))
        for name in ("Alford", "Parker", "Powell"):
            table = self.wait_for("both clients at %s" % name, lambda: (
                lambda t: t if {"from-alford", "from-powell"} <= set(t) else None)(
                    self.clients_by_id(herd[name])))
            self.assertEqual(table["from-alford"]["at"], at_a.decode())
            self.assertEqual(table["from-alford"]["server"], "Alford")
            self.assertEqual(table["from-powell"]["at"], at_p.decode())
            self.assertEqual(table["from-powell"]["server"], "Powell")
            self.assertEqual(table["from-powell"]["client_time"], "1700000001.25")
        parker = self.get_json(herd["Parker"], "/stats")
        self.assertGreaterEqual(parker["flood"]["received"], 2)
        self.assertGreaterEqual(parker["flood"]["forwarded"], 2)

    def peer(self, node, name):
        for peer in self.get_json(node, "/peers")["peers"]:
            if peer["name"] == name:
                return peer
        self.fail("no peer %s at %s" % (name, node.name))

    def test_peer_states_follow_the_neighbour(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        alford, parker = self.start(herd)
        up = self.wait_for("Parker up at Alford", lambda: (
            lambda p: p if p["state"] == "up" else None)(self.peer(alford, "Parker")))
        self.assertGreaterEqual(up["connects"], 1)
        self.assertEqual(sample(self.metrics(alford), "herd_peer_up", peer="Parker"), 1)
        alford.request(iamat("linked", "+1+1", "1700000000"))
        sent = self.wait_for("a record sent to Parker", lambda: (
            lambda p: p if p["sent"] >= 1 else None)(self.peer(alford, "Parker")))
        self.wait_for("a record received from Alford", lambda: (
            self.peer(parker, "Alford")["received"] >= 1))

        parker.kill()
        down = self.wait_for("Parker no longer up at Alford", lambda: (
            lambda p: p if p["state"] != "up" else None)(self.peer(alford, "Parker")))
        self.assertIn(down["state"], ("down", "connecting"))
        self.assertGreater(down["since"], sent["since"])
        self.assertEqual(sample(self.metrics(alford), "herd_peer_up", peer="Parker"), 0)

        self.start(herd, "Parker")
        again = self.wait_for("Parker up again at Alford", lambda: (
            lambda p: p if p["state"] == "up" else None)(self.peer(alford, "Parker")))
        self.assertGreaterEqual(again["connects"], 2)


if __name__ == "__main__":
    herdtest.main()
