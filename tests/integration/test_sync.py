"""Link-up sync (README "Peer links and the wire format", "Sync"): two nodes that both
hold records compare digests and send each other only what differs; a node that starts
empty gets the whole table; equal tables send nothing; a node of another protocol
version is refused with a clear line; walk lines out of turn end the link; and a link
that cannot keep up under load coalesces what it owes instead of dropping.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_sync.py -v
"""

import hashlib
import hmac
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import now_ns  # noqa: E402
from herdpeer import FakePeer, HerdCase, held, herd_secret, send_pipelined  # noqa: E402
from herdpeer import NS  # noqa: E402
from herdpeer import iamat_ns as iamat  # noqa: E402


def newest(replies):
    """Client ID -> the newest of the AT lines REPLIES (bytes), by client time then line."""
    best = {}
    for reply in replies:
        line = reply.decode()
        words = line.split()
        key = (herdtest.parse_time(words[5]), line)
        if words[3] not in best or key > best[words[3]][0]:
            best[words[3]] = (key, line)
    return dict((k, v[1]) for k, v in best.items())


def key_id(secret):
    """The digest key ID a node of a herd with SECRET announces (README "Sync")."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, b"herd digest key id v1", hashlib.sha256).hexdigest()[:8]


def sync_line_bytes(lines):
    """What a whole-table sync of LINES would send: SYNC, the line, LF."""
    return sum(len("SYNC ") + len(line) + 1 for line in lines)


def sync_done(node, peer):
    """The fields of NODE's peer_sync_done line for PEER, as a dict (None if none yet)."""
    for line in reversed(node.log_lines()):
        if "event=peer_sync_done" in line and "peer=%s " % peer in line:
            return dict(re.findall(r"(\w+)=(\S+)", line))
    return None


class SyncCase(HerdCase):

    def pair(self, **options):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options=options or None)
        return herd, herd["Alford"], herd["Parker"]

    def wait_held(self, node, count, timeout=30.0):
        self.wait_for("%s to hold %d clients" % (node.name, count),
                      lambda: len(held(node)) == count, timeout)


class TestDigestSync(SyncCase):

    def test_both_sides_changed_while_apart_converge_sending_only_the_difference(self):
        herd, alford, parker = self.pair(state_dir="state")
        herd.start()
        self.wait_linked(herd)
        base = now_ns() - 3600 * NS
        clients = 20000
        replies = send_pipelined(alford, [iamat("c%05d" % i, base) for i in range(clients)])
        self.wait_held(parker, clients)

        # Apart: Parker learns of 30 moves and 20 new clients, then Alford of 40 moves,
        # one of them a client Parker also saw move (the later time must win on both).
        alford.kill()
        at_parker = [iamat("c%05d" % (i * 331 % clients), base + NS) for i in range(30)]
        at_parker += [iamat("new%02d" % i, base + NS) for i in range(20)]
        replies += send_pipelined(parker, at_parker)
        parker.kill()
        alford.start()
        at_alford = [iamat("c%05d" % (i * 173 % clients + 1), base + 2 * NS) for i in range(40)]
        at_alford.append(iamat("c%05d" % 331, base + 3 * NS))
        replies += send_pipelined(alford, at_alford)
        parker.start()

        self.wait_log(alford, r"event=peer_sync_done .*peer=Parker mode=digest ", timeout=20)
        self.wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=digest ", timeout=20)
        want = newest(replies)
        self.assertEqual(len(want), clients + 20)
        self.wait_for("Alford to hold the newest of every client",
                      lambda: held(alford) == want, timeout=10)
        self.wait_for("Parker to hold the newest of every client",
                      lambda: held(parker) == want, timeout=10)

        # Only the difference crossed: both ends restarted, so their counters are this sync's.
        sent = alford.stats()["sync"]["bytes_sent"] + parker.stats()["sync"]["bytes_sent"]
        whole = sync_line_bytes(want.values())
        print("digest walk: %d bytes both ways, whole table %d (%.1f%%)" % (
            sent, whole, 100.0 * sent / whole), file=sys.stderr)
        self.assertLess(sent * 10, whole,
                        "the walk sent %d bytes; the whole table is %d" % (sent, whole))
        records = int(sync_done(alford, "Parker")["sent"]) + int(sync_done(parker, "Alford")["sent"])
        self.assertGreaterEqual(records, 91)
        self.assertLessEqual(records, 2 * 91)
        for node in (alford, parker):
            self.assertEqual(node.stats()["sync"]["walk"], 1)
            self.assertEqual(node.stats()["sync"]["full"], 0)
        # The same records: the same digest, as /stats shows it.
        self.assertEqual(alford.stats()["sync"]["digest"], parker.stats()["sync"]["digest"])

    def test_node_restarted_empty_gets_the_whole_table(self):
        herd, alford, parker = self.pair()
        herd.start()
        self.wait_linked(herd)
        replies = send_pipelined(alford, [iamat("e%04d" % i, now_ns()) for i in range(5000)])
        self.wait_held(parker, 5000)
        parker.kill()
        parker.start()
        self.wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=full received=5000 "
                              r"stored=5000", timeout=20)
        self.assertEqual(held(parker), newest(replies))
        self.assertGreaterEqual(alford.stats()["sync"]["full"], 1)

    def test_equal_tables_send_nothing_but_the_digest(self):
        herd, alford, parker = self.pair(state_dir="state")
        herd.start()
        self.wait_linked(herd)
        send_pipelined(alford, [iamat("q%04d" % i, now_ns()) for i in range(1000)])
        self.wait_held(parker, 1000)
        alford.stop()
        parker.stop()
        herd.start()
        self.wait_log(alford, r"event=peer_sync_done .*peer=Parker mode=equal records=1000")
        self.wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=equal records=1000")
        # DIGEST-BEGIN COUNT ROOT is all that crossed.
        self.assertLess(alford.stats()["sync"]["bytes_sent"], 64)
        self.assertEqual(alford.stats()["sync"]["equal"], 1)


class TestWalkProtocol(SyncCase):

    def fake_parker(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        alford = self.start_for_fakes(herd, "Alford")
        fake = FakePeer.connect(alford.peer_port, "Parker", herd_secret(herd))
        self.addCleanup(fake.close)
        return alford, fake

    def synced_fake_parker(self):
        """The fake Parker, through its handshake and Alford's sync: the link is up."""
        alford, fake = self.fake_parker()
        self.assertTrue(fake.handshake())
        fake.read_sync()
        return alford, fake

    def test_older_protocol_version_is_refused_with_a_clear_line(self):
        alford, fake = self.fake_parker()
        fake.send_line("HELLO herd/2 Parker " + fake.nonce)
        self.assertTrue(fake.closed_by_node())
        self.wait_log(alford, r"event=peer_reject .*reason=\"protocol version herd/2, this "
                              r"node speaks herd/3: run one version across the herd\"")

    def test_round_out_of_turn_ends_the_link(self):
        alford, fake = self.synced_fake_parker()
        fake.send_line("ROUND 7")
        self.assertTrue(fake.closed_by_node())
        self.wait_log(alford, r"event=peer_protocol_error .*reason=\"ROUND out of turn\"")

    def test_sync_end_outside_a_sync_ends_the_link(self):
        alford, fake = self.synced_fake_parker()
        fake.send_line("SYNC-END 0")
        self.assertTrue(fake.closed_by_node())
        self.wait_log(alford, r"event=peer_protocol_error .*reason=\"SYNC-END outside a sync\"")

    def test_sync_begin_inside_a_sync_ends_the_link(self):
        alford, fake = self.synced_fake_parker()
        fake.send_line("SYNC-BEGIN 2")
        fake.send_line("SYNC-BEGIN 2")
        self.assertTrue(fake.closed_by_node())
        self.wait_log(alford, r"event=peer_protocol_error .*reason=\"SYNC-BEGIN inside a sync\"")

    def test_malformed_digest_line_ends_the_link(self):
        alford, fake = self.synced_fake_parker()
        # Depth 3 is not one of the tree's (0, 4, 8, 12).
        fake.send_line("DIGEST 3 0 " + " ".join(["0" * 12] * 16))
        self.assertTrue(fake.closed_by_node())
        self.wait_log(alford, r"event=peer_protocol_error ")

    def test_digests_under_other_keys_are_not_compared(self):
        alford, fake = self.fake_parker()
        send_pipelined(alford, [iamat("k%d" % i, now_ns()) for i in range(5)])
        fake.send_hello()
        fake.read_hello()
        fake.send_line("AUTH " + fake.my_mac())
        self.assertIsNotNone(fake.read_auth())
        fake.send_line("DIGEST-BEGIN 1 " + "f" * 16 + " 0badc0de")
        self.assertEqual(len(fake.read_sync()), 5)
        self.wait_log(alford, r"event=peer_digest_keys_differ .*theirs=0badc0de")

    def test_node_answers_a_walk_turn_as_the_protocol_says(self):
        """A neighbour that holds one record the node lacks, and lacks all the node's:
        the node's walk answers its DIGEST lines as the protocol says."""
        alford, fake = self.fake_parker()
        replies = send_pipelined(alford, [iamat("w%d" % i, now_ns()) for i in range(3)])
        fake.send_hello()
        fake.read_hello()
        fake.send_line("AUTH " + fake.my_mac())
        self.assertIsNotNone(fake.read_auth())
        begin = fake.read_until(lambda line: line.startswith(b"DIGEST-BEGIN "))
        self.assertTrue(begin.startswith(b"DIGEST-BEGIN 3 "))
        # Claim one record with a root that differs; Alford accepted, so the fake dialled
        # and goes first: the root's children, all "different" (its own are unknown).
        fake.send_line("DIGEST-BEGIN 1 " + "f" * 16 + " " + key_id(fake.secret))
        fake.send_line("DIGEST 0 0 " + " ".join(["f" * 12] * 16))
        fake.send_line("ROUND 1")
        line = fake.read_until(lambda line: line.startswith((b"ROUND ", b"DIGEST ")))
        self.assertIsNotNone(line)
        self.assertTrue(line.startswith(b"DIGEST 4 "), line)
        self.assertIsNotNone(fake.read_until(lambda line: line == b"ROUND 2"))
        self.assertEqual(len(replies), 3)

    def test_a_count_past_what_a_node_holds_does_not_lift_the_walk_s_bound(self):
        """DIGEST-BEGIN with a count near 2^64, then LEAF+ lines without end: what the
        walk queues stays within what max_clients records can take, and the link goes."""
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"max_clients": 1000})
        alford = self.start_for_fakes(herd, "Alford")
        send_pipelined(alford, [iamat("w%d" % i, now_ns()) for i in range(3)])
        fake = FakePeer.connect(alford.peer_port, "Parker", herd_secret(herd))
        self.addCleanup(fake.close)
        fake.send_hello()
        fake.read_hello()
        fake.send_line("AUTH " + fake.my_mac())
        self.assertIsNotNone(fake.read_auth())
        self.assertIsNotNone(fake.read_until(lambda line: line.startswith(b"DIGEST-BEGIN ")))
        differ = " ".join(["f" * 12] * 16)
        fake.send_line("DIGEST-BEGIN 9999999999999999999 %s %s" % ("f" * 16,
                                                                  key_id(fake.secret)))
        fake.send_line("DIGEST 0 0 " + differ)
        fake.send_line("ROUND 1")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"ROUND 2", timeout=10))
        fake.send_line("DIGEST 8 0 " + differ)
        fake.send_line("ROUND 3")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"ROUND 4", timeout=10))
        # Leaf 0 is offered now: sums for it, 48 a line, far more than 1,000 records have.
        leaf = ("LEAF+ 0 " + " ".join("%08x" % (0x10000000 + i) for i in range(48)) +
                "\n").encode()
        try:
            for _ in range(25):
                fake.sock.sendall(leaf * 200)
        except OSError:
            pass
        self.assertTrue(fake.closed_by_node(timeout=10))
        self.wait_log(alford, r"event=peer_protocol_error .*peer=Parker ")


class TestUnderLoad(SyncCase):

    def test_stalled_neighbour_under_load_is_kept_and_converges(self):
        herd = self.make_herd(["Alford", "Parker", "Bolden"],
                              peers={"Alford": "Parker", "Parker": "Bolden"})
        herd.start()
        self.wait_linked(herd)
        alford, parker, bolden = herd["Alford"], herd["Parker"], herd["Bolden"]
        # From here on: at start-up both ends dial, and the link the tie-break closes may
        # be seen closing by the end that had it up first; the survivor is up by then.
        time.sleep(0.3)
        self.wait_linked(herd)
        seen = dict((node.name, len(node.log_lines())) for node in herd)
        base = now_ns() - 3600 * NS
        # Bolden stalls (under peer_heartbeat_timeout) while Alford takes 200,000 IAMATs
        # for 2,000 clients: Parker's link to it fills, and what it owes coalesces.
        bolden.signal(signal.SIGSTOP)
        self.addCleanup(lambda: bolden.running() and bolden.signal(signal.SIGCONT))
        lines = [iamat("load%04d" % (i % 2000), base + i) for i in range(200000)]
        started = time.monotonic()
        replies = send_pipelined(alford, lines)
        # What Parker owes Bolden is bounded by the clients, not by the 200,000 updates.
        status, doc = parker.admin("/peers")
        owed = dict((p["name"], p["pending_records"]) for p in doc["peers"])
        self.assertGreater(owed["Bolden"], 0)
        self.assertLessEqual(owed["Bolden"], 2000)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
        bolden.signal(signal.SIGCONT)
        want = newest(replies)
        for node in (parker, bolden):
            self.wait_for("%s to hold the newest of every client" % node.name,
                          lambda node=node: held(node) == want, timeout=20)
        for node in (alford, parker, bolden):
            log = "\n".join(node.log_lines()[seen[node.name]:])
            self.assertNotIn("event=peer_down", log)
            self.assertNotIn("event=peer_output_limit", log)
        self.assertGreater(parker.stats()["flood"]["coalesced"], 0)


if __name__ == "__main__":
    herdtest.main()
