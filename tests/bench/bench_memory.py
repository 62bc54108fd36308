"""Resident memory per client: one herdd (logging to /dev/null: the log buffer is fixed
and the file would only fill the disk) is sent IAMATs for a million distinct IDs like
client0123456.example.com by tests/bench/loadgen; (VmRSS after - VmRSS before) / clients
must stay at most GOAL bytes.

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen \\
     /usr/bin/python3 tests/bench/bench_memory.py
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen  # noqa: E402

CLIENTS = int(os.environ.get("HERD_BENCH_CLIENTS", "1000000"))
GOAL = 160


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS")


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, {"max_clients": 2 * CLIENTS}, True)
        node = herd["Alford"]
        node.log_path = "/dev/null"
        node.start()
        try:
            before = rss_bytes(node.pid)
            loadgen(node.client_port, depth=32, ids=CLIENTS, count=CLIENTS, warmup=0)
            after = rss_bytes(node.pid)
            status, doc = node.admin("/clients?limit=1")
            clients = doc["count"]
        finally:
            herd.stop_all()
    per = (after - before) / clients
    print("memory: %d clients, RSS %.1f MB -> %.1f MB: %.0f bytes per client (goal <= %d)"
          % (clients, before / 1e6, after / 1e6, per, GOAL))
    if clients < CLIENTS * 0.99 or per > GOAL:
        print("FAIL: %s" % ("too few clients stored" if clients < CLIENTS * 0.99
                            else "above goal"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
