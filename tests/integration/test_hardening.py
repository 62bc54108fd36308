"""Hardening (README "Limits"): hostile input, faults and load never crash a node, spin it,
bloat its log or memory, or cut it off the herd. One class per attack; each test failed
against the node before the fix it checks.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \
     /usr/bin/python3 tests/integration/test_hardening.py -v
"""

import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, format_time, iamat, now_ns, read_whatsat_reply  # noqa: E402
from herdpeer import LOCATION, NS, FakePeer, HerdCase, herd_secret, known_line  # noqa: E402

# Valid per SPEC section 3: any number of leading zeros.
ZEROS = b"0" * 70
LONG_LOCATION = b"+" + ZEROS + b"34.5-" + ZEROS + b"118.25"


class TestCoordinatesOfAnyLength(HerdTestCase):
    """A valid location of any length reaches Places as the number it means."""

    def ask(self, api):
        standin = self.start_standin(key_required="herd-test-key")
        node = self.start_node("Alford", herd_options=standin.herd_options(api, 3))
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"zeros", LONG_LOCATION))
            self.assertAtLine(at, client_id=b"zeros", location=LONG_LOCATION)
            c.send(b"WHATSAT zeros 10 5\n")
            doc = self.assertWhatsatReply(read_whatsat_reply(c, timeout=15), at, 5)
        self.assertEqual(doc["status"], "OK", doc)
        last = standin.stats()["last"]
        self.assertIsNotNone(last, "the node asked Places nothing")
        self.assertEqual(last["location"], {"lat": 34.5, "lng": -118.25})
        return last

    def test_legacy_query_has_the_normalised_location(self):
        last = self.ask("legacy")
        self.assertIn("location=34.5,-118.25&", last["query"])

    def test_new_api_body_has_the_normalised_location(self):
        self.ask("new")



class FakeNeighbourCase(HerdCase):
    """Alford and Hamilton run, linked through Parker, played by an authenticated fake."""

    OPTIONS = None

    def setUp(self):
        self.herd = self.make_herd(["Alford", "Hamilton", "Parker"],
                                   peers={"Parker": ("Alford", "Hamilton")},
                                   herd_options=self.OPTIONS)
        self.alford = self.start_for_fakes(self.herd, "Alford")
        self.parker = FakePeer.connect(self.alford.peer_port, "Parker", herd_secret(self.herd))
        self.addCleanup(self.parker.close)
        self.assertTrue(self.parker.handshake())
        self.parker.read_sync()

    def client(self, client_id):
        """Alford's record for CLIENT_ID from the admin endpoint, or None."""
        status, doc = self.alford.admin("/clients/" + urllib.parse.quote(client_id, safe=""))
        return doc if status == 200 else None

    def assertDropped(self, line, client_id, reason):
        """LINE from Parker is logged as refused for REASON and never stored."""
        self.parker.send_line(line)
        self.wait_log(self.alford, r"event=peer_bad_record .*reason=\"%s" % reason)
        # A record sent after it arrives, so the refused one was handled by then.
        marker = b"AT Parker +0.000000001 marker%d " % time.monotonic_ns() + LOCATION + b" 1"
        self.parker.send_line(marker)
        self.wait_for("the marker", lambda: known_line(self.alford, marker.split()[3]))
        self.assertIsNone(self.client(client_id), "%r was stored" % line)


class TestFutureTimes(FakeNeighbourCase):
    """max_clock_skew: a client time far ahead cannot pin an ID herd-wide."""

    OPTIONS = {"max_clock_skew": 60}

    def test_client_time_too_far_ahead_is_refused(self):
        with self.alford.client() as c:
            far = iamat(b"kiwi", client_time=b"999999999999999999")
            c.send_line(far)
            self.assertEqual(c.read_line(), b"? " + far)
            ahead = iamat(b"kiwi", client_time=format_time(now_ns() + 120 * NS))
            c.send_line(ahead)
            self.assertEqual(c.read_line(), b"? " + ahead)
            near = iamat(b"kiwi", client_time=format_time(now_ns() + 30 * NS))
            self.assertAtLine(c.request(near), client_id=b"kiwi")
            # A real report an hour later still wins over the one 30 s ahead.
            later = iamat(b"kiwi", client_time=format_time(now_ns() + 31 * NS))
            reply = c.request(later)
        self.assertEqual(self.client("kiwi")["at"], reply.decode())
        self.assertEqual(self.alford.stats()["commands"]["invalid"], 2)

    def test_future_record_from_a_peer_is_dropped_and_logged(self):
        line = b"AT Parker -999999998000000000.000000000 kiwi " + LOCATION + \
            b" 999999999999999999"
        self.assertDropped(line, "kiwi", "client time is more than max_clock_skew ahead")
        self.assertEqual(self.alford.stats()["limits"]["peer_records_refused"], 1)


class TestMalformedPeerRecords(FakeNeighbourCase):
    """A peer record is stored and passed on only as proto_at_format writes it, by a node."""

    CASES = {
        "unknown server": (b"AT Nowhere +0.000000001 bad1 " + LOCATION + b" 1700000000",
                           "written by a node that is not in the configuration"),
        "non-UTF-8 server": (b"AT \xff\xfe +0.000000001 bad2 " + LOCATION + b" 1700000000",
                             "written by a node that is not in the configuration"),
        "tab": (b"AT Parker\t+0.000000001 bad3 " + LOCATION + b" 1700000000",
                "not a well-formed AT line"),
        "vertical tab": (b"AT Parker +0.000000001 bad4\x0b" + LOCATION + b" 1700000000",
                         "not a well-formed AT line"),
        "form feed": (b"AT Parker +0.000000001\x0cbad5 " + LOCATION + b" 1700000000",
                      "not a well-formed AT line"),
        "carriage return": (b"AT Parker +0.000000001 bad6 " + LOCATION + b" 1700000000\r",
                            "not a well-formed AT line"),
        "two spaces": (b"AT Parker  +0.000000001 bad7 " + LOCATION + b" 1700000000",
                       "not a well-formed AT line"),
    }

    def test_each_is_dropped_logged_and_not_flooded(self):
        hamilton = self.herd.start("Hamilton")
        hamilton_side = FakePeer.connect(hamilton.peer_port, "Parker", herd_secret(self.herd))
        self.addCleanup(hamilton_side.close)
        self.assertTrue(hamilton_side.handshake())
        hamilton_side.read_sync()
        for what, (line, reason) in self.CASES.items():
            with self.subTest(what):
                client_id = line.split(b"+0.000000001")[1].split()[0].decode("latin-1")
                if what == "form feed":
                    client_id = "bad5"
                self.assertDropped(line, client_id, reason)
        self.assertEqual(self.alford.stats()["limits"]["peer_records_refused"], len(self.CASES))
        # Nothing reached Hamilton through Alford: Alford floods to Parker only, and the
        # only records Parker's fake link saw from Alford are none of these.
        self.assertIsNone(known_line(hamilton, "bad1"))


class TestTableLimit(HerdCase):
    """max_clients: new IDs past the cap get "? ", known ones still move, peers too."""

    def test_new_ids_refused_at_the_cap(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"max_clients": 5})
        herd.start()
        self.wait_linked(herd)
        alford, parker = herd["Alford"], herd["Parker"]
        with alford.client() as c:
            for i in range(5):
                self.assertAtLine(c.request(iamat(b"c%d" % i)), client_id=b"c%d" % i)
            refused = iamat(b"c5")
            c.send_line(refused)
            self.assertEqual(c.read_line(), b"? " + refused)
            moved = c.request(iamat(b"c0", b"+1+1"))
            self.assertAtLine(moved, client_id=b"c0", location=b"+1+1")
        self.wait_for("Parker to hold the move", lambda: known_line(parker, "c0") == moved)
        self.assertIsNone(known_line(parker, "c5"))
        stats = alford.stats()
        self.assertEqual(stats["clients"], 5)
        self.assertEqual(stats["limits"]["clients_refused"], 1)
        self.wait_log(alford, r"event=client_refused .*max_clients \(5\)")



class TestRecordAsLongAsMaxLine(HerdCase):
    """One record of max_line bytes syncs and floods without dropping the link."""

    MAX_LINE = 1048576

    def big_iamat(self, client_time):
        head = b"IAMAT big +34."
        tail = b"-118.25 " + client_time.encode()
        return head + b"1" * (self.MAX_LINE - len(head) - len(tail)) + tail

    def test_sync_and_flood_of_a_one_mebibyte_record(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"max_line": self.MAX_LINE})
        alford = herd.start("Alford")
        line = self.big_iamat(format_time(now_ns()))
        self.assertEqual(len(line), self.MAX_LINE)
        with alford.client(timeout=20) as c:
            reply = c.request(line, timeout=20)
        self.assertAtLine(reply, client_id=b"big")
        parker = herd.start("Parker")
        self.wait_linked(herd)
        self.wait_for("Parker to hold the record by sync",
                      lambda: (parker.admin("/clients/big", timeout=20)[1] or {}).get("at")
                      == reply.decode(), timeout=20)
        newer = self.big_iamat(format_time(now_ns()))
        with alford.client(timeout=20) as c:
            reply = c.request(newer, timeout=20)
        self.wait_for("Parker to hold the flooded record",
                      lambda: (parker.admin("/clients/big", timeout=20)[1] or {}).get("at")
                      == reply.decode(), timeout=20)
        for node in (alford, parker):
            self.assertNotIn("event=peer_output_limit", node.log())
            self.assertNotIn("event=peer_down", node.log())


if __name__ == "__main__":
    herdtest.main()
