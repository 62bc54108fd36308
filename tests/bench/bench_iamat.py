"""End-to-end IAMAT throughput of one real herdd over loopback.

Several connections pipeline IAMATs for distinct clients and read every AT reply back.
The goal (checked here, not in tests): at least GOAL replies per second on the reference
machine (2 cores, with the node logging every line in and out to its file).
"""

import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402

CONNECTIONS = 4
PER_CONNECTION = 25000
BATCH = 500
GOAL = 20000.0


def run_connection(port, index):
    """A client connection for the benchmark."""
    sock = socket.create_connection((herdtest.HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def main():
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, None, True)
        node = herd.start("Alford")
        try:
            socks = [run_connection(node.client_port, i) for i in range(CONNECTIONS)]
            start = time.monotonic()
            for batch_start in range(0, PER_CONNECTION, BATCH):
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
    total = CONNECTIONS * PER_CONNECTION
    rate = total / elapsed
    print("IAMAT end to end: %d replies in %.2f s = %.0f/s (goal >= %.0f/s)"
          % (total, elapsed, rate, GOAL))
    if rate < GOAL:
        print("FAIL: below goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
