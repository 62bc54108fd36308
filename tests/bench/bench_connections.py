"""Ten thousand connections to one herdd at once: tests/bench/loadgen opens them all
(the listen backlog is SOMAXCONN), then keeps one IAMAT outstanding on each for a few
seconds. Every connection must be answered, and opening them must take under GOAL_S.

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen \\
     /usr/bin/python3 tests/bench/bench_connections.py
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen  # noqa: E402

CONNECTIONS = 10000
GOAL_S = 1.0


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, {"max_connections": 2 * CONNECTIONS}, True)
        node = herd["Alford"]
        node.log_path = os.path.join(tmp, "herd.log")
        node.start()
        try:
            kv = loadgen(node.client_port, conns=CONNECTIONS, seconds=3, warmup=0.5,
                         timeout=120)
        finally:
            herd.stop_all()
    print("connections: %d opened in %.3f s, %d silent; %.0f replies/s, p99 %d µs, "
          "p999 %d µs (goal: all answered, opened in < %.1f s)" % (
              CONNECTIONS, kv["connect_s"], kv["silent"], kv["rps"], kv["p99_us"],
              kv["p999_us"], GOAL_S))
    if kv["silent"] != 0 or kv["connect_s"] >= GOAL_S:
        print("FAIL: below goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
