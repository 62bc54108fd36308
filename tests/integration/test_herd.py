"""The herd (SPEC section 4): peer links, flooding, sync, reconnection, authentication and
backpressure, with real herdd processes on loopback and fake neighbours written here in the
wire format of README.md ("Peer links and the wire format").

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_herd.py -v
"""

import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HOST, format_time, now_ns, run_herdd, scaled  # noqa: E402
from herdpeer import (LOCATION, NS, PROTOCOL, FakePeer, HerdCase,  # noqa: E402
                      current_log, herd_secret, iamat, known_line, peer_connections,
                      reachable, send_pipelined, vm_hwm_kib)


# -- flooding ----------------------------------------------------------------------------

class TestFlooding(HerdCase):

    def test_iamat_at_alford_is_known_at_every_node_as_alford_wrote_it(self):
        herd = self.start_default_herd()
        reply = herd["Alford"].request(iamat("kiwi.cs.ucla.edu", "1621464827.959498503"))
        self.assertAtLine(reply, server="Alford", client_id="kiwi.cs.ucla.edu")
        for name in ("Parker", "Powell", "Bolden", "Hamilton"):
            self.wait_known(herd[name], "kiwi.cs.ucla.edu", reply)

    def test_newer_records_spread_and_older_ones_stop(self):
        herd = self.start_default_herd()
        t = now_ns()
        first = herd["Alford"].request(iamat("fig", format_time(t)))
        for node in herd:
            self.wait_known(node, "fig", first)
        # Newer, told to the far end of the herd: it comes back the other way.
        newer = herd["Hamilton"].request(iamat("fig", format_time(t + NS)))
        for node in herd:
            self.wait_known(node, "fig", newer)
        # Older, told to Bolden: the client gets its AT line, the herd keeps the newer one.
        older = herd["Bolden"].request(iamat("fig", format_time(t - NS)))
        self.assertAtLine(older, server="Bolden", client_time=format_time(t - NS))
        self.assertEqual(known_line(herd["Bolden"], "fig"), newer)
        # A marker sent after it from Bolden reaches Alford, so the older one had its chance.
        marker = herd["Bolden"].request(iamat("marker", format_time(t)))
        self.wait_known(herd["Alford"], "marker", marker)
        for node in herd:
            self.assertEqual(known_line(node, "fig"), newer, node.name)
        self.wait_log(herd["Alford"], r"event=peer_in .*line=\"AT Hamilton ")

    def test_neighbour_address_given_as_a_name_is_resolved(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        port = herd["Parker"].peer_port
        with open(herd.config_path, "w") as f:
            f.write(herd.config_text().replace("peer_listen = %s:%d" % (HOST, port),
                                               "peer_listen = localhost:%d" % port))
        herd.start("Parker")
        self.wait_log(herd["Parker"], r"event=listening what=peer ")
        herd.start("Alford")
        self.wait_log(herd["Alford"], r"event=peer_(up|link_replaced) peer=Parker .*"
                                      r"direction=out address=localhost:%d" % port)
        reply = herd["Alford"].request(iamat("named", format_time(now_ns())))
        self.wait_known(herd["Parker"], "named", reply)

    def test_same_client_time_at_two_nodes_settles_on_one_record(self):
        herd = self.start_default_herd()
        line = iamat("twin", format_time(now_ns()))
        with herd["Alford"].client() as a, herd["Bolden"].client() as b:
            a.send_line(line)
            b.send_line(line)
            from_alford, from_bolden = a.read_line(), b.read_line()
        self.assertNotEqual(from_alford, from_bolden)
        winner = max(from_alford, from_bolden)
        for node in herd:
            self.wait_known(node, "twin", winner)
        # Settled: a later record from either side arrives after it, and it still holds.
        marker = herd["Hamilton"].request(iamat("marker", format_time(now_ns())))
        for node in herd:
            self.wait_known(node, "marker", marker)
            self.assertEqual(known_line(node, "twin"), winner, node.name)


# -- partitions, restarts, heartbeat, reconnection ------------------------------------------

class TestPartitions(HerdCase):

    def test_parker_down_then_back_converges_by_sync(self):
        herd = self.start_default_herd()
        herd["Parker"].kill()
        reply = herd["Alford"].request(iamat("pear", format_time(now_ns())))
        self.wait_known(herd["Powell"], "pear", reply)
        self.wait_known(herd["Bolden"], "pear", reply)
        # Bolden has it, so Parker's neighbours have had every chance; Hamilton has no path.
        self.assertIsNone(known_line(herd["Hamilton"], "pear"))
        herd["Parker"].start()
        self.wait_known(herd["Parker"], "pear", reply, timeout=10.0)
        self.wait_known(herd["Hamilton"], "pear", reply, timeout=10.0)
        self.wait_log(herd["Parker"], r"event=peer_sync_done .*peer=(Alford|Bolden) "
                                      r"mode=full received=[1-9]")

    def test_record_learnt_by_sync_is_passed_on_to_synced_neighbours(self):
        herd = self.make_herd(["Alford", "Hamilton", "Parker"],
                              peers={"Parker": ("Alford", "Hamilton")})
        herd.start()
        self.wait_linked(herd)
        alford, parker, hamilton = herd["Alford"], herd["Parker"], herd["Hamilton"]
        parker.kill()
        self.wait_log(alford, r"event=peer_down peer=Parker ")
        reply = alford.request(iamat("relay", format_time(now_ns())))
        # Parker comes back while Alford is frozen: its link with Hamilton syncs first.
        alford.signal(signal.SIGSTOP)
        self.addCleanup(lambda: alford.running() and alford.signal(signal.SIGCONT))
        parker.start()
        self.wait_log(parker, r"event=peer_sync_done .*peer=Hamilton ")
        self.assertIsNone(known_line(hamilton, "relay"))
        alford.signal(signal.SIGCONT)
        self.wait_known(parker, "relay", reply, timeout=20.0)
        self.wait_known(hamilton, "relay", reply)

    def test_every_pair_killed_in_turn_only_connected_nodes_learn(self):
        herd = self.start_default_herd()
        names = herd.names
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        for a, b in pairs:
            with self.subTest(killed=(a, b)):
                herd[a].kill()
                herd[b].kill()
                alive = [n for n in names if n not in (a, b)]
                sent = {}
                for receiver in alive:
                    client_id = "c-%s-%s-%s" % (a, b, receiver)
                    sent[client_id] = (receiver, herd[receiver].request(
                        iamat(client_id, format_time(now_ns()))))
                for client_id, (receiver, line) in sent.items():
                    for name in reachable(herd, receiver, alive):
                        self.wait_known(herd[name], client_id, line)
                # Every reachable node has every record: the others never can.
                for client_id, (receiver, line) in sent.items():
                    for name in set(alive) - reachable(herd, receiver, alive):
                        self.assertIsNone(known_line(herd[name], client_id),
                                          "%s learnt %s across the gap" % (name, client_id))
                herd[a].start()
                herd[b].start()
                self.wait_linked(herd)
                for client_id, (receiver, line) in sent.items():
                    for node in herd:
                        self.wait_known(node, client_id, line)

    def test_heartbeat_drops_a_frozen_neighbour_and_sync_heals(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start()
        self.wait_linked(herd)
        parker = herd["Parker"]
        parker.signal(signal.SIGSTOP)
        self.addCleanup(lambda: parker.running() and parker.signal(signal.SIGCONT))
        self.wait_log(herd["Alford"], r"event=peer_down peer=Parker .*reason=\"heartbeat timeout",
                      timeout=20.0)
        reply = herd["Alford"].request(iamat("plum", format_time(now_ns())))
        parker.signal(signal.SIGCONT)
        self.wait_known(parker, "plum", reply, timeout=15.0)

    def test_reconnect_backoff_is_capped_exponential_with_jitter(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"peer_backoff_max": 1})
        alford = herd.start("Alford")
        retry = re.compile(r"event=peer_retry peer=Parker attempt=(\d+) delay_ms=(\d+)")
        self.wait_for("six retries", lambda: len([l for l in current_log(alford)
                                                  if retry.search(l)]) >= 6, timeout=15.0)
        lines = current_log(alford)
        retries = [(int(m.group(1)), int(m.group(2)))
                   for m in map(retry.search, lines) if m]
        self.assertEqual([a for a, _ in retries], list(range(len(retries))))
        self.assertLessEqual(retries[0][1], 250, "first retry")
        for attempt, delay in retries:
            step = min(200 * 2 ** attempt, 1000)
            self.assertGreaterEqual(delay, step // 2, "attempt %d" % attempt)
            self.assertLessEqual(delay, step, "attempt %d" % attempt)
        # Each dial came no sooner than the delay announced before it.
        announced = None
        for line in lines:
            m = retry.search(line)
            if m:
                announced = (_log_time(line), int(m.group(2)))
            elif "event=peer_connecting" in line and announced is not None:
                waited = _log_time(line) - announced[0]
                # The timer counts from the loop's cached time, taken a little before the
                # announcing line is logged, so allow a few milliseconds of that.
                self.assertGreaterEqual(waited, announced[1] / 1000.0 - 0.010, line)
                announced = None
        self.assertTrue(any('reason="connect failed: Connection refused"' in l for l in lines))
        herd.start("Parker")
        self.wait_linked(herd, timeout=10.0)
        self.wait_log(alford, r"event=peer_up peer=Parker ")


def _log_time(line):
    """Seconds of a log line's UTC timestamp (since midnight is enough for differences)."""
    m = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d\.\d+)Z", line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


# -- sync --------------------------------------------------------------------------------

class TestSync(HerdCase):

    def test_large_table_streams_to_a_neighbour_that_starts_later(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        alford = herd.start("Alford")
        count = 20000
        t = format_time(now_ns())
        replies = send_pipelined(alford, [iamat("bulk%05d" % i, t) for i in range(count)])
        parker = herd.start("Parker")
        self.wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=full received=%d "
                      r"stored=%d" % (count, count), timeout=30.0)
        self.wait_log(alford, r"event=peer_sync_sent .*peer=Parker records=%d" % count)
        for i in (0, 1, count // 2, count - 1):
            self.assertEqual(known_line(parker, "bulk%05d" % i), replies[i])


    def test_table_that_grows_during_a_sync_is_still_sent_whole(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        alford = self.start_for_fakes(herd, "Alford")
        # 9000 long records: far more than the socket buffers hold, so the walk pauses.
        location = b"+34." + b"5" * 400 + b"-118." + b"6" * 400
        t = format_time(now_ns())
        old_ids = [b"old%04d-" % i + b"y" * 200 for i in range(9000)]
        send_pipelined(alford, [iamat(i, t, location) for i in old_ids])
        parker = FakePeer.connect(alford.peer_port, "Parker", herd_secret(herd), rcvbuf=4096)
        self.addCleanup(parker.close)
        self.assertTrue(parker.handshake())
        self.addCleanup(parker.keep_pinging().set)
        # While Parker reads nothing, 7500 new clients make the table double its buckets.
        new_ids = [b"new%04d" % i for i in range(7500)]
        send_pipelined(alford, [iamat(i, t) for i in new_ids])
        seen, synced = set(), False
        deadline = time.monotonic() + scaled(60.0)
        while not (synced and len(seen) == len(old_ids) + len(new_ids)):
            self.assertLess(time.monotonic(), deadline, "%d records so far" % len(seen))
            line = parker.read_line(timeout=10.0)
            self.assertIsNotNone(line, "Alford closed the link")
            if line.startswith(b"SYNC AT ") or line.startswith(b"AT "):
                seen.add(line.split()[3 if line.startswith(b"AT ") else 4])
            synced = synced or line.startswith(b"SYNC-END ")
        self.assertEqual(seen, set(old_ids) | set(new_ids))
        self.wait_log(alford, r"event=peer_sync_restart .*peer=Parker .*reason=\"table grew\"")


# -- authentication and forged peers ---------------------------------------------------------

class TestAuthentication(HerdCase):
    """Alford runs; Parker is its configured neighbour, played by a fake; Hamilton is a
    node of the herd but not Alford's neighbour."""

    def setUp(self):
        self.herd = self.make_herd(["Alford", "Hamilton", "Parker"],
                                   peers={"Alford": "Parker", "Hamilton": "Parker"})
        self.alford = self.start_for_fakes(self.herd, "Alford")
        self.secret = herd_secret(self.herd)

    def fake(self, name="Parker", secret=None):
        peer = FakePeer.connect(self.alford.peer_port, name,
                                self.secret if secret is None else secret)
        self.addCleanup(peer.close)
        return peer

    def assertUnknown(self, client_id):
        self.assertIsNone(known_line(self.alford, client_id))

    def assertRejected(self, reason):
        self.wait_log(self.alford, r"event=peer_reject .*reason=\".*%s" % reason)

    def test_genuine_neighbour_is_accepted_both_ways(self):
        peer = self.fake()
        self.assertTrue(peer.handshake(), "Alford's MAC does not verify with the herd secret")
        self.assertEqual(peer.read_sync(), {})
        line = b"AT Parker +0.000000001 genuine " + LOCATION + b" 1700000000"
        peer.send_line(line)
        self.wait_for("Alford to store it", lambda: known_line(self.alford, "genuine") == line)
        reply = self.alford.request(iamat("outbound", format_time(now_ns())))
        self.assertEqual(peer.read_until(lambda l: l.startswith(b"AT ")), reply)

    def test_wrong_secret_is_dropped(self):
        peer = self.fake(secret=b"not the herd secret")
        self.assertFalse(peer.handshake())
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("bad MAC")
        self.assertUnknown("forged")

    def test_records_after_a_bad_mac_are_not_stored(self):
        peer = self.fake(secret=b"not the herd secret")
        peer.send_hello()
        peer.read_hello()
        # Everything at once, before the node can answer.
        peer.sock.sendall(("AUTH %s\n" % peer.my_mac()).encode()
                          + b"AT Parker +0.0 forged " + LOCATION + b" 1700000000\n")
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("bad MAC")
        self.assertUnknown("forged")

    def test_unknown_name_is_dropped(self):
        peer = self.fake(name="Mallory")
        peer.send_hello()
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("unknown node")

    def test_node_that_is_not_a_neighbour_is_dropped(self):
        peer = self.fake(name="Hamilton")
        peer.send_hello()
        peer.read_hello()
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("Hamilton is not a neighbour")
        # A node of the herd: named in the refusal, not as "?".
        self.wait_log(self.alford, r"event=peer_reject link=\d+ address=\S+ peer=Hamilton "
                                   r"reason=\"Hamilton is not a neighbour\"")

    def test_node_cannot_claim_to_be_alford(self):
        peer = self.fake(name="Alford")
        peer.send_hello()
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("claims to be this node")

    def test_at_before_handshake_is_dropped(self):
        peer = self.fake()
        peer.send_line(b"AT Parker +0.000000000 early " + LOCATION + b" 1700000000")
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("AT before handshake")
        self.assertUnknown("early")

    def test_at_between_hello_and_auth_is_dropped(self):
        peer = self.fake()
        peer.send_hello()
        peer.read_hello()
        peer.send_line(b"AT Parker +0.000000000 midway " + LOCATION + b" 1700000000")
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("AT before handshake")
        self.assertUnknown("midway")

    def test_reflected_mac_is_dropped(self):
        # The attacker cannot compute Parker's MAC, so it sends Alford's own back.
        peer = self.fake(secret=b"unknown to the attacker")
        peer.send_hello()
        peer.read_hello()
        alford_auth = peer.read_auth()
        peer.send_line(alford_auth)
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("bad MAC")
        self.assertFalse(any("event=peer_up" in l for l in current_log(self.alford)))

    def test_reflected_nonce_is_dropped(self):
        peer = self.fake()
        peer.read_hello()
        peer.send_hello(nonce=peer.their_nonce)
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("our own nonce sent back")

    def test_replayed_auth_is_dropped(self):
        genuine = self.fake()
        self.assertTrue(genuine.handshake())
        recorded_hello = "HELLO %s Parker %s" % (PROTOCOL, genuine.nonce)
        recorded_auth = "AUTH " + genuine.my_mac()
        genuine.close()
        # An eavesdropper replays that conversation: Alford's fresh nonce defeats it.
        replay = self.fake(secret=b"")
        replay.send_line(recorded_hello)
        replay.read_hello()
        replay.send_line(recorded_auth)
        self.assertTrue(replay.closed_by_node())
        self.assertRejected("bad MAC")

    def test_sync_record_outside_a_sync_is_refused(self):
        # Sync records are logged at debug only: one sent at any time was stored and
        # served with no line about it in the log.
        t = b"%d.000000000" % (time.time() - 10)
        peer = self.fake()
        self.assertTrue(peer.handshake())
        peer.read_sync()
        peer.send_line(b"SYNC AT Parker +0.100000000 outside " + LOCATION + b" " + t)
        self.assertTrue(peer.closed_by_node())
        self.wait_log(self.alford, r"event=peer_protocol_error .*SYNC record outside a sync")
        self.assertUnknown("outside")
        # Inside one it is a record like any other.
        peer = self.fake()
        self.assertTrue(peer.handshake())
        peer.read_sync()
        peer.send_line(b"SYNC-BEGIN 1")
        peer.send_line(b"SYNC AT Parker +0.100000000 inside " + LOCATION + b" " + t)
        peer.send_line(b"SYNC-END 1")
        herdtest.wait_until(lambda: known_line(self.alford, "inside") is not None,
                            what="the synced record")

    def test_auth_after_the_handshake_is_logged_without_its_mac(self):
        # README: AUTH lines are logged as "AUTH (mac)". The protocol error for an AUTH
        # out of turn logged all 64 hex digits.
        peer = self.fake()
        self.assertTrue(peer.handshake())
        mac = peer.my_mac()
        peer.send_line("AUTH " + mac)
        self.assertTrue(peer.closed_by_node())
        self.wait_log(self.alford, r"event=peer_protocol_error .*line=\"AUTH \(mac\)\"")
        self.assertFalse(any(mac in l for l in current_log(self.alford)))

    def test_silent_connection_is_dropped(self):
        peer = self.fake()
        self.assertTrue(peer.closed_by_node(timeout=20.0))
        self.wait_log(self.alford, r"event=peer_link_close .*reason=\"handshake timeout\"")

    def test_overlong_line_before_handshake_is_dropped(self):
        peer = self.fake()
        try:
            peer.sock.sendall(b"H" * 100000)
        except OSError:
            pass
        self.assertTrue(peer.closed_by_node())
        self.assertRejected("line of more than")


class TestDuplicateLinks(HerdCase):
    """Parker, played by a fake, links with Alford twice; both ends must keep the same one."""

    def setUp(self):
        self.herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        self.secret = herd_secret(self.herd)

    def test_newer_of_two_links_dialled_by_the_neighbour_stays(self):
        alford = self.start_for_fakes(self.herd, "Alford")
        first = FakePeer.connect(alford.peer_port, "Parker", self.secret)
        self.addCleanup(first.close)
        self.assertTrue(first.handshake())
        second = FakePeer.connect(alford.peer_port, "Parker", self.secret)
        self.addCleanup(second.close)
        self.assertTrue(second.handshake())
        self.assertTrue(first.closed_by_node())
        self.assertTrue(second.is_open())
        self.wait_log(alford, r"reason=\"duplicate link: replaced by the new one\"")

    def test_link_dialled_by_the_smaller_name_stays_either_way(self):
        # Alford dials Parker's address, where the fake listens, as soon as it starts.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.herd["Parker"].peer_port))
        listener.listen(4)
        alford = self.start_for_fakes(self.herd, "Alford")
        dialled_by_alford = FakePeer.accept(listener, "Parker", self.secret)
        self.addCleanup(dialled_by_alford.close)
        # Parker's own link comes up first; then Alford's, which must win: "Alford" < "Parker".
        dialled_by_parker = FakePeer.connect(alford.peer_port, "Parker", self.secret)
        self.addCleanup(dialled_by_parker.close)
        self.assertTrue(dialled_by_parker.handshake())
        self.assertTrue(dialled_by_alford.handshake())
        self.assertTrue(dialled_by_parker.closed_by_node())
        self.assertTrue(dialled_by_alford.is_open())
        # And the other way round: a link Parker dials later loses to Alford's. Alford may
        # close it in the same turn as it queues its AUTH, so only our side is sure to finish.
        late = FakePeer.connect(alford.peer_port, "Parker", self.secret)
        self.addCleanup(late.close)
        late.send_hello()
        late.read_hello()
        late.send_line("AUTH " + late.my_mac())
        self.assertTrue(late.closed_by_node())
        self.assertTrue(dialled_by_alford.is_open())
        self.wait_log(alford, r"reason=\"duplicate link: the existing one stays\"")

    def test_real_nodes_started_together_keep_one_link(self):
        # Started at once, both dial: each round must end with one TCP connection.
        for round_ in range(3):
            self.herd.start()
            self.wait_linked(self.herd)
            self.wait_for("one connection between Alford and Parker",
                          lambda: peer_connections(self.herd) == 1)
            reply = self.herd["Alford"].request(iamat("once%d" % round_, format_time(now_ns())))
            self.wait_known(self.herd["Parker"], "once%d" % round_, reply)
            self.assertEqual(peer_connections(self.herd), 1)
            for node in self.herd:
                node.stop()


# -- the secret ----------------------------------------------------------------------------

class TestSecret(HerdCase):

    def test_loopback_herd_without_secret_links_unauthenticated_with_a_warning(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"}, secret=False)
        herd.start()
        self.wait_linked(herd)
        self.wait_log(herd["Alford"], r"level=warn .*event=peer_links_unauthenticated")
        reply = herd["Alford"].request(iamat("open", format_time(now_ns())))
        self.wait_known(herd["Parker"], "open", reply)
        # An empty key is still a key: a peer with some other secret is refused.
        peer = FakePeer.connect(herd["Alford"].peer_port, "Parker", b"some secret")
        self.addCleanup(peer.close)
        self.assertFalse(peer.handshake())
        self.assertTrue(peer.closed_by_node())

    def _start_fails(self, herd, pattern):
        node = herd["Alford"]
        node.start(wait=False)
        self.assertNotEqual(node.wait(), 0)
        self.assertRegex(node.log(), pattern)

    def test_empty_secret_file_is_refused(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        with open(herd.secret_path, "wb") as f:
            f.write(b"\n")
        self._start_fails(herd, r"event=startup_failed what=secret_file .*error=\"empty\"")

    def test_unreadable_secret_file_is_refused(self):
        # Found with the configuration's other problems, at its line, before the start.
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        os.unlink(herd.secret_path)
        node = herd["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertRegex(node.stderr_text(), r"(?m)^%s:\d+: secret_file %s: no such file" % (
            re.escape(herd.config_path), re.escape(herd.secret_path)))

    def test_secret_is_never_logged(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start()
        self.wait_linked(herd)
        secret = herd_secret(herd).decode()
        for node in herd:
            self.assertNotIn(secret, node.log())

    def test_no_secret_with_a_peer_off_loopback_is_refused(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"}, secret=False)
        text = herd.config_text().replace(
            "peer_listen = %s:%d" % (HOST, herd["Parker"].peer_port),
            "peer_listen = 192.0.2.1:%d" % herd["Parker"].peer_port)
        with open(herd.config_path, "w") as f:
            f.write(text)
        result = run_herdd(["-c", herd.config_path, "-n", "Alford", "-t"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("secret_file is required", result.stderr)


# -- backpressure -------------------------------------------------------------------------

class TestBackpressure(HerdCase):

    def test_neighbour_that_stops_reading_is_kept_and_owed_only_the_newest(self):
        herd = self.make_herd(["Alford", "Lazy", "Parker"],
                              peers={"Alford": ("Lazy", "Parker")})
        # Under AddressSanitizer freed memory waits in a quarantine and would count as peak.
        options = [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=1"]
        herd["Alford"].env["ASAN_OPTIONS"] = ":".join(o for o in options if o)
        alford = self.start_for_fakes(herd, "Alford")
        secret = herd_secret(herd)
        lazy = FakePeer.connect(alford.peer_port, "Lazy", secret, rcvbuf=4096)
        self.addCleanup(lazy.close)
        self.assertTrue(lazy.handshake())
        lazy.read_sync()
        # Alive (its heartbeat keeps coming) but reading nothing for now.
        self.addCleanup(lazy.keep_pinging().set)
        before_kib = vm_hwm_kib(alford.pid)

        # Long (valid) lines, so the flood outgrows every buffer without a huge log.
        clients = [b"%03d-" % i + b"x" * 250 for i in range(100)]
        location = b"+34." + b"1" * 700 + b"-118." + b"2" * 700
        rounds = 120
        t0 = now_ns()
        lines = [iamat(clients[i], format_time(t0 + r * NS), location)
                 for r in range(rounds) for i in range(len(clients))]
        flooded = sum(len(line) for line in lines)
        self.assertGreater(flooded, 16 * 1024 * 1024)
        replies = send_pipelined(alford, lines)

        grown_kib = vm_hwm_kib(alford.pid) - before_kib
        self.assertLess(grown_kib, 8 * 1024,
                        "peak memory grew %d KiB while %d bytes were flooded to a neighbour "
                        "that does not read" % (grown_kib, flooded))
        # Past the window the link owes each client's record once, as it is when sent.
        log = alford.log()
        self.assertNotIn("event=peer_down peer=Lazy", log)
        self.assertNotIn("event=peer_output_limit", log)

        # It reads again: what it gets ends with the newest record of every client.
        newest = dict((reply.split()[3], reply) for reply in replies)
        got = {}

        def take(line):
            if line.startswith(b"AT "):
                got[line.split()[3]] = line
            return got == newest
        self.assertIsNotNone(lazy.read_until(take, timeout=30.0),
                             "%d of %d clients newest" % (
                                 sum(got.get(k) == v for k, v in newest.items()), len(newest)))
        self.assertNotIn("event=peer_down peer=Lazy", alford.log())
        # And a real neighbour that comes up now converges too.
        parker = herd.start("Parker")
        self.wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=full received=100 "
                              r"stored=100")
        for client_id in (clients[0], clients[57], clients[99]):
            self.assertEqual(known_line(parker, client_id), newest[client_id])


if __name__ == "__main__":
    herdtest.main()
