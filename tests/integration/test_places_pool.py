"""The Places client's connections (README "Places", "Transport"): kept-alive connections
reused from a pool of places_connections, TLS sessions resumed on new ones, a connection
the server closes while idle let go, the one retry of a request that a reused connection
lost before any of its answer came (and none when part of it came), and a host name whose
first addresses refuse reached at the next.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \\
     /usr/bin/python3 tests/integration/test_places_pool.py -v
"""

import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, read_whatsat_reply  # noqa: E402

KEY = "k3y-" + os.urandom(8).hex()


class PoolCase(HerdTestCase):

    def start_node(self, standin, url=None, env=None, **options):
        opts = standin.herd_options("legacy", 5)
        if url is not None:
            opts["places_url"] = url
        opts.update(dict((k, str(v)) for k, v in options.items()))
        herd = self.make_herd(["Alford"], herd_options=opts)
        node = herd["Alford"]
        node.env = dict({"HERD_PLACES_KEY": KEY}, **(env or {}))
        herd.start("Alford")
        return node

    def ask(self, node, n, timeout=15):
        """IAMAT for a client at a location of its own, then WHATSAT: its JSON."""
        client_id = b"pool%04d" % n
        location = b"+34.%06d-118.445127" % (n * 37 % 1000000)
        with node.client(timeout=timeout) as c:
            at = c.request(iamat(client_id, location))
            c.send(b"WHATSAT %s 10 5\n" % client_id)
            raw = read_whatsat_reply(c, timeout=timeout)
        self.assertTrue(raw.startswith(at + b"\n"), raw[:200])
        return json.loads(raw[len(at) + 1:].decode())

    def places(self, node):
        return node.stats()["places"]

    def wait_logged(self, node, *words, timeout=5):
        """Waits for a line of NODE's log with every one of WORDS; fails without one."""
        line = node.wait_log(lambda line: all(w in line for w in words), timeout=timeout)
        self.assertIsNotNone(line, "no log line with %r" % (words,))


class TestReuse(PoolCase):

    def test_sequential_searches_share_one_connection(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin)
        for n in range(20):
            self.assertEqual(self.ask(node, n)["status"], "OK")
        got = standin.stats()
        self.assertEqual(got["requests"], 20)
        self.assertEqual(got["connections"], 1)
        self.assertEqual(got["handshakes"], {"full": 1, "resumed": 0})
        p = self.places(node)
        self.assertEqual(p["connections_opened"], 1)
        self.assertEqual(p["requests_reused"], 19)
        self.assertEqual(p["handshakes_full"], 1)
        self.assertEqual(p["connections"], 1)

    def test_concurrent_searches_use_at_most_places_connections(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin, places_connections=3)
        standin.control("mode=slow=1")
        clients = []
        for n in range(12):
            c = node.client(timeout=15)
            self.addCleanup(c.close)
            client_id = b"conc%02d" % n
            c.request(iamat(client_id, b"+34.%06d-118.445127" % (n * 101)))
            c.send(b"WHATSAT %s 10 5\n" % client_id)
            clients.append(c)
        for c in clients:
            raw = read_whatsat_reply(c, timeout=15)
            self.assertEqual(json.loads(raw.split(b"\n", 1)[1])["status"], "OK")
        got = standin.stats()
        self.assertEqual(got["requests"], 12)
        self.assertLessEqual(got["connections"], 3)
        self.assertLessEqual(self.places(node)["connections_opened"], 3)

    def test_new_connection_resumes_the_tls_session(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin, places_idle_timeout=1)
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        self.wait_logged(node, "event=places_connection_close", "places_idle_timeout")
        self.assertEqual(self.ask(node, 2)["status"], "OK")
        got = standin.stats()
        self.assertEqual(got["connections"], 2)
        self.assertEqual(got["handshakes"], {"full": 1, "resumed": 1})
        p = self.places(node)
        self.assertEqual((p["handshakes_full"], p["handshakes_resumed"]), (1, 1))


    def test_queued_search_takes_the_slot_an_abandoned_one_frees(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin, places_connections=1)
        # 3 s an answer: one after the other, the second would pass its 5 s deadline.
        standin.control("mode=slow=3")
        first, second = node.client(timeout=15), node.client(timeout=15)
        self.addCleanup(second.close)
        for c, client_id in ((first, b"gone"), (second, b"stays")):
            c.request(iamat(client_id, b"+34.%06d-118.445127" % len(client_id)))
            c.send(b"WHATSAT %s 10 5\n" % client_id)
        self.wait_logged(node, "event=places_request id=2 ")
        # The first client goes (a reset: a plain close reads as a half-close, which is
        # still answered): its call is dropped, and the queued one takes the slot.
        first.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        first.close()
        self.wait_logged(node, "event=places_abandoned id=1 ")
        # Answered, not left queued until its deadline (UNKNOWN_ERROR after 5 s).
        raw = read_whatsat_reply(second, timeout=15)
        self.assertEqual(json.loads(raw.split(b"\n", 1)[1])["status"], "OK")
        # Every call sent is answered (latency counted, errors among them) or abandoned.
        stats = node.stats()["places"]
        self.assertEqual(stats["abandoned"], 1)
        self.assertEqual(stats["requests"], stats["latency"]["count"] + stats["abandoned"])

    def test_idle_connection_is_kept_for_places_idle_timeout(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin, places_timeout=2, places_idle_timeout=10)
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        # Longer than places_timeout + 1: evhttp's own timeout must not close it.
        time.sleep(4)
        self.assertEqual(self.places(node)["connections"], 1)
        self.assertEqual(self.ask(node, 2)["status"], "OK")
        self.assertEqual(self.places(node)["connections_opened"], 1)


class TestTurns(PoolCase):

    def test_a_client_that_pipelines_searches_does_not_keep_the_others_waiting(self):
        # One connection, one Places connection, searches that take 1 s: eight pipelined
        # WHATSATs queued first kept a later one from another client waiting past
        # places_timeout (5 s), first come, first served.
        standin = self.start_standin()
        standin.control("mode=slow=1")
        node = self.start_node(standin, places_connections=1)
        node.request(iamat(b"greedy", b"+34.068930-118.445127"))
        node.request(iamat(b"other", b"+34.168930-118.445127"))
        with node.client(timeout=20) as greedy, node.client(timeout=20) as other:
            calls = standin.stats()["requests"]
            greedy.send(b"".join(b"WHATSAT greedy %d 5\n" % km for km in range(1, 9)))
            # The first is at the stand-in, the other seven queued behind it.
            herdtest.wait_until(lambda: standin.stats()["requests"] > calls, timeout=5)
            time.sleep(0.2)
            started = time.monotonic()
            other.send(b"WHATSAT other 10 5\n")
            raw = read_whatsat_reply(other, timeout=20)
            took = time.monotonic() - started
            answer = json.loads(raw.split(b"\n", 1)[1].decode())
            self.assertEqual(answer["status"], "OK", answer)
            self.assertLess(took, 3.5)
            for _ in range(8):
                read_whatsat_reply(greedy, timeout=20)

    def test_searches_refused_at_places_max_requests_are_counted(self):
        standin = self.start_standin()
        standin.control("mode=slow=1")
        node = self.start_node(standin, places_max_requests=1, places_connections=1)
        node.request(iamat(b"many", b"+34.068930-118.445127"))
        with node.client(timeout=20) as c:
            # The third is the second's twin: refused too, not counted as sharing a call.
            c.send(b"WHATSAT many 1 5\nWHATSAT many 2 5\nWHATSAT many 2 5\n")
            read_whatsat_reply(c, timeout=20)
            second = read_whatsat_reply(c, timeout=20)
            third = read_whatsat_reply(c, timeout=20)
        self.assertIn(b"too many Places requests in flight", second)
        self.assertIn(b"too many Places requests in flight", third)
        stats = node.stats()
        self.assertEqual(stats["limits"]["places_refused"], 2)
        self.assertEqual(stats["places"]["coalesced"], 0)


class TestServerCloses(PoolCase):

    def test_connection_the_server_closes_while_idle_is_let_go(self):
        standin = self.start_standin(key_required=KEY, idle_timeout=1)
        node = self.start_node(standin)
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        self.wait_logged(node, "event=places_connection_close", "closed by Places")
        self.assertEqual(self.places(node)["connections"], 0)
        self.assertEqual(self.ask(node, 2)["status"], "OK")
        p = self.places(node)
        self.assertEqual(p["connections_opened"], 2)
        self.assertEqual(p["retries"], 0)

    def test_reused_connection_lost_before_the_answer_is_retried_once(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin)
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        # The kept connection is closed under the next request: it goes again, fresh.
        standin.control("close_next=1")
        self.assertEqual(self.ask(node, 2)["status"], "OK")
        self.assertEqual(standin.stats()["requests"], 1 + 2)
        self.assertEqual(self.places(node)["retries"], 1)
        # Lost again on the fresh one: no second retry, the search fails.
        standin.control("close_next=2")
        self.assertEqual(self.ask(node, 3)["status"], "UNKNOWN_ERROR")
        self.assertEqual(standin.stats()["requests"], 3 + 2)
        self.assertEqual(self.places(node)["retries"], 2)

    def test_request_whose_answer_began_is_not_retried(self):
        standin = self.start_standin(key_required=KEY)
        node = self.start_node(standin)
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        standin.control("mode=truncated")
        self.assertEqual(self.ask(node, 2)["status"], "UNKNOWN_ERROR")
        self.assertEqual(standin.stats()["requests"], 2)
        self.assertEqual(self.places(node)["retries"], 0)


class TestAddresses(PoolCase):

    def node_for_name(self, addresses):
        """A node whose places_url names places.test, which HERD_HOSTS_FILE gives
        ADDRESSES in that order; the stand-in listens on 127.0.0.1 only."""
        standin = self.start_standin(key_required=KEY)
        hosts = os.path.join(self.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("".join("%s places.test\n" % a for a in addresses))
        url = "https://places.test:%d%s" % (standin.port, standin.LEGACY_PATH)
        return self.start_node(standin, url=url, env={"HERD_HOSTS_FILE": hosts})

    def test_name_whose_first_addresses_refuse_is_reached_at_the_next(self):
        # Nothing listens on the stand-in's port at the first two.
        node = self.node_for_name(["::1", "127.0.0.2", "127.0.0.1"])
        self.assertEqual(self.ask(node, 1)["status"], "OK")
        p = self.places(node)
        self.assertEqual(p["connect_failovers"], 2)
        self.assertEqual(p["connections_opened"], 3)
        log = node.log()
        self.assertIn("event=places_resolved host=\"places.test\" addresses=3 first=::1", log)
        self.assertIn("event=places_connect_next", log)
        # Kept: the next search goes straight to the address that answered.
        self.assertEqual(self.ask(node, 2)["status"], "OK")
        self.assertEqual(self.places(node)["connections_opened"], 3)

    def test_every_address_refusing_fails_with_the_count(self):
        node = self.node_for_name(["127.0.0.2", "127.0.0.3"])
        answer = self.ask(node, 1)
        self.assertEqual(answer["status"], "UNKNOWN_ERROR")
        self.assertIn("2 addresses tried", answer["error_message"])

    def test_unreadable_hosts_file_stops_the_node(self):
        # A configuration that starts, so that the hosts file is what stops it.
        herd = self.make_herd(["Alford"])
        nope = os.path.join(self.tmp, "no-such-hosts")
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford"],
                               env={"HERD_HOSTS_FILE": nope})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("what=HERD_HOSTS_FILE", r.stderr)
        self.assertIn("no-such-hosts", r.stderr)


if __name__ == "__main__":
    herdtest.main()
