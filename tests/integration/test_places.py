"""WHATSAT against a Places that hangs (SPEC sections 3 and 5): the loop never blocks,
replies keep their order, places_timeout is honoured, identical requests share one call.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_places.py -v
"""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import ClientTestCase, iamat, read_whatsat_reply, scaled  # noqa: E402


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



if __name__ == "__main__":
    herdtest.main()
