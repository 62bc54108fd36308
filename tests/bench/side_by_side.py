"""herd against Redis and a bare line server, side by side (tests/bench/README.md).

Starts herdd (logging every line to a real file), redis-server (--save "" --appendonly
no) and tests/bench/lineserver on free loopback ports, then, for each shape of load
(connections x requests outstanding), runs tests/bench/loadgen against them in turn,
A B C, then B C A, then C A B, ROUNDS times: IAMAT for herd, inline SET for Redis, an
echoed line of the same size for the bare server. Each round gives the ratios of one
moment; the medians of the ratios are checked against the goals. CPU per request is
each server's user + system time (from /proc) over the requests of its run.

Environment: HERDD, LOADGEN, LINESERVER (paths), REDIS_SERVER (default redis-server on
PATH), HERD_BENCH_ROUNDS (3), HERD_BENCH_SECONDS (2), HERD_BENCH_SHAPES ("1x1 50x1 50x32
1000x1"). Without redis-server the benchmark says so and fails.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import herdtest  # noqa: E402
from benchload import loadgen  # noqa: E402

ROUNDS = int(os.environ.get("HERD_BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("HERD_BENCH_SECONDS", "2"))
SHAPES = os.environ.get("HERD_BENCH_SHAPES", "1x1 50x1 50x32 1000x1").split()
IDS = 100000

# (shape, server): the least median ratio herd must reach.
GOALS = {
    ("50x1", "redis"): 1.1,
    ("1000x1", "redis"): 1.1,
    ("50x32", "redis"): 1.4,
    ("50x1", "bare"): 0.8,
}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, proc, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("%s exited at start" % what)
        try:
            with herdtest.socket.create_connection((herdtest.HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("%s does not accept on %d" % (what, port))


def main():
    redis = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if redis is None:
        print("FAIL: redis-server not found (Debian package redis-server)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="herdbench-") as tmp:
        herd = herdtest.Herd(tmp, ["Alford"], None, {"max_connections": 20000}, True)
        node = herd["Alford"]
        node.log_path = os.path.join(tmp, "herd.log")     # a real file, every line
        node.start()
        redis_port, bare_port = herdtest.free_port(), herdtest.free_port()
        procs = {
            "redis": subprocess.Popen([redis, "--port", str(redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--maxclients",
                                       "20000"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL),
            "bare": subprocess.Popen([os.environ["LINESERVER"], str(bare_port)]),
        }
        servers = {"herd": (node.client_port, "iamat", node.proc),
                   "redis": (redis_port, "set", procs["redis"]),
                   "bare": (bare_port, "echo", procs["bare"])}
        try:
            wait_port(redis_port, procs["redis"], "redis-server")
            wait_port(bare_port, procs["bare"], "lineserver")
            failed = run_all(servers)
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(10)
            herd.stop_all()
    return 1 if failed else 0


def run_all(servers):
    names = ["herd", "redis", "bare"]
    failed = False
    print("%-7s %-14s %-14s %-10s %-10s %-24s" % (
        "shape", "herd/redis", "herd/bare", "herd rps", "p99 µs", "CPU/req µs herd/redis/bare"))
    for shape in SHAPES:
        conns, depth = (int(x) for x in shape.split("x"))
        ratios = {"redis": [], "bare": []}
        rps = {n: [] for n in names}
        cpu = {n: [] for n in names}
        p99 = []
        for r in range(ROUNDS):
            order = names[r % 3:] + names[:r % 3]
            got = {}
            for name in order:
                port, mode, proc = servers[name]
                before = cpu_seconds(proc.pid)
                kv = loadgen(port, conns, depth, mode, ids=IDS, seconds=SECONDS, warmup=0,
                             timeout=SECONDS + 60)
                requests, rate, tail = kv["requests"], kv["rps"], kv["p99_us"]
                cpu[name].append((cpu_seconds(proc.pid) - before) / requests * 1e6)
                got[name] = rate
                rps[name].append(rate)
                if name == "herd":
                    p99.append(tail)
            ratios["redis"].append(got["herd"] / got["redis"])
            ratios["bare"].append(got["herd"] / got["bare"])
        med = {k: statistics.median(v) for k, v in ratios.items()}
        print("%-7s %-14s %-14s %-10.0f %-10d %.2f / %.2f / %.2f" % (
            shape, "%.2f (%s)" % (med["redis"], " ".join("%.2f" % x for x in ratios["redis"])),
            "%.2f" % med["bare"], statistics.median(rps["herd"]), statistics.median(p99),
            statistics.median(cpu["herd"]), statistics.median(cpu["redis"]),
            statistics.median(cpu["bare"])))
        for other in ("redis", "bare"):
            goal = GOALS.get((shape, other))
            if goal is not None and med[other] < goal:
                print("FAIL: herd/%s at %s is %.2f, goal %.2f" % (other, shape, med[other], goal),
                      file=sys.stderr)
                failed = True
        sys.stdout.flush()
    return failed


if __name__ == "__main__":
    sys.exit(main())
