"""Several nodes (SPEC sections 3 and 4 as a client sees them): a client is known through
every node of the herd, with the AT line of the node that received its IAMAT.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_flood.py -v
"""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HOST, HerdTestCase, iamat, scaled, stored_line  # noqa: E402
from herdpeer import FakePeer, HerdCase, herd_secret  # noqa: E402


def whatsat_first_line(node, client_id):
    """The first line of a WHATSAT reply from NODE (the stored AT line, or "? ...")."""
    if isinstance(client_id, str):
        client_id = client_id.encode("utf-8")
    with node.client(timeout=15) as c:
        c.send(b"WHATSAT " + client_id + b" 10 5\n")
        first = c.read_line()
        if not first.startswith(b"? "):
            rest = c.read_until(b"\n\n", timeout=15)
            json.loads(rest[:-2].decode("utf-8"))
        return first


def wait_stored(node, client_id, want, timeout=5.0):
    """Polls NODE until its stored AT line for CLIENT_ID is WANT; returns the last seen."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        got = whatsat_first_line(node, client_id)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class FloodTestCase(HerdTestCase):

    def assertStoredEverywhere(self, herd, client_id, want, timeout=5.0):
        for node in herd:
            if node.running():
                self.assertEqual(wait_stored(node, client_id, want, timeout), want,
                                 "node %s" % node.name)


class TestTwoNodes(FloodTestCase):

    def test_client_known_through_a_neighbour(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        herd.start()
        at = herd["Alford"].request(iamat("roamer", "+34-118", "1700000000.5"))
        self.assertAtLine(at, server="Alford", client_id="roamer")
        self.assertEqual(wait_stored(herd["Parker"], "roamer", at), at)

    def test_every_peer_line_is_logged_at_info(self):
        """SPEC 7: every line in and out on peer connections, sync records, the walk,
        link-state reports and heartbeats too, at the default level."""
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        alford, parker = herd["Alford"], herd["Parker"]
        alford.start()
        ats = [alford.request(iamat("synced%d" % i)) for i in range(3)]
        parker.start()
        for i, at in enumerate(ats):
            self.assertEqual(wait_stored(parker, "synced%d" % i, at), at)
        time.sleep(2.5)
        for node, sent in ((alford, "peer_out"), (parker, "peer_in")):
            log = node.log()
            for i, at in enumerate(ats):
                self.assertRegex(log, r"level=info node=%s event=%s link=\d+ peer=\w+ "
                                      r"line=\"SYNC %s\"" % (node.name, sent,
                                                            re.escape(at.decode())))
        for node in (alford, parker):
            log = node.log()
            for word in ("DIGEST-BEGIN", "PING", "PONG", "LSA"):
                for way in ("peer_in", "peer_out"):
                    self.assertRegex(log, r"level=info node=\w+ event=%s link=\d+ peer=\w+ "
                                          r"line=\"%s\b" % (way, word))

    def test_log_times_never_go_back(self):
        """Peer lines are stamped with their pass's time; no line goes behind the one before."""
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        herd.start()
        alford, parker = herd["Alford"], herd["Parker"]
        with alford.client() as c:
            for i in range(30):
                at = c.request(iamat("stamps-%d" % i))
        self.assertEqual(wait_stored(parker, "stamps-29", at), at)
        for node in (alford, parker):
            stamps = [l[:27] for l in node.log_lines() if l.strip()]
            self.assertGreater(len(stamps), 40)
            back = [(a, b) for a, b in zip(stamps, stamps[1:]) if b < a]
            self.assertEqual(back, [], node.name + " " + node.log_path)

    def test_older_record_from_a_neighbour_does_not_win(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        herd.start()
        newer = herd["Alford"].request(iamat("aging", "+1+1", "1700000200"))
        self.assertEqual(wait_stored(herd["Parker"], "aging", newer), newer)
        older = herd["Parker"].request(iamat("aging", "+2+2", "1700000100"))
        self.assertAtLine(older, server="Parker", client_time="1700000100")
        time.sleep(0.5)
        self.assertStoredEverywhere(herd, "aging", newer)

    def test_equal_times_settle_on_the_greater_at_line(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        herd.start()
        a = herd["Alford"].request(iamat("tie", "+1+1", "1700000300"))
        p = herd["Parker"].request(iamat("tie", "+2+2", "1700000300"))
        self.assertStoredEverywhere(herd, "tie", max(a, p))

    def test_node_that_was_down_catches_up(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": ["Parker"]})
        herd.start()
        herd["Parker"].stop()
        at = herd["Alford"].request(iamat("missed", "+3+3", "1700000400"))
        herd["Parker"].start()
        self.assertEqual(wait_stored(herd["Parker"], "missed", at, timeout=10), at)


class TestFlappingLink(FloodTestCase, HerdCase):

    def test_a_link_that_falls_at_once_backs_off(self):
        """A neighbour that ends every link right after its handshake: a link coming up
        does not reset the attempt count (it used to: 45 links in 6 s, a sync each)."""
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, herd["Parker"].peer_port))
        listener.listen(8)
        alford = self.start_for_fakes(herd, "Alford")
        links, deadline = 0, time.monotonic() + 6
        while time.monotonic() < deadline:
            try:
                fake = FakePeer.accept(listener, "Parker", herd_secret(herd),
                                       timeout=max(deadline - time.monotonic(), 0.01))
            except socket.timeout:
                break
            links += fake.handshake()
            fake.close()
        self.assertGreater(links, 1)
        self.assertLess(links, 12, "%d links in 6 s" % links)
        attempts = [int(l.split(" attempt=")[1].split()[0]) for l in alford.log_lines()
                    if "event=peer_retry peer=" in l]
        self.assertGreaterEqual(max(attempts), 3, attempts)

    def test_a_record_longer_than_the_neighbour_takes_does_not_end_the_link(self):
        # Alford takes longer lines than Parker (a rolling restart after raising
        # max_line): the long record is refused at Parker, the link stays, and the
        # records behind it arrive. Each link used to fall at the long record.
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        longer = os.path.join(herd.dir, "longer.conf")
        with open(longer, "w") as f:
            f.write(herd.config_text().replace("[herd]\n", "[herd]\nmax_line = 16384\n", 1))
        herd["Parker"].start()
        herd["Alford"].start(args=["-c", longer])
        parker = herd["Parker"]
        self.assertIsNotNone(parker.wait_log(lambda l: "event=peer_up peer=Alford" in l,
                                             timeout=10))
        herd["Alford"].request(iamat(b"long", b"+34." + b"1" * 8000 + b"-118.4"))
        ats = [herd["Alford"].request(iamat("after%d" % i)) for i in range(50)]
        for i, at in enumerate(ats):
            self.assertEqual(wait_stored(parker, "after%d" % i, at), at)
        self.assertIsNotNone(parker.wait_log(
            lambda l: "event=peer_bad_record" in l and "longer than any node writes" in l))
        self.assertIsNone(stored_line(parker, b"long"))
        ups = [l for l in parker.log_lines() if "event=peer_up peer=Alford" in l]
        self.assertEqual(len(ups), 1, ups)


class TestDefaultHerd(FloodTestCase):

    def setUp(self):
        self.herd = self.make_herd(herdtest.DEFAULT_NODES, peers=herdtest.DEFAULT_PEERS)
        self.herd.start()

    def test_flood_reaches_every_node(self):
        at = self.herd["Hamilton"].request(iamat("everywhere", "+34-118", "1700000500"))
        self.assertAtLine(at, server="Hamilton")
        self.assertStoredEverywhere(self.herd, "everywhere", at)

    def test_herd_works_around_a_dead_node(self):
        self.herd["Powell"].kill()
        at = self.herd["Bolden"].request(iamat("detour", "+5+5", "1700000600"))
        self.assertStoredEverywhere(self.herd, "detour", at)

    def test_newest_wins_across_the_herd(self):
        lines = []
        for i, name in enumerate(herdtest.DEFAULT_NODES):
            lines.append(self.herd[name].request(
                iamat("race", "+%d+%d" % (i, i), "1700000700.%d" % (5 - i))))
        self.assertStoredEverywhere(self.herd, "race", lines[0])


if __name__ == "__main__":
    herdtest.main()
