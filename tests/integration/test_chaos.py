"""Chaos (README "Limits"): the default five-node herd under about 1,000 IAMAT/s while a
random node is killed with SIGKILL and restarted, again and again, for a minute. At the
end every node holds, for every client, a record at least as new as the newest one a
node acknowledged more than a second before the end.

TestChaos kills one node at a time, and the next kill waits until the restarted node is
linked again: a record acknowledged by the only node holding it is kept by its
neighbours (the node hands records to their sockets before it replies), but surviving
two crashes of the nodes that hold it needs state_dir. TestChaosDurable runs the herd
with state_dir and kills any node at any time, up to two at once, without waiting for
links, and now and then the whole herd at once: every node must end with the newest
acknowledged record of every client (without state_dir, the whole-herd kills lose them).

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_chaos.py -v
  HERD_CHAOS_SECONDS sets the length of the chaos (default 60).
"""

import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HOST, format_time, now_ns, parse_time, scaled  # noqa: E402
from herdpeer import HerdCase, linked_peers, neighbours_of  # noqa: E402

SECONDS = float(os.environ.get("HERD_CHAOS_SECONDS", "60"))
CLIENTS = 300
RATE = 1000          # IAMATs a second, over all nodes
BATCH = 10           # IAMATs sent to one node at once


class Load:
    """Sends IAMATs for CLIENTS IDs to random live nodes and remembers every ack."""

    def __init__(self, herd, down, lock):
        self.herd = herd
        self.down = down
        self.lock = lock
        self.acks = {}          # client ID -> [(monotonic time of the ack, client time ns)]
        self.sent = 0
        self.stop = threading.Event()
        self.conns = {}
        self.rng = random.Random(11)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def conn(self, name):
        sock = self.conns.get(name)
        if sock is None:
            sock = socket.create_connection((HOST, self.herd[name].client_port), timeout=1)
            self.conns[name] = sock
        return sock

    def drop(self, name):
        sock = self.conns.pop(name, None)
        if sock is not None:
            sock.close()

    def batch(self, name):
        """BATCH IAMATs on NAME's connection; records the AT replies that come back."""
        ids = [self.rng.randrange(CLIENTS) for _ in range(BATCH)]
        lines = []
        for i in ids:
            lines.append(b"IAMAT chaos%03d +34.%06d-118.25 %s" % (
                i, self.rng.randrange(1000000), format_time(now_ns()).encode()))
        try:
            sock = self.conn(name)
            sock.sendall(b"".join(line + b"\n" for line in lines))
            self.sent += len(lines)
            buf = b""
            deadline = time.monotonic() + 1
            while buf.count(b"\n") < len(lines) and time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
        except OSError:
            self.drop(name)
            return
        acked_at = time.monotonic()
        for reply in buf.split(b"\n")[:-1]:
            words = reply.split()
            if len(words) == 6 and words[0] == b"AT":
                self.acks.setdefault(words[3].decode(), []).append(
                    (acked_at, parse_time(words[5])))
        if buf.count(b"\n") < len(lines):
            self.drop(name)

    def run(self):
        next_at = time.monotonic()
        while not self.stop.is_set():
            with self.lock:
                live = [n for n in self.herd.names if n not in self.down]
            if live:
                self.batch(self.rng.choice(live))
            next_at += BATCH / RATE
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        for name in list(self.conns):
            self.drop(name)

    def newest_acked_before(self, when):
        """Client ID -> the newest client time acknowledged before WHEN (monotonic)."""
        out = {}
        for client_id, acks in self.acks.items():
            times = [t for at, t in acks if at < when]
            if times:
                out[client_id] = max(times)
        return out


class TestChaos(HerdCase):

    def relinked(self, herd, name):
        """True when NAME's links to all its neighbours are up again."""
        return neighbours_of(herd, name) <= linked_peers(herd[name])

    def test_kill_and_restart_under_load(self):
        herd = self.start_default_herd()
        lock = threading.Lock()
        down = set()
        load = Load(herd, down, lock)
        rng = random.Random(7)
        kills = 0
        load.thread.start()
        end = time.monotonic() + scaled(SECONDS)
        try:
            while time.monotonic() < end - 2:
                time.sleep(rng.uniform(1.0, 2.5))
                name = rng.choice(herd.names)
                with lock:
                    down.add(name)
                herd[name].kill()
                kills += 1
                time.sleep(rng.uniform(0.2, 1.0))
                herd[name].start()
                self.wait_for("%s to link again" % name, lambda: self.relinked(herd, name),
                              timeout=10)
                with lock:
                    down.discard(name)
        finally:
            load.stop.set()
            load.thread.join(scaled(10))
        stopped = time.monotonic()
        self.check_every_node_holds(herd, load, load.newest_acked_before(stopped - 1), kills)

    def check_every_node_holds(self, herd, load, want, kills):
        """Every node ends up holding, for each client, at least the record in WANT."""
        self.assertGreater(kills, 10)
        self.assertGreater(load.sent, SECONDS * RATE * 0.5, "the load did not run")
        self.assertEqual(len(want), CLIENTS)
        self.wait_linked(herd)

        def behind():
            """(node, client) pairs where the node holds less than the newest ack."""
            missing = []
            for node in herd:
                status, doc = node.admin("/clients?limit=1000")
                if status != 200:
                    return ["%s: /clients %s" % (node.name, status)]
                held = {c["id"]: parse_time(c["client_time"]) for c in doc["clients"]}
                for client_id, t in want.items():
                    if held.get(client_id, -1) < t:
                        missing.append("%s %s" % (node.name, client_id))
            return missing
        deadline = time.monotonic() + scaled(10)
        while behind() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(behind(), [], "acknowledged records lost after %d kills" % kills)


class TestChaosDurable(TestChaos):

    MAX_DOWN = 2

    def test_kill_and_restart_under_load(self):
        herd = self.start_default_herd(state_dir="state", state_compact_min=500)
        lock = threading.Lock()
        down = {}               # name -> when it starts again (monotonic)
        load = Load(herd, down, lock)
        rng = random.Random(13)
        kills = 0
        load.thread.start()
        end = time.monotonic() + scaled(SECONDS)
        try:
            while time.monotonic() < end - 2:
                time.sleep(rng.uniform(0.3, 1.2))
                now = time.monotonic()
                for name, at in list(down.items()):
                    if at <= now:
                        herd[name].start()
                        with lock:
                            del down[name]
                if rng.random() < 0.12:
                    # The whole herd at once: only state_dir keeps what was acknowledged.
                    with lock:
                        for name in herd.names:
                            down[name] = max(down.get(name, 0), now + rng.uniform(0.2, 1.0))
                    for node in herd:
                        node.kill()
                    kills += len(herd.names)
                    continue
                name = rng.choice(herd.names)
                if name in down or len(down) >= self.MAX_DOWN:
                    continue
                with lock:
                    down[name] = now + rng.uniform(0.2, 2.0)
                herd[name].kill()
                kills += 1
        finally:
            load.stop.set()
            load.thread.join(scaled(10))
        # Last, the whole herd at once, with no load after it to cover a loss.
        for node in herd:
            node.kill()
        herd.start()
        # Every acknowledgement counts, up to the last one.
        want = load.newest_acked_before(time.monotonic())
        self.check_every_node_holds(herd, load, want, kills)
        # The counters start again with each process; the logs span them all.
        snapshots = sum(node.log().count("event=state_snapshot file=") for node in herd)
        self.assertGreater(snapshots, 0, "no node wrote a snapshot during the chaos")


if __name__ == "__main__":
    herdtest.main()
