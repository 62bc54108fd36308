"""Peer links over TLS against plaintext, side by side (tests/bench/README.md, "Peer TLS"):
the default five-node herd plus the probe node of bench_flood_latency, started PAIRS times
each way, alternating plaintext (peer_tls = off) and TLS (peer_tls = on: the herd has a
secret), the same measurements in each run:

- flood latency: PROBES IAMATs at Hamilton timed to the probe, a neighbour of Powell, three
  hops away (tests/bench/floodprobe; -T speaks TLS with the herd's PSK), p50 and p99;
- flood throughput: loadgen saturates Alford for SECONDS (50 x 32 outstanding, every IAMAT
  newer), and the records Hamilton, two hops away, applies per second of its own CPU time
  (per CPU second, as bench_flood_overload, since six processes share two cores).

Each pair gives a ratio TLS / plaintext (for latency, plaintext / TLS, so that higher is
better everywhere); the goal is a median ratio of at least GOAL for throughput and for the
p50 and p99 latency.

Run: HERDD=build/server/herdd LOADGEN=build/tests/loadgen FLOODPROBE=build/tests/floodprobe \\
     /usr/bin/python3 tests/bench/bench_peer_tls.py
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from herdtest import DEFAULT_NODES, DEFAULT_PEERS  # noqa: E402
from benchload import loadgen, parse, verdict  # noqa: E402

PAIRS = 3
PROBES = 1000
SECONDS = 4
GOAL = 0.8
LOAD = dict(conns=50, depth=32, ids=100000, global_clock=True)


def applied(node):
    flood = node.stats()["flood"]
    return flood["received"] - flood["stale_dropped"]


def one_run(tmp, tls):
    """(latency dict, Hamilton's applied records per CPU second) for one fresh herd."""
    peers = dict(DEFAULT_PEERS)
    peers["Powell"] = ("Probe",)
    herd = herdtest.Herd(tmp, list(DEFAULT_NODES) + ["Probe"], peers,
                         None if tls else {"peer_tls": "off"}, True)
    try:
        herd.start(*DEFAULT_NODES)
        time.sleep(1.0)
        args = [os.environ["FLOODPROBE"], "-l", str(herd["Probe"].peer_port), "-n", "Probe",
                "-s", herd.secret_path, "-c", str(herd["Hamilton"].client_port),
                "-N", str(PROBES), "-i", "1000", "-t", "tls" if tls else "plain"]
        out = subprocess.run(args + (["-T"] if tls else []), capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise herdtest.HerdError("floodprobe: %s" % out.stderr.strip())
        latency = parse(out.stdout)
        hamilton = herd["Hamilton"]
        before, cpu0 = applied(hamilton), hamilton.cpu_seconds()
        loadgen(herd["Alford"].client_port, seconds=SECONDS, warmup=0, **LOAD)
        time.sleep(0.5)     # what is in flight arrives
        rate = (applied(hamilton) - before) / max(hamilton.cpu_seconds() - cpu0, 1e-3)
        for node in herd:
            down = [line for line in node.log_lines()
                    if "event=peer_down" in line and "peer=Probe" not in line]
            if node.running() and down:
                raise herdtest.HerdError("a link dropped at %s: %s" % (node.name, down[0]))
        return latency, rate
    finally:
        herd.stop_all()


def main():
    ratios = {"throughput": [], "p50": [], "p99": []}
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        for i in range(PAIRS):
            runs = {}
            for tls in (False, True):
                d = os.path.join(tmp, "%d-%s" % (i, "tls" if tls else "plain"))
                os.makedirs(d)
                runs[tls] = one_run(d, tls)
            (lat_p, rate_p), (lat_t, rate_t) = runs[False], runs[True]
            ratios["throughput"].append(rate_t / rate_p)
            ratios["p50"].append(lat_p["p50_us"] / lat_t["p50_us"])
            ratios["p99"].append(lat_p["p99_us"] / lat_t["p99_us"])
            print("pair %d: Hamilton applied %.0f/s per CPU s in plaintext, %.0f over TLS; "
                  "flood latency p50 %d / %d us, p99 %d / %d us (plaintext / TLS)"
                  % (i + 1, rate_p, rate_t, lat_p["p50_us"], lat_t["p50_us"],
                     lat_p["p99_us"], lat_t["p99_us"]))
    failed = []
    for what, values in ratios.items():
        median = statistics.median(values)
        print("%s over TLS / plaintext: median %.2f (pairs %s; goal >= %.1f)"
              % (what, median, ", ".join("%.2f" % v for v in values), GOAL))
        if median < GOAL:
            failed.append(what)
    return verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
