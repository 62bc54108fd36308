"""End-to-end IAMAT throughput of one real herdd over loopback.

Several connections pipeline IAMATs for distinct clients and read every AT reply back.
The goal (checked here, not in tests): at least GOAL replies per second on the reference
machine (2 cores, with the node logging every line in and out to its file).

--state-ratio: the same load against a node with state_dir (every record journaled before
its reply, fsync every 10 ms) and one without, side by side: PAIRS pairs, each in
alternating order, each a fresh node; the goal is a median ratio (with / without) of at
least STATE_GOAL. A ratio of two runs a second apart means more on a shared machine
than either figure alone.
"""

import os
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402

CONNECTIONS = 4
PER_CONNECTION = 25000
BATCH = 500
GOAL = 20000.0
PAIRS = 7
STATE_GOAL = 0.8


def run_connection(port, index):
    """A client connection for the benchmark."""
    sock = socket.create_connection((herdtest.HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def measure(options, per_connection):
    """Replies per second of a fresh one-node herd with [herd] OPTIONS."""
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, options, True)
        node = herd.start("Alford")
        try:
            socks = [run_connection(node.client_port, i) for i in range(CONNECTIONS)]
            start = time.monotonic()
            for batch_start in range(0, per_connection, BATCH):
                for i, sock in enumerate(socks):
                    lines = b"".join(
                        b"IAMAT bench-%d-%d +34.068930-118.445127 1700000000.%09d\n"
                        % (i, n, n) for n in range(batch_start, batch_start + BATCH))
                    sock.sendall(lines)
                for sock in socks:
                    want = BATCH
                    buf = b""
                    while want > 0:
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            raise SystemExit("connection closed by herdd")
                        buf += chunk
                        done = buf.count(b"\n")
                        if done:
                            want -= done
                            buf = buf[buf.rfind(b"\n") + 1:]
            elapsed = time.monotonic() - start
            for sock in socks:
                sock.close()
        finally:
            herd.stop_all()
    return CONNECTIONS * per_connection / elapsed


def state_ratio():
    """With state_dir against without, pair by pair."""
    ratios, with_state, without = [], [], []
    for k in range(PAIRS):
        order = [True, False] if k % 2 else [False, True]
        rates = {}
        for durable in order:
            rates[durable] = measure({"state_dir": "state"} if durable else None,
                                     PER_CONNECTION // 2)
        with_state.append(rates[True])
        without.append(rates[False])
        ratios.append(rates[True] / rates[False])
    ratio = statistics.median(ratios)
    print("IAMAT with state_dir / without: median ratio %.2f over %d pairs (goal >= %.2f); "
          "medians %.0f/s with, %.0f/s without; ratios %s"
          % (ratio, PAIRS, STATE_GOAL, statistics.median(with_state),
             statistics.median(without), " ".join("%.2f" % r for r in ratios)))
    if ratio < STATE_GOAL:
        print("FAIL: below goal", file=sys.stderr)
        return 1
    return 0


def main():
    if sys.argv[1:] == ["--state-ratio"]:
        return state_ratio()
    rate = measure(None, PER_CONNECTION)
    print("IAMAT end to end: %d replies at %.0f/s (goal >= %.0f/s)"
          % (CONNECTIONS * PER_CONNECTION, rate, GOAL))
    if rate < GOAL:
        print("FAIL: below goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
