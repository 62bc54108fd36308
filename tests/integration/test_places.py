"""WHATSAT and Places (SPEC sections 3 and 5).

Against a Places that hangs (a listener that never answers): the loop never blocks, replies
keep their order, places_timeout is honoured, identical requests share one call.
Against tests/standin's places-standin (skipped while it is not built): the request the node
sends, the reply the client gets, pass-through statuses, upstream failures, TLS checks.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_places.py -v
"""

import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import (ClientTestCase, HerdTestCase, iamat,  # noqa: E402
                      read_whatsat_reply, scaled)

KIWI = b"+34.068930-118.445127"


class BlackHole:
    """A TCP listener that accepts connections and never answers: a Places that hangs."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class TestSlowPlaces(ClientTestCase):
    """Places accepts the connection and never answers: WHATSAT takes places_timeout."""

    TIMEOUT = 2

    def setUp(self):
        self.hole = BlackHole()
        self.addCleanup(self.hole.close)
        self.HERD_OPTIONS = {
            "places_url": "https://127.0.0.1:%d/maps/api/place/nearbysearch/json" % self.hole.port,
            "places_timeout": self.TIMEOUT,
        }
        super().setUp()

    def test_slow_whatsat_does_not_block_other_clients(self):
        a = self.node.client(timeout=15)
        b = self.node.client()
        try:
            at = a.request(iamat("waiting"))
            start = time.monotonic()
            a.send(b"WHATSAT waiting 10 5\n")
            time.sleep(0.1)
            self.assertAtLine(b.request(iamat("other"), timeout=1), client_id="other")
            self.assertLess(time.monotonic() - start, 0.9 * self.TIMEOUT)
            doc = self.assertWhatsatReply(read_whatsat_reply(a, timeout=15), at, 5)
            self.assertGreaterEqual(time.monotonic() - start, 0.8 * self.TIMEOUT)
            self.assertEqual(doc["status"], "UNKNOWN_ERROR")
        finally:
            a.close()
            b.close()

    def test_replies_after_a_slow_whatsat_wait_for_it(self):
        with self.node.client(timeout=15) as c:
            at = c.request(iamat("first"))
            c.send(b"WHATSAT first 10 5\n" + iamat("second") + b"\nBOGUS\n")
            self.assertEqual(c.read_available(0.5 * self.TIMEOUT), b"",
                             "replies overtook a pending WHATSAT")
            self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
            second, bogus = c.read_lines(2)
            self.assertAtLine(second, client_id="second")
            self.assertEqual(bogus, b"? BOGUS")

    def test_half_close_with_slow_whatsat(self):
        with self.node.client(timeout=15) as c:
            at = c.request(iamat("hc"))
            c.send(b"WHATSAT hc 10 5\nBOGUS")
            c.shutdown_write()
            data = c.read_until_eof(timeout=15)
        head, sep, tail = data.partition(b"\n\n")
        self.assertWhatsatReply(head + sep, at, 5)
        self.assertEqual(tail, b"? BOGUS\n")

    def test_client_gone_while_whatsat_pending(self):
        for linger in (False, True):
            s = socket.create_connection(("127.0.0.1", self.node.client_port))
            s.sendall(iamat("gone") + b"\nWHATSAT gone 10 5\nWHATSAT gone 5 5\n"
                      + iamat("gone2") + b"\n")
            time.sleep(0.1)
            if linger:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(self.TIMEOUT + 1)
        self.assertTrue(self.node.running(), "herdd died after a client left mid-WHATSAT")
        self.assertAtLine(self.node.request(iamat("alive")), client_id="alive")

    def test_sigterm_with_whatsat_pending_exits_zero(self):
        with self.node.client() as c:
            c.request(iamat("term"))
            c.send(b"WHATSAT term 10 5\n")
            time.sleep(0.2)
            start = time.monotonic()
            self.node.signal(signal.SIGTERM)
            self.assertEqual(self.node.wait(timeout=3), 0)
            self.assertLess(time.monotonic() - start, scaled(3))

    def test_identical_requests_in_flight_share_one_upstream_call(self):
        clients = [self.node.client(timeout=15) for _ in range(3)]
        try:
            at = clients[0].request(iamat("shared"))
            for c in clients:
                c.send(b"WHATSAT shared 10 5\n")
            for c in clients:
                self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
        finally:
            for c in clients:
                c.close()
        self.assertEqual(len(self.hole.conns), 1,
                         "%d upstream connections for 3 identical WHATSATs"
                         % len(self.hole.conns))



class StandinTestCase(HerdTestCase):
    """A stand-in and one node, Alford, pointed at it (legacy API unless API says new)."""

    API = "legacy"
    TIMEOUT = 3
    KEY = "herd-test-key"

    def setUp(self):
        self.standin = self.start_standin(key_required=self.KEY)
        self.node = self.start_node("Alford", herd_options=self.standin.herd_options(
            self.API, self.TIMEOUT))

    def whatsat(self, client_id=b"kiwi", radius=b"10", bound=5, location=KIWI):
        """IAMAT CLIENT_ID at LOCATION, then WHATSAT; returns (AT line, parsed JSON)."""
        with self.node.client(timeout=15) as c:
            at = c.request(iamat(client_id, location))
            c.send(b"WHATSAT %s %s %d\n" % (client_id, radius, bound))
            doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, bound)
            return at, doc


class TestPlacesLegacy(StandinTestCase):

    def test_results_trimmed_to_bound(self):
        for bound in (1, 5, 20):
            with self.subTest(bound=bound):
                _, doc = self.whatsat(b"b%d" % bound, bound=bound)
                self.assertEqual(doc["status"], "OK", doc)
                self.assertEqual(len(doc["results"]), bound)
                self.assertIn("html_attributions", doc)

    def test_many_large_replies_ready_at_once(self):
        """The first WHATSAT's search is slow, the 63 behind it (one coalesced search)
        are ready first and wait for it; when it comes, 64 replies of more than 256 KiB
        in all go out at once and the client, paused meanwhile at client_max_pending,
        must be resumed though the socket took everything in one write (it stalled,
        then hit the idle timeout), so the IAMAT after them is answered too."""
        client_id = b"burst"
        count = 64
        options = self.standin.herd_options(self.API, self.TIMEOUT)
        options["client_max_pending"] = count
        node = self.start_node("Hamilton", herd_options=options)
        with node.client(timeout=20) as c:
            c.request(iamat(client_id))
            self.standin.control("mode=slow=2")
            c.send(b"WHATSAT %s 11 20\n" % client_id)
            deadline = time.monotonic() + 10
            while self.standin.stats()["requests"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.standin.control("")
            c.send(b"".join(b"WHATSAT %s 10 20\n" % client_id for _ in range(count - 1)) +
                   iamat(b"after") + b"\n")
            size = 0
            for i in range(count):
                reply = read_whatsat_reply(c, timeout=20)
                size += len(reply)
                doc = json.loads(reply.split(b"\n", 1)[1])
                self.assertEqual(len(doc["results"]), 20, "reply %d" % i)
            self.assertGreater(size, 256 * 1024, "not enough to pause the client")
            self.assertRegex(c.read_line(timeout=20), rb"^AT \S+ \S+ after ")

    def test_fewer_results_than_bound(self):
        self.standin.control("count=2")
        _, doc = self.whatsat(bound=10)
        self.assertEqual(doc["status"], "OK", doc)
        self.assertEqual(len(doc["results"]), 2)

    def test_request_carries_location_radius_and_key(self):
        for radius, metres in ((b"10", 10000), (b"0.5", 500), (b"50", 50000),
                               (b"1.25", 1250)):
            with self.subTest(radius=radius):
                self.whatsat(radius=radius)
                last = self.standin.stats()["last"]
                self.assertIsNotNone(last, "the node asked Places nothing")
                self.assertEqual(last["method"], "GET")
                self.assertEqual(last["path"], herdtest.PlacesStandin.LEGACY_PATH)
                self.assertEqual(last["radius"], metres)
                self.assertAlmostEqual(last["location"]["lat"], 34.068930, places=6)
                self.assertAlmostEqual(last["location"]["lng"], -118.445127, places=6)
                self.assertTrue(last["api_key_valid"], last)

    def test_stored_location_is_used(self):
        self.whatsat(b"mover", location=b"+10+20")
        self.whatsat(b"other", location=b"-5-6")
        with self.node.client(timeout=15) as c:
            c.send(b"WHATSAT mover 1 1\n")
            read_whatsat_reply(c, timeout=15)
        last = self.standin.stats()["last"]
        self.assertIsNotNone(last, "the node asked Places nothing")
        self.assertAlmostEqual(last["location"]["lat"], 10, places=6)
        self.assertAlmostEqual(last["location"]["lng"], 20, places=6)

    def test_google_statuses_pass_through(self):
        for status in ("ZERO_RESULTS", "REQUEST_DENIED", "OVER_QUERY_LIMIT",
                       "INVALID_REQUEST"):
            with self.subTest(status=status):
                self.standin.control("mode=status=" + status)
                _, doc = self.whatsat(b"s-" + status.encode())
                self.assertEqual(doc["status"], status, doc)

    def test_upstream_failures_give_unknown_error(self):
        for mode in ("http500", "truncated", "invalid", "close"):
            with self.subTest(mode=mode):
                self.standin.control("mode=" + mode)
                _, doc = self.whatsat(b"f-" + mode.encode())
                self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
                self.assertTrue(doc["error_message"])

    def test_slow_upstream_times_out(self):
        self.standin.control("mode=slow=%d" % (self.TIMEOUT + 3))
        start = time.monotonic()
        _, doc = self.whatsat(b"slow")
        elapsed = time.monotonic() - start
        self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
        self.assertGreaterEqual(elapsed, self.TIMEOUT * 0.8)
        self.assertLess(elapsed, self.TIMEOUT + 2.5)

    def test_identical_requests_coalesce(self):
        self.standin.control("mode=slow=1")
        clients = [self.node.client(timeout=15) for _ in range(3)]
        try:
            at = clients[0].request(iamat("same", KIWI))
            before = self.standin.stats()["requests"]
            for c in clients:
                c.send(b"WHATSAT same 10 5\n")
            for c in clients:
                doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
                self.assertEqual(doc["status"], "OK", doc)
        finally:
            for c in clients:
                c.close()
        self.assertEqual(self.standin.stats()["requests"] - before, 1)

    def test_api_key_never_logged(self):
        self.whatsat()
        self.assertNotIn(self.KEY, self.node.log())


class TestPlacesNew(StandinTestCase):

    API = "new"

    def test_new_api_answers_in_legacy_shape(self):
        _, doc = self.whatsat(bound=4)
        self.assertEqual(doc["status"], "OK", doc)
        self.assertEqual(len(doc["results"]), 4)
        for place in doc["results"]:
            self.assertIn("geometry", place)
            self.assertIn("name", place)
        last = self.standin.stats()["last"]
        self.assertIsNotNone(last, "the node asked Places nothing")
        self.assertEqual(last["method"], "POST")
        self.assertEqual(last["path"], herdtest.PlacesStandin.NEW_PATH)
        self.assertEqual(last["radius"], 10000)
        self.assertTrue(last["field_mask"])
        self.assertTrue(last["api_key_valid"], last)

    def test_new_api_zero_results(self):
        self.standin.control("count=0")
        _, doc = self.whatsat()
        self.assertIn(doc["status"], ("ZERO_RESULTS", "OK"), doc)
        self.assertEqual(doc["results"], [])


class TestPlacesTls(HerdTestCase):

    def whatsat_status(self, node):
        with node.client(timeout=15) as c:
            at = c.request(iamat("tls", KIWI))
            c.send(b"WHATSAT tls 10 5\n")
            return self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)

    def test_untrusted_ca_is_refused(self):
        standin = self.start_standin(cert="other-server")
        node = self.start_node("Alford", herd_options=standin.herd_options(timeout=3))
        doc = self.whatsat_status(node)
        self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
        self.assertEqual(standin.stats()["requests"], 0)

    def test_wrong_host_name_is_refused(self):
        standin = self.start_standin(cert="wrong-host")
        node = self.start_node("Alford", herd_options=standin.herd_options(timeout=3))
        doc = self.whatsat_status(node)
        self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
        self.assertEqual(standin.stats()["requests"], 0)

    def test_key_file_is_used(self):
        standin = self.start_standin(key_required="from-a-file")
        key_file = os.path.join(self.tmp, "places.key")
        with open(key_file, "w") as f:
            f.write("from-a-file\n")
        options = standin.herd_options(timeout=3)
        options["places_key_file"] = key_file
        node = self.start_node("Alford", herd_options=options)
        doc = self.whatsat_status(node)
        self.assertEqual(doc["status"], "OK", doc)
        self.assertTrue(standin.stats()["last"]["api_key_valid"])
        self.assertNotIn("from-a-file", node.log())


if __name__ == "__main__":
    herdtest.main()
