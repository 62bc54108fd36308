"""System calls per request at 50 connections x 1 outstanding: herdd runs under
`strace -c -f` for a fixed count of IAMATs from tests/bench/loadgen (logging every line
to a real file); every system call the node made while serving, divided by the
requests, must be at most GOAL. strace slows the node, which changes how many requests
one loop pass serves; the figure is the node's calls, not a time.

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen \\
     /usr/bin/python3 tests/bench/bench_syscalls.py
"""

import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen  # noqa: E402

REQUESTS = 100000
GOAL = 2.1


def main():
    strace = shutil.which("strace")
    if strace is None:
        print("FAIL: strace not installed (./herd test installs it)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, None, True)
        node = herd["Alford"]
        node.log_path = os.path.join(tmp, "herd.log")
        counts = os.path.join(tmp, "strace.txt")
        os.environ["HERDD_WRAPPER"] = "%s -c -f -o %s" % (strace, counts)
        try:
            node.start(timeout=30)
            # Start-up's calls are not the requests': strace counts from here on only
            # if the baseline is taken first.
            loadgen(node.client_port, count=1000, warmup=0, timeout=120)
            kv = loadgen(node.client_port, count=REQUESTS, warmup=0)
            with open("/proc/%d/task/%d/children" % (node.pid, node.pid)) as f:
                os.kill(int(f.read().split()[0]), signal.SIGTERM)
            node.wait(timeout=30)
        finally:
            del os.environ["HERDD_WRAPPER"]
            herd.stop_all()
        time.sleep(0.1)
        with open(counts) as f:
            table = f.read()
    calls = {}
    for line in table.splitlines():
        words = line.split()
        if len(words) >= 5 and words[-1] != "total" and words[3].isdigit():
            calls[words[-1]] = int(words[3])
    requests = int(kv["requests"]) + 1000
    total = sum(calls.values())
    per = total / requests
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
    print("syscalls: %.2f per request at 50x1 over %d requests (goal <= %.1f; start-up and "
          "shutdown included): %s" % (per, requests, GOAL,
                                      ", ".join("%s %d" % kv for kv in top)))
    if per > GOAL:
        print("FAIL: above goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
