"""The Places client against answers the stand-in does not give (README "Transport"): a
scripted TLS server in this file answers each request as a test says, byte for byte, so
that what reaches a client can be matched to the request it was for. Interim (1xx)
answers, bytes beyond an answer, a request whose answer began and was cut (never sent
twice), an address that accepts but never says its TLS hello, the handshake counters,
and the open-connections gauge across a reload.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \\
     /usr/bin/python3 tests/integration/test_places_wire.py -v
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, read_whatsat_reply  # noqa: E402

KEY = "k3y-" + os.urandom(8).hex()
PATH = "/maps/api/place/nearbysearch/json"


def answer_for(query):
    """A legacy answer whose one result names QUERY (the request's search, key left out)."""
    return json.dumps({"html_attributions": [], "results": [{"name": "for " + query}],
                       "status": "OK"}, indent=3).encode()


def http_ok(body):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


class ScriptedPlaces:
    """A TLS server on HOST (the stand-in's certificates, from mkcerts.sh in CERTS) that
    reads HTTP/1.1 requests and hands each to SCRIPT(conn, n, query), which returns the
    bytes to send and whether to close afterwards. It keeps what it saw: every request's
    (connection number, query), handshakes completed, connections open now."""

    def __init__(self, certs, script, host=herdtest.HOST, port=0):
        self.script = script
        self.requests = []
        self.heads = []
        self.handshakes = 0
        self.open = 0
        self.lock = threading.Lock()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(certs, "server.pem"),
                                 os.path.join(certs, "server.key"))
        self.listener = socket.create_server((host, port))
        self.port = self.listener.getsockname()[1]
        self.conns = 0
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.sockets.append(raw)
                n = self.conns
            threading.Thread(target=self._serve, args=(raw, n), daemon=True).start()

    def _serve(self, raw, conn):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with self.lock:
            self.handshakes += 1
            self.open += 1
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = s.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                with self.lock:
                    self.heads.append(head)
                target = head.split(b"\r\n")[0].split(b" ")[1].decode()
                query = "&".join(kv for kv in target.partition("?")[2].split("&")
                                 if not kv.startswith("key="))
                with self.lock:
                    self.requests.append((conn, query))
                    n = len(self.requests)
                data, close = self.script(conn, n, query)
                if data:
                    s.sendall(data)
                if close:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            with self.lock:
                self.open -= 1
            try:
                s.close()
            except OSError:
                pass

    def url(self, host=None):
        return "https://%s:%d%s" % (host or herdtest.HOST, self.port, PATH)

    def queries(self):
        with self.lock:
            return [q for _, q in self.requests]

    def stop(self):
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def speak_nothing(host, port, close_after):
    """A TCP listener on HOST:PORT that accepts and says nothing, closing each connection
    after CLOSE_AFTER seconds (None: never). Returns the listening socket."""
    listener = socket.create_server((host, port))
    held = []

    def run():
        while True:
            try:
                s, _ = listener.accept()
            except OSError:
                return
            held.append(s)
            if close_after is not None:
                threading.Timer(close_after, s.close).start()
    threading.Thread(target=run, daemon=True).start()
    return listener


class WireCase(HerdTestCase):

    def setUp(self):
        self.certs = os.path.join(self.tmp, "certs")
        os.makedirs(self.certs)
        r = subprocess.run(["sh", herdtest.MKCERTS, self.certs], capture_output=True,
                           text=True, timeout=herdtest.scaled(60))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def serve(self, script, **kwargs):
        server = ScriptedPlaces(self.certs, script, **kwargs)
        self.addCleanup(server.stop)
        return server

    def start_node(self, url, env=None, **options):
        opts = {"places_api": "legacy", "places_url": url,
                "places_ca_file": os.path.join(self.certs, "ca.pem"), "places_timeout": "5"}
        opts.update(dict((k, str(v)) for k, v in options.items()))
        self.herd = self.make_herd(["Alford"], herd_options=opts)
        node = self.herd["Alford"]
        node.env = dict({"HERD_PLACES_KEY": KEY}, **(env or {}))
        self.herd.start("Alford")
        return node

    def ask(self, node, n):
        """(the search's query as the server sees it, the reply's JSON) for a WHATSAT
        about a client at a location of its own."""
        client_id = b"wire%04d" % n
        latitude = "34.%06d" % (n * 37 % 1000000)
        with node.client(timeout=15) as c:
            at = c.request(iamat(client_id, ("+%s-118.445127" % latitude).encode()))
            c.send(b"WHATSAT %s 10 5\n" % client_id)
            raw = read_whatsat_reply(c, timeout=15)
        self.assertTrue(raw.startswith(at + b"\n"), raw[:200])
        return latitude, json.loads(raw[len(at) + 1:].decode())

    def assertAnswerFor(self, latitude, answer):
        """ANSWER is the OK answer the server gave to the search at LATITUDE."""
        self.assertEqual(answer["status"], "OK", answer)
        self.assertIn("location=%s" % latitude, answer["results"][0]["name"])

    def places(self, node):
        return node.stats()["places"]


class TestWhatAnAnswerCarries(WireCase):

    def test_interim_answer_fails_the_search_and_the_connection(self):
        for code, reason in ((103, b"Early Hints"), (100, b"Continue")):
            with self.subTest(code=code):
                def script(conn, n, query):
                    if n == 1:
                        return (b"HTTP/1.1 %d %s\r\n\r\n" % (code, reason) +
                                http_ok(answer_for(query)), False)
                    return http_ok(answer_for(query)), False
                server = self.serve(script)
                node = self.start_node(server.url())
                _, first = self.ask(node, 1)
                self.assertEqual(first["status"], "UNKNOWN_ERROR")
                # Not a wait until places_timeout (100), nor "answered HTTP 103".
                self.assertIn("interim answer (HTTP %d)" % code, first["error_message"])
                self.assertIn("places_connection_close conn=1 ", node.log())
                self.assertIn("reason=\"interim answer\"", node.log())
                # The real answer after it is not the next search's.
                latitude, second = self.ask(node, 2)
                self.assertAnswerFor(latitude, second)
                self.assertEqual(self.places(node)["connections_opened"], 2)
                self.herd.stop_all()

    def test_bytes_after_an_answer_are_not_the_next_answer(self):
        def script(conn, n, query):
            extra = http_ok(answer_for("location=stray")) if n == 1 else b""
            return http_ok(answer_for(query)) + extra, False
        server = self.serve(script)
        node = self.start_node(server.url())
        latitude, first = self.ask(node, 1)
        self.assertAnswerFor(latitude, first)
        latitude, second = self.ask(node, 2)
        self.assertAnswerFor(latitude, second)
        self.assertIn("reason=\"bytes after the answer\"", node.log())
        self.assertEqual(self.places(node)["connections_opened"], 2)

    def test_content_lengths_that_disagree_fail_the_search(self):
        def script(conn, n, query):
            body = answer_for(query)
            return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
                    % (len(body), len(body) + 10) + body, False)
        server = self.serve(script)
        node = self.start_node(server.url())
        _, answer = self.ask(node, 1)
        self.assertEqual(answer["status"], "UNKNOWN_ERROR")
        self.assertIn("Content-Length headers that disagree", answer["error_message"])
        self.assertIn("reason=\"Content-Length headers disagree\"", node.log())

    def test_answer_that_is_not_utf8_fails_the_search(self):
        # yajl took these for UTF-8 (an overlong "/", an encoded surrogate, a value past
        # U+10FFFF), and the reply passed them on: no JSON parser would read it.
        for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
            with self.subTest(bad=bad):
                def script(conn, n, query):
                    return http_ok(b'{"results": [{"name": "a%sb"}], "status": "OK"}'
                                   % bad), False
                server = self.serve(script)
                node = self.start_node(server.url())
                _, answer = self.ask(node, 1)
                self.assertEqual(answer["status"], "UNKNOWN_ERROR")
                self.assertIn("is not UTF-8", answer["error_message"])
                self.herd.stop_all()

    def test_error_message_from_the_reason_phrase_is_utf8(self):
        # A reason phrase may hold any byte (RFC 9112 obs-text), and a long one was cut
        # inside a character: both made the reply something no JSON parser reads.
        cases = ((b"500 Server \xff Error", "Places answered HTTP 500 Server \ufffd Error"),
                 (b"500 x" + "\u00e9".encode() * 300, None),
                 (b"500 ", "Places answered HTTP 500"),
                 (b"500", "Places answered HTTP 500"))
        for status, want in cases:
            with self.subTest(status=status[:20]):
                def script(conn, n, query):
                    return (b"HTTP/1.1 %s\r\nContent-Length: 2\r\n\r\n{}" % status,
                            False)
                server = self.serve(script)
                node = self.start_node(server.url())
                _, answer = self.ask(node, 1)
                self.assertEqual(answer["status"], "UNKNOWN_ERROR")
                message = answer["error_message"]
                if want is not None:
                    self.assertEqual(message, want)
                else:
                    self.assertTrue(message.startswith("Places answered HTTP 500 x\u00e9"))
                    self.assertTrue(message.endswith("\u00e9"), message[-20:])
                self.herd.stop_all()

    def test_encoded_answer_is_refused_and_identity_asked_for(self):
        def script(conn, n, query):
            body = b"\x1f\x8b\x08\x00 not really gzip"
            return (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body, False)
        server = self.serve(script)
        node = self.start_node(server.url())
        _, answer = self.ask(node, 1)
        self.assertEqual(answer["status"], "UNKNOWN_ERROR")
        self.assertIn("Content-Encoding: gzip", answer["error_message"])
        self.assertIn(b"\r\nAccept-Encoding: identity", server.heads[0])
        self.assertIn("reason=\"encoded answer\"", node.log())

    def test_request_whose_answer_began_is_never_sent_twice(self):
        # The second request, on the kept connection, gets a status line (or part of
        # its headers) and then the connection closes: the server may have acted on it.
        for cut in (b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 2",
                    b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n"):
            with self.subTest(cut=cut):
                def script(conn, n, query):
                    if n == 2:
                        return cut, True
                    return http_ok(answer_for(query)), False
                server = self.serve(script)
                node = self.start_node(server.url())
                latitude, first = self.ask(node, 1)
                self.assertAnswerFor(latitude, first)
                latitude, second = self.ask(node, 2)
                self.assertEqual(second["status"], "UNKNOWN_ERROR")
                self.assertEqual(sum("location=%s" % latitude in q
                                     for q in server.queries()), 1, server.queries())
                self.assertEqual(self.places(node)["retries"], 0)
                self.herd.stop_all()


class TestCounters(WireCase):

    def test_a_handshake_is_counted_when_no_answer_follows(self):
        def script(conn, n, query):
            return (b"", True) if n == 1 else (http_ok(answer_for(query)), False)
        server = self.serve(script)
        node = self.start_node(server.url())
        self.assertEqual(self.ask(node, 1)[1]["status"], "UNKNOWN_ERROR")
        latitude, answer = self.ask(node, 2)
        self.assertAnswerFor(latitude, answer)
        p = self.places(node)
        self.assertEqual(server.handshakes, 2)
        self.assertEqual(p["handshakes_full"] + p["handshakes_resumed"], 2)
        self.assertEqual(p["connections_opened"], 2)

    def test_open_connections_gauge_holds_across_a_reload(self):
        release = threading.Event()

        def script(conn, n, query):
            if n == 1:
                release.wait(10)
            return http_ok(answer_for(query)), False
        server = self.serve(script)
        node = self.start_node(server.url(), places_timeout=10)
        self.addCleanup(release.set)
        slow = node.client(timeout=15)
        self.addCleanup(slow.close)
        slow.request(iamat(b"slow", b"+34.100000-118.445127"))
        slow.send(b"WHATSAT slow 10 5\n")
        self.assertIsNotNone(node.wait_log(
            lambda line: "event=places_connection_open" in line, timeout=5))
        node.signal(signal.SIGHUP)
        self.assertIsNotNone(node.wait_log(lambda line: "event=reloaded" in line, timeout=5))
        # The reloaded node's own client opens a second connection meanwhile.
        latitude, answer = self.ask(node, 2)
        self.assertAnswerFor(latitude, answer)
        self.assertEqual(server.open, 2)
        self.assertEqual(self.places(node)["connections"], 2)
        release.set()
        self.assertEqual(json.loads(read_whatsat_reply(slow, timeout=15)
                                    .split(b"\n", 1)[1])["status"], "OK")
        # The replaced client lets its connection go after its last call: one is left.
        deadline = time.monotonic() + herdtest.scaled(5)
        while server.open != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(server.open, 1)
        self.assertEqual(self.places(node)["connections"], 1)
        with urllib.request.urlopen("http://%s:%d/metrics" % (herdtest.HOST, node.admin_port),
                                    timeout=herdtest.scaled(5)) as r:
            metrics = r.read().decode()
        self.assertRegex(metrics, r"(?m)^herd_places_connections(\{[^}]*\})? 1$")


class TestAddresses(WireCase):

    def node_for_name(self, server, addresses, **options):
        hosts = os.path.join(self.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("".join("%s places.test\n" % a for a in addresses))
        return self.start_node(server.url("places.test"), env={"HERD_HOSTS_FILE": hosts},
                               **options)

    def test_first_address_that_never_says_its_hello_is_left_for_the_next(self):
        # 127.0.0.2 takes the connection and then closes it after 1.5 s (past the 1 s
        # connect limit), or never: neither is the server, the next address is.
        for close_after in (1.5, None):
            with self.subTest(close_after=close_after):
                server = self.serve(lambda conn, n, query: (http_ok(answer_for(query)),
                                                            False))
                mute = speak_nothing("127.0.0.2", server.port, close_after)
                self.addCleanup(mute.close)
                node = self.node_for_name(server, ["127.0.0.2", "127.0.0.1"],
                                          places_timeout=8)
                latitude, answer = self.ask(node, 1)
                self.assertAnswerFor(latitude, answer)
                self.assertEqual(self.places(node)["connect_failovers"], 1)
                self.assertIn("event=places_connect_next", node.log())
                self.herd.stop_all()
                mute.close()


if __name__ == "__main__":
    herdtest.main()
