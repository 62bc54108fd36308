"""Durable records (README "Durability"): with state_dir set, an acknowledged IAMAT
survives kill -9 of the node that acknowledged it, and the table survives a restart of
the whole herd; damaged files are reported line by line and the rest loads; another
herd's or node's files, and a state_dir the node cannot use, stop it at start.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_state.py -v
"""

import glob
import os
import random
import re
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HOST, now_ns  # noqa: E402
from herdtest import DEFAULT_PEERS  # noqa: E402
from herdpeer import HerdCase, held  # noqa: E402
from herdpeer import iamat_ns as iamat  # noqa: E402

def written_text(strace_line):
    """(fd, the bytes a write or writev of STRACE_LINE wrote, its iovecs joined) or None:
    a line cut between two iovecs is found whole."""
    m = re.search(r"\b(writev?)\((\d+), (.*)", strace_line)
    if m is None:
        return None
    if m.group(1) == "write":
        return int(m.group(2)), m.group(3)
    return int(m.group(2)), "".join(re.findall(r'iov_base="((?:[^"\\]|\\.)*)"', m.group(3)))


def reply_order(trace, record):
    """From an strace of write,writev: (replies, early, journaled, journal_writes). RECORD
    (a regex) finds a record's ID in an AT line; replies counts the AT lines written to
    sockets, early those written before the journal write that holds their record,
    journaled the IDs the journal took in JOURNAL_WRITES writes. A reply counts once whole,
    by what each call wrote (its result), not all it was given: a socket that took part of
    it is given the rest again."""
    journaled, early, replies, journal_writes, stream = set(), [], 0, 0, {}
    with open(trace) as f:
        for line in f:
            written = written_text(line)
            if written is None or "level=" in written[1]:
                continue        # not a write, or the node's own log
            if re.search(r"[0-9a-f]{8} AT Alford ", written[1]):
                ids = record.findall(written[1])
                journaled.update(ids)
                journal_writes += bool(ids)
                continue
            done = re.search(r"\) = (\d+)$", line.rstrip())
            text = written[1].replace("\\n", "\n")[:int(done.group(1)) if done else 0]
            whole, _, stream[written[0]] = (stream.get(written[0], "") + text).rpartition("\n")
            ids = record.findall(whole)
            replies += len(ids)
            early += [i for i in ids if i not in journaled]
    return replies, early, journaled, journal_writes


def state_stats(node):
    return node.stats()["state"]


def fill(path):
    """Writes PATH until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def rss_kib(node):
    """NODE's resident memory (VmRSS), in KiB."""
    with open("/proc/%d/status" % node.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def journals(state_dir, name):
    """NAME's journal files in STATE_DIR, oldest first."""
    files = glob.glob(os.path.join(state_dir, name + ".journal.*"))
    return sorted(files, key=lambda p: int(p.rsplit(".", 1)[1]))


class StateCase(HerdCase):

    def durable_herd(self, names=("Alford",), peers=None, **options):
        opts = {"state_dir": "state"}
        opts.update(options)
        herd = self.make_herd(list(names), peers=peers or {}, herd_options=opts)
        herd.state_dir = os.path.join(herd.dir, "state")
        return herd

    def send_all(self, node, lines):
        """Sends LINES pipelined on one connection; returns the reply lines, in order."""
        with node.client(timeout=30) as c:
            c.send(b"".join(line + b"\n" for line in lines))
            return c.read_lines(len(lines), timeout=60)


class TestAcknowledgedSurvivesCrash(StateCase):

    def test_kill_9_just_after_the_reply_loses_nothing(self):
        """100 trials: IAMAT, read the AT reply, 0 to 5 ms later kill -9, restart. The
        node has no neighbour, so what it holds after all the restarts came from its own
        state_dir."""
        herd = self.durable_herd()
        node = herd["Alford"]
        node.start()
        acked = {}
        base = now_ns()
        for trial in range(100):
            client_id = "crash%03d" % trial
            with node.client() as c:
                reply = c.request(iamat(client_id, base + trial * 1000))
            self.assertAtLine(reply, server="Alford", client_id=client_id)
            acked[client_id] = reply.decode()
            time.sleep((trial % 6) / 1000.0)
            node.kill()
            node.start()
        have = held(node)
        lost = sorted(set(acked) - set(have))
        self.assertEqual(lost, [], "acknowledged records lost after kill -9")
        for client_id, line in acked.items():
            self.assertEqual(have[client_id], line)
        self.assertGreaterEqual(state_stats(node)["loaded_records"], 99)

    def test_without_state_dir_the_node_forgets(self):
        """The same kill without state_dir: the record is gone (so the test above can
        fail, and does for a node that keeps nothing)."""
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        node.start()
        node.request(iamat("volatile", now_ns()))
        node.kill()
        node.start()
        self.assertEqual(held(node), {})
        self.assertEqual(state_stats(node)["enabled"], 0)


class TestReplyOrder(StateCase):
    """Seen from the system calls (strace): every AT reply goes to its socket after the
    journal write that holds its record, and one write takes the records of several
    connections at once."""

    CONNECTIONS = 4
    ROUNDS = 50
    BATCH = 5

    def test_journal_write_comes_before_each_reply(self):
        herd = self.durable_herd()
        node = herd["Alford"]
        trace = os.path.join(self.tmp, "trace.txt")
        self.start_under_strace(node, trace, "write,writev")
        clients = [node.client(timeout=30) for _ in range(self.CONNECTIONS)]
        base = now_ns()
        for r in range(self.ROUNDS):
            for k, c in enumerate(clients):
                c.send(b"".join(iamat("o%d-%d-%d" % (k, r, i), base + r * 100 + i) + b"\n"
                                for i in range(self.BATCH)))
            for c in clients:
                c.read_lines(self.BATCH, timeout=30)
        for c in clients:
            c.close()
        self.stop_under_strace(node)

        replies, early, journaled, journal_writes = reply_order(
            trace, re.compile(r"AT Alford \S+ (o\d+-\d+-\d+) "))
        total = self.CONNECTIONS * self.ROUNDS * self.BATCH
        self.assertEqual(replies, total)
        self.assertEqual(early, [], "replies written before their journal write")
        self.assertEqual(len(journaled), total)
        self.assertLess(journal_writes, total / self.BATCH, "records are not batched")


class TestReplyOrderOfAPausedClient(StateCase):
    """A client that pipelines more than it reads is paused with whole lines kept; when its
    replies go out and it is resumed, the lines it then runs are journaled before their
    replies too. Resumed inside the release of the held clients, it was released again in
    the same loop, before the journal write of what it had just run."""

    LINES = 100000

    def test_lines_run_on_resume_wait_for_their_journal_write(self):
        herd = self.durable_herd()
        node = herd["Alford"]
        trace = os.path.join(self.tmp, "trace.txt")
        self.start_under_strace(node, trace, "write,writev")
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect((HOST, node.client_port))
        self.addCleanup(c.close)
        base = now_ns()
        lines = b"".join(iamat("p%d" % i, base + i) + b"\n" for i in range(self.LINES))
        sender = threading.Thread(target=c.sendall, args=(lines,), daemon=True)
        sender.start()
        # Read in bursts: between them the node's output for the client passes its high
        # mark and the client is paused with lines kept; each burst empties the socket, so
        # the next write takes enough to resume it.
        # (MSG_DONTWAIT: the sender's sendall needs the socket blocking.)
        replies = 0
        deadline = time.monotonic() + herdtest.scaled(60)
        while replies < self.LINES and time.monotonic() < deadline:
            time.sleep(0.005)
            try:
                while True:
                    data = c.recv(1 << 20, socket.MSG_DONTWAIT)
                    self.assertTrue(data, "the node closed after %d replies" % replies)
                    replies += data.count(b"\n")
            except BlockingIOError:
                pass
        self.assertEqual(replies, self.LINES)
        sender.join(10)
        c.close()
        self.stop_under_strace(node)

        count, early, _, _ = reply_order(trace, re.compile(r"AT Alford \S+ (p\d+) "))
        self.assertEqual(count, self.LINES)
        self.assertEqual(early[:5], [], "%d replies written before their journal write" %
                         len(early))


class TestFloodBeforeReply(StateCase):
    """Without state_dir a node keeps nothing, so what keeps an acknowledged record is its
    neighbours: seen through strace, every record goes to the neighbour's socket before
    its AT reply goes to the client's (replies of a pass that flooded wait for its end)."""

    def test_neighbour_socket_first(self):
        # Plaintext links, so that strace shows the records in the neighbour's writes.
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"peer_tls": "off"})
        herd["Bolden"].start()
        node = herd["Alford"]
        trace = os.path.join(self.tmp, "trace.txt")
        self.start_under_strace(node, trace, "write,writev,accept4")
        self.wait_linked(herd, timeout=30)
        clients = [node.client(timeout=30) for _ in range(4)]
        ports = {c.sock.getsockname()[1] for c in clients}
        base = now_ns()
        for r in range(25):
            for k, c in enumerate(clients):
                c.send(b"".join(iamat("f%d-%d-%d" % (k, r, i), base + r * 100 + i) + b"\n"
                                for i in range(5)))
            for c in clients:
                c.read_lines(5, timeout=30)
        for c in clients:
            c.close()
        self.stop_under_strace(node)

        client_fds, first_write = set(), {}
        record = re.compile(r"AT Alford \S+ (f\d+-\d+-\d+) ")
        with open(trace) as f:
            for line in f:
                m = re.search(r"accept4\(\d+, \{.*htons\((\d+)\).*\) = (\d+)", line)
                if m and int(m.group(1)) in ports:
                    client_fds.add(int(m.group(2)))
                    continue
                written = written_text(line)
                if written is None or "level=" in written[1]:
                    continue
                for client_id in record.findall(written[1]):
                    first_write.setdefault(client_id, written[0])
        self.assertEqual(len(client_fds), 4, "the clients' accepts were not seen")
        self.assertEqual(len(first_write), 4 * 25 * 5)
        early = sorted(i for i, fd in first_write.items() if fd in client_fds)
        self.assertEqual(early, [], "replies written before their record went to the neighbour")


class TestFullDisk(StateCase):
    """No reply claims a record the journal does not have: on a full disk the AT reply
    waits, and goes out once the write succeeds."""

    def setUp(self):
        self.small = self.small_tmpfs("small")

    def test_reply_waits_for_the_journal(self):
        herd = self.make_herd(["Alford"], herd_options={"state_dir": self.small})
        node = herd["Alford"]
        node.start()
        self.assertAtLine(node.request(iamat("before", now_ns())), client_id="before")
        filler = os.path.join(self.small, "filler")
        fill(filler)
        # More than the journal's last page still takes (tmpfs allocates by the page).
        count = 200
        base = now_ns()
        with node.client() as c:
            c.send(b"".join(iamat("held%03d" % i, base + i) + b"\n" for i in range(count)))
            early = c.read_available(wait=1.0)
            self.assertLess(early.count(b"\n"), count, "replies before their records were "
                            "written")
            self.assertIn("event=state_write_failed", node.log())
            os.remove(filler)
            rest = c.read_lines(count - early.count(b"\n"), timeout=5)
        replies = early.splitlines() + rest
        self.assertEqual(len(replies), count)
        self.assertGreater(state_stats(node)["write_errors"], 0)
        node.kill()
        node.start()
        have = held(node)
        for i, reply in enumerate(replies):
            self.assertAtLine(reply, client_id="held%03d" % i)
            self.assertEqual(have.get("held%03d" % i), reply.decode())

    def test_a_neighbour_flooding_a_full_disk_costs_bounded_memory(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"state_dir": self.small})
        alford, bolden = herd["Alford"], herd["Bolden"]
        # Bolden keeps nothing: only Alford's disk is full.
        path = os.path.join(herd.dir, "bolden.conf")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in herd.config_text().splitlines()
                            if not line.startswith("state_dir")))
        bolden.extra_args = ["-c", path]
        # Under ASan, freed memory is reused (not held in quarantine), as without it.
        options = [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=1"]
        alford.env["ASAN_OPTIONS"] = ":".join(o for o in options if o)
        herd.start()
        self.wait_linked(herd)
        self.assertAtLine(alford.request(iamat("before", now_ns())), client_id="before")
        fill(os.path.join(self.small, "filler"))
        before = rss_kib(alford)
        # Enough records to tell (below), however slow the machine, within a bound.
        sent, enough = 0, 600000
        deadline = time.monotonic() + 20
        with bolden.client(timeout=30) as c:
            while sent < enough and time.monotonic() < deadline:
                base = now_ns()
                c.send(b"".join(iamat("flood%03d" % (i % 400), base + i) + b"\n"
                                for i in range(5000)))
                c.read_lines(5000, timeout=30)
                sent += 5000
        self.wait_for("the flood at Alford",
                      lambda: alford.stats()["flood"]["received"] >= sent, timeout=30)
        grown = rss_kib(alford) - before
        stats = state_stats(alford)
        # Some 100 bytes a record: all of them kept would be SENT / 10 KiB. (Under the
        # sanitizers the flood is slower and their own memory grows: the drop is checked.)
        if os.environ.get("HERD_SANITIZE", "none") == "none":
            self.assertGreater(sent // 10, 48 * 1024, "too little flooded to tell")
            self.assertLess(grown, 32 * 1024, "RSS grew %d KiB for %d records" % (grown, sent))
        self.assertGreater(stats["records_dropped"], 0, stats)
        self.assertIn("event=state_appends_dropped", alford.log())
        # Room again: a snapshot covers what was let go, and replies go out.
        os.remove(os.path.join(self.small, "filler"))
        reply = alford.request(iamat("after", now_ns()), timeout=15)
        self.assertAtLine(reply, client_id="after")
        self.assertIn("event=state_appends_covered", alford.log())
        alford.kill()
        alford.start()
        have = held(alford)
        self.assertEqual(have.get("after"), reply.decode())
        self.assertEqual(len([k for k in have if k.startswith("flood")]), 400)


class TestEmptyJournals(StateCase):

    def test_starts_and_stops_without_records_leave_no_journals_behind(self):
        herd = self.durable_herd()
        node = herd["Alford"]
        for _ in range(4):
            node.start()
            node.stop()
        # The running node's own journal, and no empty one of each earlier run.
        node.start()
        self.assertEqual(len(journals(herd.state_dir, "Alford")), 1)
        # A journal with records is kept, and loaded.
        reply = node.request(iamat("kept", now_ns()))
        node.kill()
        node.start()
        self.assertEqual(held(node).get("kept"), reply.decode())
        self.assertGreaterEqual(len(journals(herd.state_dir, "Alford")), 2)


class TestFsync(StateCase):
    """The fsync window: a batch of state_fsync_batch records syncs at once, fewer wait
    for state_fsync_interval."""

    def test_batch_and_interval(self):
        herd = self.durable_herd(state_fsync_interval=3000, state_fsync_batch=100)
        node = herd["Alford"]
        node.start()
        base = now_ns()
        self.send_all(node, [iamat("few%02d" % i, base + i) for i in range(10)])
        st = state_stats(node)
        self.assertEqual(st["unsynced_records"], 10, st)
        self.assertEqual(st["fsyncs"], 0, st)
        self.wait_for("the interval's fsync", lambda: state_stats(node)["unsynced_records"] == 0,
                      timeout=8)
        st = state_stats(node)
        self.assertEqual(st["fsyncs"], 1, st)
        self.assertLess(st["last_fsync_age_ms"], 5000, st)
        # A batch's worth syncs without waiting for the interval.
        with node.client() as c:
            for i in range(150):
                c.send_line(iamat("many%03d" % i, base + 100 + i))
                c.read_line()
        self.wait_for("the batch's fsync", lambda: state_stats(node)["fsyncs"] >= 2,
                      timeout=1.5)
        self.assertLess(state_stats(node)["unsynced_records"], 100)


class TestWholeHerdRestart(StateCase):

    def test_kill_9_every_node_and_start_again(self):
        herd = self.durable_herd(herdtest.DEFAULT_NODES, peers=DEFAULT_PEERS)
        herd.start()
        self.wait_linked(herd)
        rng = random.Random(5)
        newest = {}
        base = now_ns()
        for i in range(600):
            client_id = "whole%03d" % rng.randrange(200)
            node = herd[rng.choice(herd.names)]
            reply = node.request(iamat(client_id, base + i * 1000))
            self.assertAtLine(reply, client_id=client_id)
            newest[client_id] = reply.decode()
        # Past the fsync window: a crash of the machine would keep these too.
        time.sleep(0.1)
        self.wait_for("every node to hold every record",
                      lambda: all(held(n) == newest for n in herd), timeout=10)
        for node in herd:
            node.kill()
        herd.start()
        for node in herd:
            self.assertGreater(state_stats(node)["loaded_records"], 0, node.name)
        self.wait_for("every node to hold every record again",
                      lambda: all(held(n) == newest for n in herd), timeout=10)


class TestStopDuringSnapshot(StateCase):

    CLIENTS = 100000

    def snapshot_child(self, node):
        with open("/proc/%d/task/%d/children" % (node.pid, node.pid)) as f:
            return f.read().split()

    def test_stop_while_a_snapshot_runs_writes_one_of_what_came_since(self):
        # The stop took the snapshot under way for its last one: what was journaled
        # after that snapshot's fork stayed in a journal, replayed at the next start.
        herd = self.durable_herd(state_compact_min=1000)
        node = herd["Alford"]
        node.start()
        base = now_ns()
        ids = ["stop%06d" % i for i in range(self.CLIENTS)]
        for r in range(2):          # the journal at twice the table: one more starts one
            self.send_all(node, [iamat(i, base + r * 10**9 + n) for n, i in enumerate(ids)])
        self.assertEqual(self.snapshot_child(node), [])
        self.send_all(node, [iamat(ids[0], base + 5 * 10**9)])
        self.wait_for("a snapshot under way", lambda: self.snapshot_child(node),
                      interval=0.001)
        self.send_all(node, [iamat(i, base + 6 * 10**9) for i in ids[1:21]])
        node.proc.send_signal(signal.SIGTERM)
        self.assertEqual(node.wait(timeout=30), 0, node.describe())
        log = node.log()
        self.assertNotIn("event=stop_deadline", log)
        # The stop came while the snapshot ran (else the test would show nothing): the
        # snapshot started last before it ended after it.
        stopping = log.index("event=stopping")
        started = log.rindex("event=state_snapshot_started", 0, stopping)
        self.assertNotIn("event=state_snapshot ", log[started:stopping])
        self.assertEqual(log.count("event=state_snapshot_started"),
                         log.count("event=state_snapshot "), log[-2000:])
        before = len(node.log_lines())
        node.start()
        loaded = [l for l in node.log_lines()[before:] if "event=state_loaded" in l]
        self.assertEqual(len(loaded), 1)
        # The last snapshot holds every client once: no journal record is replayed.
        self.assertIn(" records=%d " % self.CLIENTS, loaded[0])
        self.assertEqual(node.stats()["clients"], self.CLIENTS)


class TestDamagedFiles(StateCase):

    def test_flipped_byte_and_torn_last_line_are_skipped_and_reported(self):
        herd = self.durable_herd()
        node = herd["Alford"]
        node.start()
        base = now_ns()
        lines = [iamat("dmg%02d" % i, base + i) for i in range(50)]
        replies = self.send_all(node, lines)
        # Killed: a clean stop would write the records into a last snapshot instead.
        node.kill()
        path = journals(herd.state_dir, "Alford")[-1]
        with open(path, "rb") as f:
            data = bytearray(f.read())
        starts = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A][:-1]
        self.assertEqual(len(starts), 51, "a header and 50 records")
        # Line 10 (record dmg09): one byte of its client ID changes.
        flipped_at = starts[10]
        pos = data.index(b"dmg09", flipped_at)
        data[pos + 3] ^= 0x01
        # The last record (dmg49) loses its end: a write cut short by a crash.
        torn_at = starts[50]
        del data[torn_at + 30:]
        with open(path, "wb") as f:
            f.write(bytes(data))

        node.start()
        # The start's lines reach the log with the loop's first pass, maybe after ready.
        flipped = re.compile(r"event=state_line_skipped file=\"%s\" offset=%d reason=\"checksum "
                             r"mismatch\"" % (re.escape(path), flipped_at))
        torn = re.compile(r"event=state_line_skipped file=\"%s\" offset=%d reason=\"the last "
                          r"line is cut short" % (re.escape(path), torn_at))
        self.wait_for("both damaged lines logged", lambda: flipped.search(node.log()) and
                      torn.search(node.log()))
        have = held(node)
        want = {("dmg%02d" % i): replies[i].decode() for i in range(50) if i not in (9, 49)}
        self.assertEqual(have, want)
        self.assertEqual(state_stats(node)["damaged_lines"], 2)

        # The node rewrites its files at the next record: a restart finds no damage.
        node.request(iamat("heal", now_ns()))
        self.wait_for("a snapshot", lambda: state_stats(node)["snapshots"] >= 1)
        node.stop()
        node.start()
        self.assertEqual(state_stats(node)["damaged_lines"], 0)
        self.assertEqual(len(held(node)), 49)

    def test_damaged_header_stops_the_node(self):
        herd = self.durable_herd()
        node = herd["Alford"]
        node.start()
        node.request(iamat("hdr", now_ns()))
        node.stop()
        path = journals(herd.state_dir, "Alford")[-1]
        with open(path, "r+b") as f:
            f.seek(12)
            b = f.read(1)
            f.seek(12)
            f.write(bytes([b[0] ^ 0x20]))
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertIn("is not a herd state header", node.log())
        self.assertIn(os.path.basename(path), node.log())


class TestForeignState(StateCase):

    def first_herd_state(self):
        """A state_dir that herd A's Alford wrote, and the herd ID it carries."""
        shared = os.path.join(self.tmp, "shared-state")
        herd = self.make_herd(["Alford"], herd_options={"state_dir": shared})
        node = herd["Alford"]
        node.start()
        node.request(iamat("mine", now_ns()))
        node.stop()
        m = re.search(r"event=state_loaded \S+ herd=(\S+)", node.log())
        self.assertIsNotNone(m)
        return shared, m.group(1)

    def test_another_herds_state_is_refused(self):
        shared, herd_id = self.first_herd_state()
        # Another herd (its own secret) pointed at the same folder.
        other = self.make_herd(["Alford"], herd_options={"state_dir": shared})
        node = other["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        log = node.log()
        self.assertIn("event=startup_failed", log)
        self.assertIn("belongs to herd %s" % herd_id, log)
        self.assertIn(shared, log)
        # An operator who knows it is the same herd (its secret changed) adopts it.
        other.options["herd_id"] = herd_id
        other.write_config()
        node.start()
        self.assertIn("mine", held(node))

    def test_another_nodes_files_are_refused(self):
        shared, _ = self.first_herd_state()
        herd = self.make_herd(["Alford", "Bolden"], herd_options={"state_dir": shared})
        # Same herd ID (same secret): copy the first herd's secret.
        shutil.copy(os.path.join(self.tmp, "herd0", "herd.secret"), herd.secret_path)
        for path in glob.glob(os.path.join(shared, "Alford.journal.*")):
            shutil.copy(path, path.replace("Alford.", "Bolden."))
        node = herd["Bolden"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertIn("belongs to node Alford, not Bolden", node.log())


class TestUnusableStateDir(StateCase):

    def test_state_dir_that_is_a_file(self):
        herd = self.make_herd(["Alford"], herd_options={"state_dir": "not-a-folder"})
        path = os.path.join(herd.dir, "not-a-folder")
        with open(path, "w") as f:
            f.write("x\n")
        node = herd["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        # Found with the configuration, at its line, before anything starts.
        self.assertRegex(node.stderr_text(), r"(?m)^%s:\d+: state_dir %s: not a folder$" % (
            re.escape(herd.config_path), re.escape(path)))

    def test_read_only_state_dir(self):
        path = self.small_tmpfs("ro", "ro,size=1m")
        herd = self.make_herd(["Alford"], herd_options={"state_dir": path})
        node = herd["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertRegex(node.stderr_text(), r"(?m)^%s:\d+: state_dir %s: Read-only file "
                                             r"system$" % (re.escape(herd.config_path),
                                                           re.escape(path)))

    def test_a_path_with_spaces_and_quotes_is_logged_quoted(self):
        path = os.path.join(self.tmp, 'st ate "dir"')
        herd = self.make_herd(["Alford"], herd_options={"state_dir": path})
        node = herd["Alford"]
        node.start()
        self.assertAtLine(node.request(iamat("quoted-dir", now_ns())), client_id="quoted-dir")
        loaded = node.wait_log(lambda l: "event=state_loaded" in l)
        self.assertIsNotNone(loaded)
        self.assertEqual(herdtest.log_fields(loaded)["state_dir"],
                         '"%s"' % path.replace('"', '\\"'))
        for line in node.log_lines():
            herdtest.log_fields(line)

    @herdtest.unittest.skipIf(os.geteuid() == 0, "root writes to any folder")
    def test_state_dir_without_write_permission(self):
        herd = self.durable_herd()
        os.makedirs(herd.state_dir)
        os.chmod(herd.state_dir, 0o500)
        node = herd["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertIn(herd.state_dir, node.log())
        self.assertIn("Permission denied", node.log())

    def test_two_processes_of_one_node_do_not_share_it(self):
        herd = self.durable_herd()
        first = herd["Alford"]
        first.start()
        second = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford"], cwd=herd.dir,
                                    timeout=20)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn("another herdd of node Alford uses this state_dir (pid %d)" % first.pid,
                      second.stderr)
        self.assertTrue(first.running())


class TestCompactionUnderLoad(StateCase):

    CLIENTS = 2000
    ROUNDS = 10

    def test_snapshots_while_iamats_flow(self):
        herd = self.durable_herd(state_compact_min=100)
        node = herd["Alford"]
        node.start()
        base = now_ns()
        newest = {}
        for r in range(self.ROUNDS):
            lines = [iamat("load%04d" % i, base + r * 10**9 + i) for i in range(self.CLIENTS)]
            replies = self.send_all(node, lines)
            self.assertEqual(len(replies), self.CLIENTS)
            for i, reply in enumerate(replies):
                self.assertAtLine(reply, client_id="load%04d" % i)
                newest["load%04d" % i] = reply.decode()
        self.wait_for("no snapshot running",
                      lambda: "state_snapshot_started" not in node.log().rsplit(
                          "event=state_snapshot ", 1)[-1])
        st = state_stats(node)
        self.assertGreaterEqual(st["snapshots"], 3, st)
        self.assertEqual(st["snapshot_failures"], 0, st)
        self.assertEqual(st["snapshot_records"], self.CLIENTS, st)
        self.assertLess(st["journal_records"], 3 * self.CLIENTS, st)
        # Older journals are gone once a snapshot holds their records.
        self.assertLessEqual(len(journals(herd.state_dir, "Alford")), 2)

        # The snapshot is complete: every client, and its END line counts them.
        with open(os.path.join(herd.state_dir, "Alford.snapshot"), "rb") as f:
            lines = f.read().splitlines()
        self.assertTrue(lines[0][9:].startswith(b"HERD-STATE 1 snapshot herd="), lines[0])
        self.assertEqual(lines[-1][9:], b"END records=%d" % self.CLIENTS)
        ids = {line.split()[4] for line in lines[1:-1]}
        self.assertEqual(len(ids), self.CLIENTS)

        with urllib.request.urlopen("http://%s:%d/metrics" % (HOST, node.admin_port),
                                    timeout=8) as r:
            metrics = r.read().decode()
        for family in ("herd_state_journal_records", "herd_state_snapshot_age_seconds",
                       "herd_state_last_fsync_age_milliseconds",
                       "herd_state_load_milliseconds", "herd_state_snapshots_total"):
            self.assertRegex(metrics, r"(?m)^%s \d+$" % family)

        node.kill()
        node.start()
        self.assertEqual(held(node), newest)


if __name__ == "__main__":
    herdtest.main()
