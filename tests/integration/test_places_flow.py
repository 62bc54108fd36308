"""WHATSAT from end to end against tests/standin's places-standin (SPEC sections 3 and 5):
every node of the default herd, both Places APIs, every failure the stand-in simulates,
coalescing of identical searches, and where the API key goes (and does not).

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \
     /usr/bin/python3 tests/integration/test_places_flow.py -v
"""

import json
import math
import os
import socket
import ssl
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import (DEFAULT_NODES, DEFAULT_PEERS, HerdTestCase, iamat,  # noqa: E402
                      read_whatsat_reply, scaled)

KIWI = b"+34.068930-118.445127"
KIWI_LAT, KIWI_LNG = 34.068930, -118.445127
FAULTS = ("http500", "truncated", "invalid", "close")
STATUSES = ("ZERO_RESULTS", "REQUEST_DENIED", "OVER_QUERY_LIMIT", "INVALID_REQUEST")


def distance_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


class PlacesFlowCase(HerdTestCase):
    """A stand-in that insists on one distinctive key, and helpers to ask nodes."""

    API = "legacy"
    TIMEOUT = 2
    KEY = "k3y-" + os.urandom(8).hex()

    def setUp(self):
        self.standin = self.start_standin(key_required=self.KEY)

    def start_herd(self, names=("Alford",), peers=None, options=None, key=None, api=None):
        """A herd pointed at the stand-in, started; KEY None means self.KEY."""
        opts = self.standin.herd_options(api or self.API, self.TIMEOUT)
        opts.update(options or {})
        herd = self.make_herd(list(names), peers=peers, herd_options=opts)
        for node in herd:
            node.env = {"HERD_PLACES_KEY": self.KEY if key is None else key}
        herd.start(*names)
        return herd

    def whatsat(self, client, client_id, at, radius=b"10", bound=5, timeout=15):
        """Sends WHATSAT on CLIENT; returns (parsed JSON, seconds it took)."""
        start = time.monotonic()
        client.send(b"WHATSAT %s %s %d\n" % (client_id, radius, bound))
        doc = self.assertWhatsatReply(read_whatsat_reply(client, timeout=timeout), at, bound)
        return doc, time.monotonic() - start

    def ask(self, node, client_id=b"kiwi", radius=b"10", bound=5, location=KIWI):
        """IAMAT then WHATSAT on a fresh connection: (AT line, JSON, seconds)."""
        with node.client(timeout=15) as c:
            at = c.request(iamat(client_id, location))
            doc, seconds = self.whatsat(c, client_id, at, radius, bound)
            return at, doc, seconds

    def requests(self):
        return self.standin.stats()["requests"]

    def assertNearby(self, doc, radius_m):
        """Every result lies within RADIUS_M of the kiwi location."""
        for place in doc["results"]:
            loc = place["geometry"]["location"]
            self.assertLessEqual(distance_m(KIWI_LAT, KIWI_LNG, loc["lat"], loc["lng"]),
                                 radius_m * 1.001 + 1, place)


class TestEveryNode(PlacesFlowCase):
    """The default herd: a client seen at one node is answered by all five."""

    def wait_known(self, node, client_id, timeout=15):
        """Waits until NODE knows CLIENT_ID (flooded): its WHATSAT is not rejected."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            with node.client(timeout=15) as c:
                c.send(b"WHATSAT %s 1 1\n" % client_id)
                first = c.read_line(timeout=15)
                if not first.startswith(b"? "):
                    c.read_until(b"\n\n", timeout=15)
                    return
            if time.monotonic() > deadline:
                self.fail("%s never learned %r" % (node.name, client_id))
            time.sleep(0.1)

    def check_every_node(self, api):
        herd = self.start_herd(DEFAULT_NODES, peers=DEFAULT_PEERS, api=api)
        at = herd["Hamilton"].request(iamat(b"roamer", KIWI))
        for name, bound in zip(DEFAULT_NODES, (1, 20, 1, 20, 7)):
            with self.subTest(api=api, node=name, bound=bound):
                node = herd[name]
                self.wait_known(node, b"roamer")
                with node.client(timeout=15) as c:
                    doc, _ = self.whatsat(c, b"roamer", at, radius=b"2.5", bound=bound)
                self.assertEqual(doc["status"], "OK", doc)
                self.assertEqual(len(doc["results"]), bound)
                self.assertNearby(doc, 2500)
                for place in doc["results"]:
                    for key in ("name", "vicinity", "place_id", "types", "rating",
                                "user_ratings_total", "business_status"):
                        self.assertIn(key, place)
                last = self.standin.stats()["last"]
                self.assertEqual(last["radius"], 2500)
                self.assertAlmostEqual(last["location"]["lat"], KIWI_LAT, places=6)
                self.assertAlmostEqual(last["location"]["lng"], KIWI_LNG, places=6)
                if api == "new":
                    self.assertEqual(last["maxResultCount"], bound)

    def test_legacy_at_every_node(self):
        self.check_every_node("legacy")

    def test_new_at_every_node(self):
        self.check_every_node("new")


class TestRequestShape(PlacesFlowCase):
    """What the stand-in is asked: radius km * 1000, the bound as maxResultCount."""

    def check_radius_and_bound(self, api):
        herd = self.start_herd(api=api)
        for radius, metres, bound in ((b"0.001", 1, 1), (b"49.9999", 49999.9, 20),
                                      (b"050", 50000, 20), (b"7.25", 7250, 1)):
            with self.subTest(api=api, radius=radius, bound=bound):
                _, doc, _ = self.ask(herd["Alford"], b"r" + radius, radius, bound)
                self.assertEqual(doc["status"], "OK", doc)
                self.assertEqual(len(doc["results"]), bound)
                self.assertNearby(doc, metres)
                last = self.standin.stats()["last"]
                self.assertEqual(last["radius"], metres)
                self.assertTrue(last["api_key_valid"], last)
                if api == "new":
                    self.assertEqual(last["method"], "POST")
                    self.assertEqual(last["maxResultCount"], bound)
                else:
                    self.assertEqual(last["method"], "GET")

    def test_legacy(self):
        self.check_radius_and_bound("legacy")

    def test_new(self):
        self.check_radius_and_bound("new")

    def test_host_name_resolved_with_evdns(self):
        url = self.standin.url("legacy").replace("127.0.0.1", "localhost")
        herd = self.start_herd(options={"places_url": url})
        _, doc, _ = self.ask(herd["Alford"])
        self.assertEqual(doc["status"], "OK", doc)
        self.assertEqual(len(doc["results"]), 5)


class TestFailures(PlacesFlowCase):
    """Every simulated failure, with both APIs: UNKNOWN_ERROR (or Google's own status)
    within places_timeout + 1 s, and the node goes on serving."""

    def check_failures(self, api):
        node = self.start_herd(api=api)["Alford"]
        limit = scaled(self.TIMEOUT + 1)
        faults = FAULTS + ("slow=%d" % (self.TIMEOUT + 3),)
        for fault in faults:
            with self.subTest(api=api, fault=fault):
                self.standin.control("mode=" + fault)
                _, doc, seconds = self.ask(node, b"f-" + fault.encode())
                self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
                self.assertTrue(doc["error_message"], doc)
                self.assertNotIn(self.KEY, doc["error_message"])
                self.assertLess(seconds, limit, "%s took %.2f s" % (fault, seconds))
                self.assertAtLine(node.request(iamat(b"alive")), client_id="alive")
        for status in STATUSES:
            with self.subTest(api=api, status=status):
                self.standin.control("mode=status=" + status)
                _, doc, seconds = self.ask(node, b"s-" + status.encode())
                self.assertEqual(doc["status"], status, doc)
                self.assertEqual(doc["results"], [])
                if status != "ZERO_RESULTS":
                    self.assertTrue(doc.get("error_message"), doc)
                self.assertLess(seconds, limit)
        self.standin.control("")
        _, doc, _ = self.ask(node, b"recovered")
        self.assertEqual(doc["status"], "OK", doc)
        self.assertTrue(node.running())

    def test_legacy(self):
        self.check_failures("legacy")

    def test_new(self):
        self.check_failures("new")

    def test_failure_messages_say_what_went_wrong(self):
        node = self.start_herd()["Alford"]
        for fault, words in (("http500", "HTTP 500"), ("invalid", "not valid JSON"),
                             ("truncated", "not valid JSON"),
                             ("slow=%d" % (self.TIMEOUT + 3), "within %d s" % self.TIMEOUT)):
            with self.subTest(fault=fault):
                self.standin.control("mode=" + fault)
                _, doc, _ = self.ask(node, b"m-" + fault.encode())
                self.assertIn(words, doc["error_message"])


class TestRefusals(HerdTestCase):
    """Upstreams the node must not trust or cannot reach: refused before any request, with
    an error_message that says why."""

    def ask_message(self, url, ca_file):
        node = self.start_node("Alford", herd_options={
            "places_url": url, "places_ca_file": ca_file, "places_timeout": 3})
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"refused", KIWI))
            c.send(b"WHATSAT refused 10 5\n")
            doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
        self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
        self.assertAtLine(node.request(iamat(b"still-serving")), client_id="still-serving")
        return doc["error_message"]

    def test_certificate_from_another_ca(self):
        standin = self.start_standin(cert="other-server")
        message = self.ask_message(standin.url(), standin.ca_file)
        self.assertIn("certificate verify failed", message)
        self.assertEqual(standin.stats()["requests"], 0)

    def test_wrong_host_name(self):
        standin = self.start_standin(cert="wrong-host")
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                message = self.ask_message(standin.url().replace("127.0.0.1", host),
                                           standin.ca_file)
                self.assertIn("certificate verify failed", message)
                self.assertIn("mismatch", message)
        self.assertEqual(standin.stats()["requests"], 0)

    def test_nothing_listening(self):
        standin = self.start_standin()
        port = herdtest.free_port()
        message = self.ask_message("https://127.0.0.1:%d/x" % port, standin.ca_file)
        self.assertIn("cannot connect to 127.0.0.1:%d" % port, message)


class CloseDelimitedPlaces:
    """A one-shot HTTPS Places on the stand-in's certificate that ends its answer by closing
    the connection, with no Content-Length and no TLS close_notify (as some servers do)."""

    BODY = json.dumps({"html_attributions": [], "status": "OK", "results": [
        {"name": "Place %d" % i, "place_id": "id%d" % i,
         "geometry": {"location": {"lat": KIWI_LAT, "lng": KIWI_LNG}}} for i in range(8)]},
        indent=3).encode()

    def __init__(self, certs):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(os.path.join(certs, "server.pem"),
                                     os.path.join(certs, "server.key"))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            raw, _ = self.sock.accept()
            raw.settimeout(scaled(10))
            conn = self.context.wrap_socket(raw, server_side=True)
            while b"\r\n\r\n" not in self.request:
                data = conn.recv(4096)
                if not data:
                    return
                self.request += data
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\n\r\n" + self.BODY)
            # Close the socket under TLS: no close_notify goes out.
            raw.close()
        except OSError:
            pass

    def close(self):
        self.sock.close()


class TestDirtyShutdown(HerdTestCase):

    def test_answer_ended_by_a_bare_close(self):
        standin = self.start_standin()
        places = CloseDelimitedPlaces(standin.certs)
        self.addCleanup(places.close)
        node = self.start_node("Alford", herd_options={
            "places_url": "https://localhost:%d/maps/api/place/nearbysearch/json"
                          % places.port,
            "places_ca_file": standin.ca_file, "places_timeout": 5})
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"dirty", KIWI))
            c.send(b"WHATSAT dirty 10 3\n")
            doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 3)
        self.assertEqual(doc["status"], "OK", doc)
        self.assertEqual([r["name"] for r in doc["results"]], ["Place 0", "Place 1", "Place 2"])
        self.assertIn(b"\r\nHost: localhost:%d\r\n" % places.port, places.request)


class TestCoalescing(PlacesFlowCase):
    """Identical searches in flight at once make one upstream call."""

    def send_all(self, node, client_id, bounds):
        """Sends one WHATSAT per bound, each on its own connection, before reading any."""
        clients = [node.client(timeout=15) for _ in bounds]
        self.addCleanup(lambda: [c.close() for c in clients])
        at = clients[0].request(iamat(client_id, KIWI))
        for c, bound in zip(clients, bounds):
            c.send(b"WHATSAT %s 10 %d\n" % (client_id, bound))
        docs = []
        for c, bound in zip(clients, bounds):
            docs.append(self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, bound))
        return docs

    def test_many_identical_whatsats_one_request(self):
        node = self.start_herd()["Alford"]
        self.standin.control("mode=slow=1")
        before = self.requests()
        docs = self.send_all(node, b"same", [5] * 8)
        self.assertEqual(self.requests() - before, 1)
        for doc in docs:
            self.assertEqual(doc["status"], "OK", doc)
            self.assertEqual(len(doc["results"]), 5)
        self.assertEqual(docs[0], docs[-1])
        # The node counts the same: one upstream call, seven searches that joined it.
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % node.admin_port,
                                    timeout=scaled(5)) as r:
            places = json.loads(r.read().decode("utf-8"))["places"]
        self.assertEqual((places["requests"], places["coalesced"], places["errors"]),
                         (1, 7, 0))

    def test_legacy_bounds_share_one_request(self):
        node = self.start_herd()["Alford"]
        self.standin.control("mode=slow=1")
        before = self.requests()
        docs = self.send_all(node, b"bounds", [2, 7, 20])
        self.assertEqual(self.requests() - before, 1)
        self.assertEqual([len(d["results"]) for d in docs], [2, 7, 20])
        self.assertEqual(docs[0]["results"], docs[2]["results"][:2])

    def test_new_api_bound_is_part_of_the_request(self):
        node = self.start_herd(api="new")["Alford"]
        self.standin.control("mode=slow=1")
        before = self.requests()
        docs = self.send_all(node, b"newb", [2, 7, 2, 7])
        self.assertEqual(self.requests() - before, 2)
        self.assertEqual([len(d["results"]) for d in docs], [2, 7, 2, 7])

    def test_pipelined_replies_keep_command_order(self):
        node = self.start_herd()["Alford"]
        self.standin.control("mode=slow=1")
        before = self.requests()
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"pipe", KIWI))
            c.send(b"WHATSAT pipe 10 3\nWHATSAT pipe 10 9\n" + iamat(b"after") + b"\n")
            first = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 3)
            second = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 9)
            self.assertAtLine(c.read_line(timeout=15), client_id="after")
        self.assertEqual((len(first["results"]), len(second["results"])), (3, 9))
        self.assertEqual(self.requests() - before, 1)

    def test_later_search_is_not_served_a_finished_answer(self):
        node = self.start_herd()["Alford"]
        before = self.requests()
        self.ask(node, b"again")
        self.ask(node, b"again")
        self.assertEqual(self.requests() - before, 2)


class TestKey(PlacesFlowCase):
    """The key reaches the Places host and nowhere else: not the log, not a reply."""

    def test_key_sent_but_never_logged(self):
        for api in ("legacy", "new"):
            with self.subTest(api=api):
                node = self.start_herd(api=api)["Alford"]
                for fault in ("", "mode=http500", "mode=invalid", "mode=status=REQUEST_DENIED"):
                    self.standin.control(fault)
                    _, doc, _ = self.ask(node, b"k-" + api.encode())
                    self.assertNotIn(self.KEY.encode(), repr(doc).encode())
                self.assertTrue(self.standin.stats()["last"]["api_key_valid"])
                node.stop()
                self.assertIn(b"event=places_request", node.log_bytes())
                self.assertNotIn(self.KEY.encode(), node.log_bytes())
                self.assertNotIn(self.KEY, node.stderr_text())
                self.standin.control("")

    def test_missing_key_answers_without_asking(self):
        node = self.start_herd(key="")["Alford"]
        before = self.requests()
        _, doc, _ = self.ask(node)
        self.assertEqual(doc["status"], "UNKNOWN_ERROR", doc)
        self.assertIn("no Places API key", doc["error_message"])
        self.assertEqual(self.requests(), before)
        self.assertIsNotNone(node.wait_log(lambda line: "event=places_no_key" in line))

    def test_unreadable_key_file_stops_the_node(self):
        options = self.standin.herd_options(self.API, self.TIMEOUT)
        options["places_key_file"] = os.path.join(self.tmp, "missing.key")
        herd = self.make_herd(["Alford"], herd_options=options)
        node = herd["Alford"]
        node.start(wait=False)
        self.assertNotEqual(node.wait(timeout=10), 0)
        self.assertIn("places_key_file", node.log() + node.stderr_text())


if __name__ == "__main__":
    herdtest.main()
