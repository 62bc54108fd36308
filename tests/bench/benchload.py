"""Runs tests/bench/loadgen (its path in $LOADGEN) once, for the benchmark scripts."""

import os
import subprocess


def loadgen(port, conns=50, depth=1, mode="iamat", ids=None, seconds=None, count=None,
            warmup=None, timeout=600):
    """One closed-loop run against PORT; loadgen's key=value line as a dict of numbers."""
    args = [os.environ["LOADGEN"], "-p", str(port), "-m", mode, "-c", str(conns),
            "-d", str(depth)]
    for flag, value in (("-i", ids), ("-t", seconds), ("-n", count), ("-w", warmup)):
        if value is not None:
            args += [flag, str(value)]
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         timeout=timeout).stdout
    return {k: float(v) for k, v in (item.split("=") for item in out.split())}
