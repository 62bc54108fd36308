"""Start-up with state_dir: how long a node takes to load a snapshot of a million records
before it opens its listeners. Goal: load_ms (the node's own figure, /stats state) under
2 s on the reference machine (2 cores); the median of RUNS starts is checked. The
snapshot is made by state_gen (the node's own format code).

Run: HERDD=build/server/herdd STATE_GEN=build/tests/state_gen \\
     /usr/bin/python3 tests/bench/bench_state_load.py
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402

RECORDS = int(os.environ.get("HERD_BENCH_RECORDS", "1000000"))
RUNS = 3
GOAL_MS = 2000.0


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None,
                             {"state_dir": "state", "herd_id": "bench", "max_clients": RECORDS,
                              "state_compact_min": 10 * RECORDS}, True)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        snapshot = os.path.join(state, "Alford.snapshot")
        subprocess.run([os.environ["STATE_GEN"], snapshot, "Alford", "bench", str(RECORDS)],
                       check=True)
        size = os.path.getsize(snapshot)
        loads, readies = [], []
        node = herd["Alford"]
        for _ in range(RUNS):
            start = time.monotonic()
            node.start(timeout=60)
            readies.append(time.monotonic() - start)
            st = node.stats()["state"]
            if st["loaded_records"] != RECORDS:
                raise SystemExit("loaded %d records, not %d" % (st["loaded_records"], RECORDS))
            loads.append(st["load_ms"])
            node.stop(timeout=30)
            # Each start begins a new (empty) journal; keep only the snapshot.
            for name in os.listdir(state):
                if ".journal." in name:
                    os.remove(os.path.join(state, name))
    load_ms = statistics.median(loads)
    print("state load: %d records (%.0f MB snapshot): load_ms median %.0f (runs %s), "
          "start to ready median %.2f s (goal load_ms < %.0f)"
          % (RECORDS, size / 1e6, load_ms, loads, statistics.median(readies), GOAL_MS))
    if load_ms >= GOAL_MS:
        print("FAIL: above goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
