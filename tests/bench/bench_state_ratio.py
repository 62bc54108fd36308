"""IAMAT throughput with state_dir against without, side by side: PAIRS pairs of fresh
one-node herds, each pair in alternating order, the same tests/bench/loadgen load on
each (50 connections x 32 outstanding, distinct IDs); the goal is a median ratio
(with / without) of at least GOAL. The node logs every line to a real file in both.

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen \\
     /usr/bin/python3 tests/bench/bench_state_ratio.py
"""

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen  # noqa: E402

PAIRS = 7
GOAL = 0.8
SECONDS = 2


def measure(options):
    """Replies per second of a fresh one-node herd with [herd] OPTIONS."""
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, options, True)
        node = herd.start("Alford")
        try:
            return loadgen(node.client_port, depth=32, ids=1000000, seconds=SECONDS,
                           timeout=120)["rps"]
        finally:
            herd.stop_all()


def main():
    ratios, with_state, without = [], [], []
    for k in range(PAIRS):
        rates = {}
        for durable in ([True, False] if k % 2 else [False, True]):
            rates[durable] = measure({"state_dir": "state"} if durable else None)
        with_state.append(rates[True])
        without.append(rates[False])
        ratios.append(rates[True] / rates[False])
    ratio = statistics.median(ratios)
    print("IAMAT with state_dir / without: median ratio %.2f over %d pairs (goal >= %.2f); "
          "medians %.0f/s with, %.0f/s without; ratios %s"
          % (ratio, PAIRS, GOAL, statistics.median(with_state), statistics.median(without),
             " ".join("%.2f" % r for r in ratios)))
    if ratio < GOAL:
        print("FAIL: below goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
