"""WHATSAT through the Places client against the local stand-in (tests/bench/README.md,
"Places"): a two-node herd Alford - Parker, clients placed at Alford (the records flood
to Parker), WHATSATs asked at Parker, which calls the stand-in over kept-alive TLS.

- 1,000 WHATSATs for distinct locations from 50 connections at once: the stand-in sees
  at most places_connections + 2 full TLS handshakes; and Parker's CPU per WHATSAT (from
  /proc) is at most a third of the stand-in's, so the throughput is the stand-in's.
- 500 WHATSATs one after another, each for a fresh location: the latency at Parker
  (from the WHATSAT's send to the reply's last byte, Python's own time included) has a
  p50 under 0.6 ms.

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \\
     /usr/bin/python3 tests/bench/bench_places.py
"""

import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from herdtest import iamat, read_whatsat_reply  # noqa: E402
from benchload import verdict  # noqa: E402

KEY = "bench-key"
CONNECTIONS = 50
SEARCHES = 5000
SEQUENTIAL = 20
POOL = 4
GOAL_HANDSHAKES = POOL + 2
GOAL_P50_MS = 0.6
GOAL_CPU_RATIO = 1 / 3


def place(node, ids):
    """IAMATs for IDS, each at a location of its own, on one connection."""
    with node.client(timeout=60) as c:
        c.send(b"".join(iamat(i, b"+34.%06d-118.%06d" % (n, n * 7 % 1000000)) + b"\n"
                        for n, i in enumerate(ids, start=len(ids) * 3)))
        c.read_lines(len(ids), timeout=60)


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        standin = herdtest.PlacesStandin(os.path.join(tmp, "standin"), key_required=KEY)
        herd_dir = os.path.join(tmp, "herd")
        os.makedirs(herd_dir)
        opts = standin.herd_options("legacy", 5)
        opts["places_connections"] = str(POOL)
        herd = herdtest.Herd(herd_dir, ["Alford", "Parker"], {"Alford": "Parker"}, opts, True)
        for node in herd:
            node.env = {"HERD_PLACES_KEY": KEY}
        try:
            herd.start()
            alford, parker = herd["Alford"], herd["Parker"]
            ids = [b"burst%04d" % n for n in range(SEARCHES)]
            seq_ids = [b"seq%04d" % n for n in range(SEQUENTIAL)]
            place(alford, ids + seq_ids)
            deadline = time.monotonic() + 30
            while parker.stats()["clients"] < SEARCHES + SEQUENTIAL:
                if time.monotonic() > deadline:
                    raise herdtest.HerdError("the records did not reach Parker")
                time.sleep(0.05)

            before = standin.stats()
            def ut(pr):
                fl = open("/proc/%d/stat" % pr.pid).read().rsplit(")", 1)[1].split()
                return int(fl[11]), int(fl[12])
            t0 = (ut(parker.proc), ut(standin.proc))
            node_cpu, standin_cpu = parker.cpu_seconds(), standin.cpu_seconds()
            errors = []

            def burst(part):
                with parker.client(timeout=60) as c:
                    for client_id in part:
                        c.send(b"WHATSAT %s 10 5\n" % client_id)
                        reply = read_whatsat_reply(c, timeout=60)
                        if b'"OK"' not in reply:
                            errors.append(reply[:200])
            threads = [threading.Thread(target=burst, args=(ids[k::CONNECTIONS],))
                       for k in range(CONNECTIONS)]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            burst_s = time.monotonic() - started
            node_cpu = parker.cpu_seconds() - node_cpu
            t1 = (ut(parker.proc), ut(standin.proc))
            print("parker user %d sys %d ticks; standin user %d sys %d" % (t1[0][0]-t0[0][0], t1[0][1]-t0[0][1], t1[1][0]-t0[1][0], t1[1][1]-t0[1][1]))
            standin_cpu = standin.cpu_seconds() - standin_cpu
            after = standin.stats()
            full = after["handshakes"]["full"] - before["handshakes"]["full"]
            resumed = after["handshakes"]["resumed"] - before["handshakes"]["resumed"]
            calls = after["requests"] - before["requests"]

            latencies = []
            with parker.client(timeout=60) as c:
                for client_id in seq_ids:
                    t0 = time.perf_counter()
                    c.send(b"WHATSAT %s 10 5\n" % client_id)
                    reply = read_whatsat_reply(c, timeout=60)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    if b'"OK"' not in reply:
                        errors.append(reply[:200])
            places = parker.stats()["places"]
        finally:
            herd.stop_all()
            standin.stop()
    latencies.sort()
    p50 = statistics.median(latencies)
    ratio = node_cpu / standin_cpu if standin_cpu > 0 else float("inf")
    print("%d WHATSATs for distinct locations from %d connections in %.2f s: %d Places calls, "
          "%d full TLS handshakes and %d resumed at the stand-in (goal <= %d full)"
          % (SEARCHES, CONNECTIONS, burst_s, calls, full, resumed, GOAL_HANDSHAKES))
    print("CPU per WHATSAT: Parker %.0f us, the stand-in %.0f us: ratio %.2f (goal <= %.2f)"
          % (node_cpu / SEARCHES * 1e6, standin_cpu / SEARCHES * 1e6, ratio, GOAL_CPU_RATIO))
    print("WHATSAT at Parker, one at a time: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms "
          "(goal p50 < %.1f ms); Parker's pool: %d opened, %d reused, %d full, %d resumed"
          % (p50, latencies[len(latencies) * 9 // 10], latencies[len(latencies) * 99 // 100],
             GOAL_P50_MS, places["connections_opened"], places["requests_reused"],
             places["handshakes_full"], places["handshakes_resumed"]))
    failed = []
    if errors:
        failed.append("%d WHATSATs failed, first %r" % (len(errors), errors[0]))
    if full > GOAL_HANDSHAKES:
        failed.append("full handshakes")
    if ratio > GOAL_CPU_RATIO:
        failed.append("CPU ratio")
    if p50 >= GOAL_P50_MS:
        failed.append("latency")
    return verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
