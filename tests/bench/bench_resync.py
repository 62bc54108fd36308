"""Link-up sync at a million clients (tests/bench/README.md, "Sync"): a two-node herd
Alford - Parker holding CLIENTS clients. Parker is stopped (SIGSTOP) until Alford drops
the link, MOVED clients move at Alford meanwhile, and Parker resumes 5 s after it was
stopped: the link comes back and the digest walk sends the difference. Then Parker is
restarted empty and gets the whole table. Goals:

- the walk sends (both ways, every line: /stats sync.bytes_sent) at most 5% of the bytes
  of the whole-table sync, and completes in under 1 s (its peer_sync_done ms=, and by the
  wall clock from Parker's resume until both digests agree, dial and handshake included);
- the whole table reaches the empty node in under 5 s (from its start until its digest
  equals Alford's).

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen \\
     /usr/bin/python3 tests/bench/bench_resync.py
"""

import os
import re
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen, verdict  # noqa: E402

CLIENTS = 1000000
MOVED = 10000
CUT_SECONDS = 5.0
GOAL_BYTES = 0.05
GOAL_WALK_S = 1.0
GOAL_FULL_S = 5.0


def digest(node):
    return node.stats()["sync"]["digest"]


def sent(node):
    return node.stats()["sync"]["bytes_sent"]


def wait_equal(a, b, timeout):
    """Seconds until A's and B's digests agree (None after TIMEOUT)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if digest(a) == digest(b):
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def wait_log(node, pattern, timeout=60):
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in reversed(node.log_lines()):
            m = regex.search(line)
            if m:
                return m
        time.sleep(0.05)
    raise herdtest.HerdError("%s never logged %s" % (node.name, pattern))


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford", "Parker"], {"Alford": "Parker"},
                             {"peer_heartbeat_timeout": 2}, True)
        alford, parker = herd["Alford"], herd["Parker"]
        try:
            herd.start()
            time.sleep(0.5)
            loadgen(alford.client_port, conns=50, depth=32, ids=CLIENTS, count=CLIENTS,
                    warmup=0, global_clock=True, timeout=300)
            if wait_equal(alford, parker, 120) is None:
                raise herdtest.HerdError("Parker never caught up with the fill")
            # The cut: Alford drops the silent link, clients move, Parker comes back.
            before = sent(alford) + sent(parker)
            parker.signal(signal.SIGSTOP)
            stopped = time.monotonic()
            wait_log(alford, r"event=peer_down peer=Parker ")
            loadgen(alford.client_port, conns=10, depth=32, ids=MOVED, count=MOVED, warmup=0,
                    global_clock=True, time_base=1700000001, timeout=120)
            time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - stopped)))
            parker.signal(signal.SIGCONT)
            walk_wall = wait_equal(alford, parker, 60)
            done = wait_log(parker, r"event=peer_sync_done .*peer=Alford mode=digest .*"
                                    r"sent=(\d+) received=(\d+) stored=(\d+) ms=(\d+)")
            time.sleep(0.2)
            walk_bytes = sent(alford) + sent(parker) - before
            walk_ms = int(done.group(4))
            stored = int(done.group(3))

            # The whole table to an empty node.
            parker.kill()
            before = sent(alford)
            parker.start()
            full_wall = wait_equal(alford, parker, 120)
            time.sleep(0.2)
            full_bytes = sent(alford) - before
        finally:
            herd.stop_all()
    ratio = walk_bytes / full_bytes if full_bytes else 1.0
    print("%d clients, %d moved during a %.0f s cut: the walk sent %d bytes both ways, "
          "%.2f%% of the whole table's %d (goal <= %.0f%%); Parker stored %d records"
          % (CLIENTS, MOVED, CUT_SECONDS, walk_bytes, 100 * ratio, full_bytes,
             100 * GOAL_BYTES, stored))
    print("walk: %d ms by its log, %.2f s from Parker's resume until the digests agreed "
          "(goal < %.1f s)" % (walk_ms, walk_wall if walk_wall is not None else -1,
                               GOAL_WALK_S))
    print("whole table to an empty node: %.2f s from its start until the digests agreed "
          "(goal < %.1f s)" % (full_wall if full_wall is not None else -1, GOAL_FULL_S))
    failed = []
    if ratio > GOAL_BYTES:
        failed.append("walk bytes")
    if walk_wall is None or walk_wall > GOAL_WALK_S:
        failed.append("walk time")
    if full_wall is None or full_wall > GOAL_FULL_S:
        failed.append("full sync time")
    return verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
