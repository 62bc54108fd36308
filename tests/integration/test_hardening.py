"""Hardening (README "Limits"): hostile input, faults and load never crash a node, spin it,
bloat its log or memory, or cut it off the herd. One class per attack; each test failed
against the node before the fix it checks.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \
     /usr/bin/python3 tests/integration/test_hardening.py -v
"""

import http.client
import os
import random
import re
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import (AT_LINE_RE, HOST, HerdTestCase, format_time, iamat,  # noqa: E402
                      now_ns, read_whatsat_reply, scaled)
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
    """Alford runs with two neighbours: Parker, played by an authenticated fake, and
    Hamilton, a real node a test may start to see what Alford passes on."""

    OPTIONS = None

    def setUp(self):
        self.herd = self.make_herd(["Alford", "Hamilton", "Parker"],
                                   peers={"Alford": ("Parker", "Hamilton")},
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
        self.wait_log(self.alford, r"event=peer_bad_record .*reason=\"%s\" line=\".*%s" %
                      (reason, re.escape(client_id)))
        # A record sent after it arrives, so the refused one was handled by then.
        marker = b"AT Parker +0.000000001 marker%d " % time.monotonic_ns() + LOCATION + b" 1"
        self.parker.send_line(marker)
        self.last_marker = marker.split()[3]
        self.wait_for("the marker", lambda: known_line(self.alford, self.last_marker))
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
            # A later report (by its own clock, 31 s ahead) still wins.
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
        self.wait_linked(self.herd, ["Alford", "Hamilton"])
        ids = []
        for what, (line, reason) in self.CASES.items():
            with self.subTest(what):
                client_id = line.split(b"+0.000000001")[1].split()[0].decode("latin-1")
                if what == "form feed":
                    client_id = "bad5"
                ids.append(client_id)
                self.assertDropped(line, client_id, reason)
        self.assertEqual(self.alford.stats()["limits"]["peer_records_refused"], len(self.CASES))
        # Alford passes good records on to Hamilton: the last marker arrives, none of these.
        self.wait_for("the markers at Hamilton", lambda: known_line(hamilton, self.last_marker))
        for client_id in ids:
            self.assertIsNone(known_line(hamilton, client_id.encode("latin-1")), client_id)


def rss_kib(pid):
    """Resident memory of PID (VmRSS), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise herdtest.HerdError("no VmRSS for %d" % pid)


class TestWhatsatRepliesNobodyReads(HerdTestCase):
    """WHATSATs pipelined by clients that never read: each connection holds at most its
    256 KiB of unread output and client_max_pending (16) replies, not one per command."""

    def test_memory_per_connection_is_bounded(self):
        if os.environ.get("HERD_SANITIZE", "none") != "none":
            self.skipTest("resident memory under %s is the sanitizer's as much as the node's"
                          % os.environ["HERD_SANITIZE"])
        standin = self.start_standin(key_required="herd-test-key")
        standin.control("mode=slow=1")
        node = self.start_node("Alford", herd_options=standin.herd_options("legacy", 5))
        with node.client(timeout=15) as c:
            at = c.request(iamat(b"kiwi"))
            c.send(b"WHATSAT kiwi 10 20\n")
            reply = read_whatsat_reply(c, timeout=15)
        self.assertTrue(reply.startswith(at))
        self.assertGreater(len(reply), 15000)
        before = rss_kib(node.pid)
        socks = []
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            s.connect((HOST, node.client_port))
            s.setblocking(False)
            try:
                s.send(b"WHATSAT kiwi 10 20\n" * 400)
            except BlockingIOError:
                pass
            socks.append(s)
            self.addCleanup(s.close)
        peak = before
        for _ in range(6):
            time.sleep(scaled(1))
            peak = max(peak, rss_kib(node.pid))
        per_connection = (peak - before) / len(socks)
        # 64 replies each (1.5 MiB) before client_max_pending; 16 now, about 0.8 MiB.
        self.assertLess(per_connection, 1200, "%.0f KiB per connection" % per_connection)


class TestOverlongPeerRecord(FakeNeighbourCase):
    """A record longer than any node writes is refused: its SYNC line would break every
    sync to the next neighbour."""

    def test_record_of_a_whole_peer_line_is_refused(self):
        head = b"AT Parker +0.000000000 longid +"
        tail = b"34.5-118.25 " + format_time(now_ns()).encode()
        line = head + b"0" * (4096 + 512 - len(head) - len(tail)) + tail
        self.assertEqual(len(line), 4608)
        self.assertDropped(line, "longid", "longer than any node writes")
        self.assertTrue(self.parker.is_open())


class TestRecordLongerThanTheLinkTakes(FakeNeighbourCase):
    """A neighbour with a larger max_line (a rolling change) sends a record longer than
    this node's line limit: that record is refused and skipped, the link stays, and what
    follows it arrives. It used to end the link, losing what followed, again on every walk."""

    def record(self, client_id, length):
        head = b"AT Parker +0.000000000 " + client_id.encode() + b" +"
        tail = b"34.5-118.25 " + format_time(now_ns()).encode()
        return head + b"0" * (length - len(head) - len(tail)) + tail

    def test_record_is_skipped_and_the_link_kept(self):
        # Over 4096 + 512: in a write of its own, and cut across writes.
        for n, length in enumerate((4096 + 512 + 1, 20000, 200000)):
            self.assertDropped(self.record("toolong%d" % n, length), "toolong%d" % n,
                               "longer than any node writes")
            self.assertTrue(self.parker.is_open())
        # Many at once, each with an ordinary record behind it.
        lines = []
        for i in range(20):
            lines += [self.record("big%d" % i, 9000), self.record("small%d" % i, 60)]
        self.parker.send_line(b"\n".join(lines))
        self.wait_for("the records behind the long ones",
                      lambda: all(self.client("small%d" % i) for i in range(20)))
        self.assertTrue(all(self.client("big%d" % i) is None for i in range(20)))
        self.assertTrue(self.parker.is_open())
        self.assertNotIn("event=peer_down", self.alford.log())

    def test_a_long_line_that_is_no_record_still_ends_the_link(self):
        self.parker.send_line(b"PING " + b"x" * 10000)
        self.wait_log(self.alford, r"event=peer_down peer=Parker .*line of more than")


class TestRelayedHandshake(HerdCase):
    """Someone without the secret who reaches both peer ports hands each node the other's
    HELLO and AUTH: each MAC was made as the accepting end, so neither verifies."""

    def test_relay_between_two_accepts_is_refused(self):
        # The handshake in the clear (herdpeer's fakes); test_peer_tls.py relays TLS.
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"peer_tls": "off"})
        herd.start()
        self.wait_linked(herd)
        alford, parker = herd["Alford"], herd["Parker"]
        to_alford = FakePeer.connect(alford.peer_port, "relay", b"")
        to_parker = FakePeer.connect(parker.peer_port, "relay", b"")
        for peer in (to_alford, to_parker):
            self.addCleanup(peer.close)
        hello_a, hello_p = to_alford.read_line(), to_parker.read_line()
        to_alford.send_line(hello_p)
        to_parker.send_line(hello_a)
        auth_a, auth_p = to_alford.read_line(), to_parker.read_line()
        for sock, auth in ((to_alford, auth_p), (to_parker, auth_a)):
            if auth is not None:
                sock.send_line(auth)
        for node, sock in ((alford, to_alford), (parker, to_parker)):
            self.assertTrue(sock.closed_by_node(), node.name)
            self.wait_log(node, r'event=peer_reject .*reason="bad MAC')
            self.assertNotIn("event=peer_link_replaced", node.log())
        reply = alford.request(iamat(b"still-linked"))
        self.wait_for("the real link to carry it",
                      lambda: known_line(parker, "still-linked") == reply)


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



class TestSmallestPeerQueue(HerdCase):
    """The smallest peer_output_limit the configuration takes still carries a whole sync."""

    def test_sync_of_many_records_at_the_smallest_limit(self):
        self.assertNotEqual(herdtest.run_herdd(["-t", "-c", self.make_herd(
            ["Alford"], herd_options={"peer_output_limit": 65536}).config_path]).returncode, 0)
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"peer_output_limit": 83968})
        alford = herd.start("Alford")
        lines = [iamat(b"small-queue-%05d" % i) for i in range(2000)]
        with alford.client(timeout=30) as c:
            c.send(b"".join(line + b"\n" for line in lines))
            c.read_lines(len(lines), timeout=30)
        parker = herd.start("Parker")
        self.wait_for("Parker to hold every record",
                      lambda: parker.stats()["clients"] == len(lines), timeout=20)
        self.assertNotIn("event=peer_output_limit", alford.log())


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



class TestPeerWarningsAreRateLimited(FakeNeighbourCase):
    """A neighbour sending junk by the thousand gets a few log lines, not one each."""

    def test_thousand_bad_records_few_warnings(self):
        bad = b"AT Nowhere +0.000000001 junk " + LOCATION + b" 1700000000"
        self.parker.sock.sendall(b"".join(bad + b"\n" for _ in range(1000)))
        self.wait_for("every record refused",
                      lambda: self.alford.stats()["limits"]["peer_records_refused"] == 1000)
        warnings = [line for line in self.alford.log_lines() if "event=peer_bad_record" in line]
        self.assertGreaterEqual(len(warnings), 1)
        self.assertLessEqual(len(warnings), 10)


class TestLogAmplification(HerdTestCase):
    """A long junk line is logged once, cut, with its length: the log grows less than the
    traffic that caused it."""

    def test_long_junk_lines(self):
        node = self.start_node("Alford")
        rng = random.Random(8)
        alphabet = bytes(b for b in range(256) if b != 0x0a)
        lines = [bytes(rng.choice(alphabet) for _ in range(4096)) for _ in range(20)] * 50
        before = len(node.log_bytes())
        with node.client(timeout=30) as c:
            reader = threading.Thread(target=lambda: c.read_lines(len(lines), timeout=30))
            reader.start()
            for i in range(0, len(lines), 100):
                c.send(b"".join(line + b"\n" for line in lines[i:i + 100]))
            reader.join(scaled(30))
        self.assertEqual(node.stats()["commands"]["invalid"], len(lines))
        grew = len(node.log_bytes()) - before
        sent = sum(len(line) + 1 for line in lines)
        self.assertLess(grew, sent / 4, "%d bytes of log for %d bytes of junk" % (grew, sent))
        ins = [line for line in node.log_lines() if "event=client_in " in line]
        self.assertTrue(all(line.endswith(" bytes=4096") for line in ins[-len(lines):]))
        self.assertTrue(all(len(line) < 700 for line in ins))


def held_socket_closed(sock):
    """True when the node closed SOCK (EOF or reset), reading and dropping what it sent."""
    try:
        ready, _, _ = select.select([sock], [], [], 0)
        if not ready:
            return False
        return sock.recv(65536) == b""
    except OSError:
        return True


class TestFullLogDisk(HerdTestCase):
    """A log file on a full disk: the node keeps answering, its log buffer stays 64 KiB,
    and the lines it could not write are counted (limits.log_lines_dropped)."""

    def test_lines_dropped_are_counted_and_clients_served(self):
        small = self.small_tmpfs("small", "size=256k")
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        node.log_path = os.path.join(small, "Alford.log")
        node.start()
        with node.client() as c:
            for i in range(3000):
                c.send_line(iamat(b"full%04d" % i, client_time=format_time(now_ns())))
            replies = c.read_lines(3000, timeout=30)
        self.assertTrue(all(AT_LINE_RE.match(r) for r in replies))
        self.assertLessEqual(os.path.getsize(node.log_path), 256 * 1024)
        limits = node.stats()["limits"]
        self.assertGreater(limits["log_lines_dropped"], 1000, limits)


class Holder:
    """Keeps COUNT idle connections open to PORT from a thread, reopening each one the
    node closes, until stopped: the slots an attacker holds."""

    def __init__(self, port, count):
        self.port = port
        self.count = count
        self.socks = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            alive = []
            for s in self.socks:
                if held_socket_closed(s):
                    s.close()
                else:
                    alive.append(s)
            self.socks = alive
            while len(self.socks) < self.count and not self.stop.is_set():
                try:
                    self.socks.append(socket.create_connection((HOST, self.port), timeout=1))
                except OSError:
                    break
            self.stop.wait(0.01)
        for s in self.socks:
            s.close()

    def close(self):
        self.stop.set()
        self.thread.join(10)


class TestPeerPortStarvation(HerdCase):
    """Idle unauthenticated connections on the peer ports cannot keep a neighbour out."""

    def test_restarted_neighbour_relinks_while_slots_are_held(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start()
        self.wait_linked(herd)
        holders = [Holder(node.peer_port, 64) for node in herd]
        for h in holders:
            self.addCleanup(h.close)
        time.sleep(1)
        herd["Parker"].kill()
        herd["Parker"].start()
        self.wait_linked(herd, timeout=8)
        reply = herd["Alford"].request(iamat(b"through"))
        self.wait_for("the record at Parker",
                      lambda: known_line(herd["Parker"], "through") == reply)
        self.assertGreater(herd["Alford"].stats()["limits"]["peer_handshakes_evicted"], 0)


class TestHandshakeStrangers(HerdCase):
    """Connections that never authenticate cost neither log volume nor the neighbour they
    name: thousands of them give a bounded log, and Parker's failures stay 0."""

    def test_many_strangers_naming_a_neighbour(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start()
        self.wait_linked(herd)
        alford = herd["Alford"]

        def parker_failures():
            peers = alford.admin("/peers")[1]["peers"]
            return [p["connect_failures"] for p in peers if p["name"] == "Parker"]
        failures = parker_failures()
        before = len(alford.log_lines())
        hello = b"HELLO herd/3 Parker " + b"ab" * 16 + b"\n"
        for _ in range(2000):
            with socket.create_connection((HOST, alford.peer_port)) as s:
                s.sendall(hello)
        self.wait_for("the connections to be handled", lambda: alford.admin("/peers")[0] == 200)
        time.sleep(0.5)
        lines = alford.log_lines()[before:]
        # Each stranger would cost 4 lines (open, HELLO in and out, close): 8,000.
        self.assertLess(len(lines), 400, "%d log lines for 2000 strangers" % len(lines))
        self.assertEqual(parker_failures(), failures)


def peak_memory_kb(node):
    """NODE's peak resident set so far (VmHWM), in KiB."""
    with open("/proc/%d/status" % node.pid) as f:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))


def closed_count(socks):
    """How many of SOCKS the other end has closed (poll: there may be over 1,024)."""
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    ready = dict(poller.poll(0))
    closed = 0
    for s in socks:
        if ready.get(s.fileno(), 0) & (select.POLLIN | select.POLLHUP | select.POLLERR):
            try:
                closed += s.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except OSError:
                closed += 1
    return closed


class TestHandshakeBurst(HerdCase):
    """A backlog of connects to the peer port (the node busy while they came) costs at
    most peer_handshake_max handshakes at a time, not a socket and TLS buffers for every
    connect until the backlog is empty."""

    BURST = 1500

    def test_a_backlog_of_connects_holds_no_more_than_the_handshake_slots(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        alford = herd["Alford"]
        # Under ASan, freed memory is reused (not held in quarantine), as without it.
        options = [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=1"]
        alford.env["ASAN_OPTIONS"] = ":".join(o for o in options if o)
        herd.start()
        self.wait_linked(herd)
        before = peak_memory_kb(alford)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.BURST + 100:
            if hard != resource.RLIM_INFINITY and hard < self.BURST + 100:
                self.skipTest("this process may open only %d files" % hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.BURST + 100, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        alford.signal(signal.SIGSTOP)
        try:
            for _ in range(self.BURST):
                socks.append(socket.create_connection((HOST, alford.peer_port), timeout=5))
        finally:
            alford.signal(signal.SIGCONT)
        # Every one but the last peer_handshake_max (32) is evicted as the next comes.
        self.wait_for("the backlog to be taken",
                      lambda: closed_count(socks) >= self.BURST - 32, timeout=10)
        grown = peak_memory_kb(alford) - before
        # A TLS handshake holds some 55 KB: all of them at once would be 80 MB.
        self.assertLess(grown, 16 * 1024, "peak memory grew by %d KiB" % grown)
        self.assertGreater(alford.stats()["limits"]["peer_handshakes_evicted"], 0)
        reply = alford.request(iamat(b"after-the-burst"))
        self.wait_for("the record at Parker",
                      lambda: known_line(herd["Parker"], "after-the-burst") == reply)


class TestOutOfDescriptors(HerdCase):
    """With every descriptor taken by clients, the peer and admin listeners pause too:
    no spinning, one log line per pause, and all of them serve again afterwards."""

    def serves_client(self, node):
        try:
            return AT_LINE_RE.match(node.request(iamat(b"after"), timeout=1)) is not None
        except (OSError, herdtest.HerdError):
            return False

    def serves_peer(self, node):
        """True when a new connection to the peer port gets the node's HELLO."""
        try:
            with socket.create_connection((HOST, node.peer_port), timeout=scaled(1)) as s:
                return s.recv(100).startswith(b"HELLO ")
        except OSError:
            return False

    def test_listeners_pause_and_resume(self):
        # A descriptor freed late (the readiness probe's) can let one peer or admin
        # connection in before the listener fails; long deadlines keep it open through the
        # window below, so it frees nothing that would end the pause and start another.
        # Plaintext links: serves_peer knows the peer port by the HELLO it sends at once.
        herd = self.make_herd(["Alford"], herd_options={"max_connections": 1000,
                                                        "peer_handshake_timeout": 30,
                                                        "admin_timeout": 30,
                                                        "peer_tls": "off"})
        node = herd["Alford"]
        node.max_files = 40
        herd.start()
        self.wait_log(node, r"event=listening what=peer ")
        held = [socket.create_connection((HOST, node.client_port)) for _ in range(60)]
        self.addCleanup(lambda: [s.close() for s in held])
        self.wait_log(node, r'event=accept_paused what=client reason="accept failed"')
        others = [socket.create_connection((HOST, port))
                  for port in (node.peer_port, node.admin_port) for _ in range(3)]
        self.addCleanup(lambda: [s.close() for s in others])
        self.wait_log(node, r'event=accept_paused what=peer reason="accept failed"')
        self.wait_log(node, r'event=accept_paused what=admin reason="accept failed"')
        cpu, log_size = node.cpu_seconds(), len(node.log_bytes())
        time.sleep(3)
        self.assertLess(node.cpu_seconds() - cpu, 0.5, "the node spins")
        self.assertLess(len(node.log_bytes()) - log_size, 8000, "the log runs away")
        for what in ("client", "peer", "admin"):
            pauses = re.findall(r'event=accept_paused what=%s ' % what, node.log())
            self.assertEqual(len(pauses), 1, what)
        for s in held + others:
            s.close()
        # Each listener serves a new connection, and says it works again.
        self.wait_for("the client listener", lambda: self.serves_client(node), timeout=20)
        self.wait_for("the peer listener", lambda: self.serves_peer(node), timeout=20)
        self.wait_for("the admin endpoint", lambda: node.admin("/stats")[0] == 200, timeout=20)
        for what in ("client", "peer", "admin"):
            self.wait_log(node, r"event=accept_resumed what=%s " % what)
        # Another time out of descriptors is noticed and logged again, peer port too.
        peer_pauses = len(re.findall(r"event=accept_paused what=peer ", node.log()))
        held = [socket.create_connection((HOST, node.client_port)) for _ in range(60)]
        others = [socket.create_connection((HOST, node.peer_port))]
        self.wait_for("another pause of the peer listener", lambda: len(re.findall(
            r"event=accept_paused what=peer ", node.log())) > peer_pauses)


class TestConnectionCaps(HerdTestCase):
    """max_connections and admin_max_connections: accepting pauses at the cap."""

    def test_client_cap(self):
        node = self.start_node("Alford", herd_options={"max_connections": 3})
        held = [node.client() for _ in range(3)]
        for i, c in enumerate(held):
            self.addCleanup(c.close)
            self.assertAtLine(c.request(iamat(b"h%d" % i)), client_id=b"h%d" % i)
        with node.client() as waiting:
            waiting.send_line(iamat(b"waiting"))
            self.assertEqual(waiting.read_available(1.0), b"")
            self.assertRegex(node.log(), r'event=accept_paused what=client reason="at the '
                             r'connection cap" connections=3')
            held[0].close()
            self.assertAtLine(waiting.read_line(), client_id=b"waiting")
        self.assertRegex(node.log(), r"event=accept_resumed what=client ")

    def test_admin_cap(self):
        node = self.start_node("Alford", herd_options={"admin_max_connections": 2,
                                                       "admin_timeout": 30})
        self.assertEqual(node.admin("/stats")[0], 200)
        idle = [socket.create_connection((HOST, node.admin_port)) for _ in range(2)]
        for s in idle:
            self.addCleanup(s.close)
        time.sleep(0.3)
        with self.assertRaises(OSError):
            node.admin("/stats", timeout=1)
        self.assertRegex(node.log(), r'event=accept_paused what=admin reason="at the '
                         r'connection cap" connections=2')
        idle[0].close()
        self.assertEqual(node.admin("/stats")[0], 200)
        # Stopping at the cap: closing the connections must not resume a freed listener.
        idle.append(socket.create_connection((HOST, node.admin_port)))
        time.sleep(0.3)
        self.assertEqual(node.stop(), 0)


def closed_within(sock, seconds):
    """Seconds until the node closes SOCK (reading what it sends), or None after SECONDS
    (not scaled: the pace of a drip is part of the attack)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if held_socket_closed(sock):
            return time.monotonic() - start
        time.sleep(0.02)
    return None


class TestAdminDeadline(HerdTestCase):
    """admin_timeout bounds the whole request, however slowly its bytes arrive."""

    def test_drip_fed_headers_are_cut_at_the_deadline(self):
        node = self.start_node("Alford", herd_options={"admin_timeout": 2})
        self.assertEqual(node.admin("/stats")[0], 200)
        with socket.create_connection((HOST, node.admin_port)) as s:
            start = time.monotonic()
            closed = None
            for byte in b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    closed = time.monotonic() - start
                    break
                gone = closed_within(s, 0.5)
                if gone is not None:
                    closed = time.monotonic() - start
                    break
            self.assertIsNotNone(closed, "still open after %.1f s of dripping"
                                 % (time.monotonic() - start))
            self.assertGreater(closed, 1.5)
            self.assertLess(closed, scaled(4))
        self.assertEqual(node.stats()["limits"]["admin_timeouts"], 1)

    def test_idle_keep_alive_closes_without_counting_a_timeout(self):
        node = self.start_node("Alford", herd_options={"admin_timeout": 2})
        conn = http.client.HTTPConnection(HOST, node.admin_port, timeout=scaled(10))
        self.addCleanup(conn.close)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().read(), b"ok\n")
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().read(), b"ok\n")
        self.assertIsNotNone(closed_within(conn.sock, scaled(5)), "kept open")
        self.assertEqual(node.stats()["limits"]["admin_timeouts"], 0)


def slow_places_node(test, slow, client_id, places_timeout=5, **options):
    """Alford alone, its Places stand-in answering after SLOW s, and CLIENT_ID known."""
    standin = test.start_standin()
    standin.control("mode=slow=%d" % slow)
    herd = test.make_herd(["Alford"], herd_options=dict(
        standin.herd_options("legacy", places_timeout), **options))
    herd.start()
    node = herd["Alford"]
    node.request(iamat(client_id, "+34.068930-118.445127", "1700000000"))
    return node


class TestCutClient(HerdTestCase):
    """A client that sent a line over max_line while a WHATSAT of its waits on Places."""

    def test_it_is_not_read_while_its_replies_are_made(self):
        # It was read and its bytes dropped at any speed until the WHATSAT was answered:
        # one connection made the node read gigabytes a second, a core at full use.
        node = slow_places_node(self, 2, "cut")
        s = socket.create_connection((HOST, node.client_port))
        self.addCleanup(s.close)
        s.sendall(b"WHATSAT cut 10 1\n" + b"X" * 5000 + b"\n")
        s.setblocking(False)
        sent, start, chunk = 0, time.monotonic(), b"Y" * 65536
        while time.monotonic() - start < 1.5:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        self.assertLess(sent, 32 << 20, "the node took %d MB in 1.5 s" % (sent >> 20))
        s.setblocking(True)
        s.settimeout(10)
        reply = b""
        while not reply.endswith(b"\n\n"):
            data = s.recv(65536)
            self.assertTrue(data, "closed before the WHATSAT's reply: %r" % reply[:200])
            reply += data
        self.assertTrue(reply.startswith(b"AT Alford "), reply[:200])


class TestHalfClosedClients(HerdTestCase):

    def test_a_last_line_without_newline_is_not_timed_as_a_line_in_progress(self):
        # The unterminated last line ran at the half-close, but its start stayed the
        # start of a line still being typed: client_line_timeout closed the connection
        # while its WHATSAT waited on Places, and the reply never came.
        node = slow_places_node(self, 3, "eofline", places_timeout=8, client_line_timeout=1)
        with node.client(timeout=15) as c:
            c.send(b"WHATSAT eofline 10 1")
            c.shutdown_write()
            raw = c.read_until_eof(timeout=15)
        self.assertTrue(raw.startswith(b"AT Alford ") and raw.endswith(b"}\n\n"), raw[:200])

    def test_a_stop_answers_the_last_line_of_one_that_half_closed(self):
        # The stop's drain took the client's own EOF for the stop's end of its input,
        # and dropped its last line without LF as one still being typed.
        node = slow_places_node(self, 2, "k", client_max_pending=4)
        with node.client(timeout=15) as c:
            c.send(b"WHATSAT k 10 1\n" * 6 + b"bad1\npartial")
            c.shutdown_write()
            time.sleep(0.3)
            node.proc.send_signal(signal.SIGTERM)
            node.exit_checked = False
            raw = c.read_until_eof(timeout=15)
        self.assertTrue(raw.endswith(b"? bad1\n? partial\n"), raw[-200:])
        self.assertEqual(node.proc.wait(timeout=15), 0)
        node.exit_checked = True

    def test_one_that_resets_while_its_replies_wait_in_the_kernel_is_let_go(self):
        # Shut and waiting for the kernel to deliver, it was kept until
        # client_write_timeout (30 s) after the client had reset the connection.
        node = self.start_node("Alford")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.connect((HOST, node.client_port))
        me = "peer=%s:%d " % s.getsockname()
        s.sendall(b"".join(iamat("reset%04d" % i, "+1-1", "1700000000") + b"\n"
                           for i in range(500)))
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        line = node.wait_log(lambda l: me in l and "event=client_close" in l, timeout=5)
        self.assertIsNotNone(line, "still held 5 s after the reset")
        self.assertIn('reason="client closed"', line)


def small_window_client(test, port, rcvbuf):
    """A connection to PORT with a receive buffer of RCVBUF bytes, closed after TEST."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((HOST, port))
    test.addCleanup(s.close)
    return s


def node_socket_states(local_port, remote_port):
    """The TCP states (/proc/net/tcp, hex) of sockets from LOCAL_PORT to REMOTE_PORT."""
    states = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
            if int(local, 16) == local_port and int(remote, 16) == remote_port:
                states.append(fields[3])
    return states


class TestCutClientsThatDoNotRead(HerdTestCase):

    def test_no_socket_is_left_holding_replies(self):
        # Its replies all in the kernel, a cut client was shut, lingered 2 s and was
        # closed plainly: the kernel kept the socket (FIN_WAIT1) with the replies for as
        # long as the client kept its end, in no limit of the node's. Now it is reset.
        node = self.start_node("Alford")
        s = small_window_client(self, node.client_port, 4096)
        me = s.getsockname()[1]
        s.setblocking(False)
        data = b"X" * 4000 + b"\n"
        data = data * 40 + b"Y" * 5000
        sent, start = 0, time.monotonic()
        while sent < len(data) and time.monotonic() - start < 5:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        self.assertEqual(sent, len(data))
        self.assertIsNotNone(node.wait_log(lambda l: "peer=%s:%d " % (HOST, me) in l and
                                           'reason="line too long"' in l, timeout=10))
        time.sleep(0.5)
        self.assertEqual(node_socket_states(node.client_port, me), [])


class TestHalfClosedFullWindow(HerdTestCase):

    def test_a_fin_the_window_holds_back_is_under_the_write_deadline(self):
        # Its replies all acknowledged, its window full: the FIN could not go, and only
        # the idle timeout (300 s by default) closed it, plainly, leaving the socket.
        node = self.start_node("Alford", herd_options={"client_write_timeout": 2,
                                                       "client_idle_timeout": 30})
        s = small_window_client(self, node.client_port, 2048)
        me = "peer=%s:%d " % s.getsockname()
        s.sendall(b"Z" * 2045 + b"\n")
        time.sleep(1.5)
        s.shutdown(socket.SHUT_WR)
        line = node.wait_log(lambda l: me in l and "event=client_close" in l, timeout=8)
        self.assertIsNotNone(line, "not closed 8 s after the half-close")
        self.assertNotIn("idle timeout", line)


class TestClientDeadlines(HerdTestCase):
    """The line, idle and write deadlines (README "Limits")."""

    OPTIONS = {"client_line_timeout": 2, "client_idle_timeout": 2, "client_write_timeout": 2}

    def setUp(self):
        self.node = self.start_node("Alford", herd_options=self.OPTIONS)

    def test_slowloris_is_cut_by_the_line_deadline(self):
        with socket.create_connection((HOST, self.node.client_port)) as s:
            start = time.monotonic()
            closed = None
            for byte in b"IAMAT slow +1+1 1700000000 and more and more":
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                closed = closed_within(s, 0.5)
                if closed is not None:
                    break
            elapsed = time.monotonic() - start
        self.assertIsNotNone(closed, "still open after %.1f s" % elapsed)
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, scaled(4.5))
        self.wait_reason("line timeout")

    def closed_for(self, reason):
        """True when the node logged closing a client for REASON."""
        return any('reason="%s' % reason in line for line in self.node.log_lines()
                   if "event=client_close" in line)

    def wait_reason(self, reason, seconds=5):
        """Waits for a client_close for REASON; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < scaled(seconds):
            if self.closed_for(reason):
                return time.monotonic() - start
            time.sleep(0.05)
        self.fail("no client_close with reason %r within %d s" % (reason, seconds))

    def test_a_line_finished_in_time_is_answered(self):
        with self.node.client() as c:
            c.send(b"IAMAT k +1+1 ")
            time.sleep(1)
            c.send(b"1700000000\n")
            self.assertAtLine(c.read_line(), client_id=b"k")

    def test_idle_client_is_closed(self):
        with socket.create_connection((HOST, self.node.client_port)) as s:
            closed = closed_within(s, scaled(5))
        self.assertIsNotNone(closed)
        self.assertGreater(closed, 1.5)
        self.wait_reason("idle timeout")

    def test_empty_lines_are_no_commands(self):
        with socket.create_connection((HOST, self.node.client_port)) as s:
            start = time.monotonic()
            while time.monotonic() - start < scaled(5):
                try:
                    s.sendall(b"\n")
                except OSError:
                    break
                if closed_within(s, 0.5) is not None:
                    break
            elapsed = time.monotonic() - start
        self.assertLess(elapsed, scaled(4.5), "empty lines kept the connection open")
        self.wait_reason("idle timeout")

    def test_busy_client_is_not_idle(self):
        with self.node.client() as c:
            for i in range(6):
                self.assertAtLine(c.request(iamat(b"busy")), client_id=b"busy")
                time.sleep(0.7)
        self.assertFalse(self.closed_for("idle timeout"))

    def big_iamat(self, i):
        return b"IAMAT big%d +34.%s-118 1700000000" % (i, b"1" * 3900)

    def test_client_that_never_reads_is_closed(self):
        # With the client's receive window this small, 4 replies fill it and then sit in
        # the node's kernel send buffer, where only SIOCOUTQ shows them unread; 100 replies
        # back up into the node's own output too. (Replies inside an open window are
        # acknowledged by the client's TCP: that client counts as reading.)
        for count in (4, 100):
            with self.subTest(count=count):
                self.never_read(count)

    def never_read(self, count):
        s = small_window_client(self, self.node.client_port, 4096)
        s.setblocking(False)
        closes = sum(1 for line in self.node.log_lines() if "write timeout" in line)
        data = b"".join(self.big_iamat(i) + b"\n" for i in range(count))
        sent, start = 0, time.monotonic()
        while sent < len(data) and time.monotonic() - start < 2:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        # client_write_timeout (2 s) after the last byte the client took, give or take
        # the one-second sweep.
        start = time.monotonic()
        while sum(1 for line in self.node.log_lines() if "write timeout" in line) == closes:
            self.assertLess(time.monotonic() - start, scaled(5), "not closed")
            time.sleep(0.05)

    def test_half_closed_client_that_does_not_read_stays_under_the_write_deadline(self):
        # Closed once its replies were handed to the kernel, it left the node's count at
        # once while the kernel kept what it had to send (an orphan socket, in no limit
        # of the node's, alive as long as the client kept its end open). Now it is shut
        # for writing, counted until the kernel has delivered, and reset at the deadline.
        # The earlier tests' clients may still be closing on a busy machine: none left.
        herdtest.wait_until(lambda: self.node.stats()["client_connections"]["current"] == 0,
                            what="the earlier tests' clients gone")
        s = small_window_client(self, self.node.client_port, 2048)
        s.sendall(b"".join(iamat("orphan%04d" % i, "+1-1", "1700000000") + b"\n"
                           for i in range(500)))
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.5)         # well inside the 2 s deadline, however slow the machine
        self.assertEqual(self.node.stats()["client_connections"]["current"], 1)
        me = "peer=%s:%d " % s.getsockname()
        self.assertFalse(any(me in line and "event=client_close" in line
                             for line in self.node.log_lines()))
        self.wait_reason("write timeout")
        s.settimeout(5)
        with self.assertRaises(ConnectionResetError):
            while s.recv(65536):
                pass

    def test_slow_reader_is_not_closed(self):
        s = small_window_client(self, self.node.client_port, 4096)
        lines = [self.big_iamat(i) for i in range(60)]
        sender = threading.Thread(target=lambda: s.sendall(b"".join(l + b"\n" for l in lines)))
        sender.start()
        got, start = b"", time.monotonic()
        # About 8 KB a second: slow, but steady, for longer than client_write_timeout.
        while got.count(b"\n") < len(lines) and time.monotonic() - start < scaled(60):
            s.settimeout(5)
            got += s.recv(4096)
            time.sleep(0.5)
            if time.monotonic() - start > 5:
                break
        sender.join(scaled(60))
        self.assertGreater(time.monotonic() - start, 5)
        self.assertFalse(self.closed_for("write timeout"))


if __name__ == "__main__":
    herdtest.main()
