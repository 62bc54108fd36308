"""Runs tests/bench/loadgen (its path in $LOADGEN) once, for the benchmark scripts, and
turns a benchmark's missed goals into its exit status."""

import os
import subprocess
import sys


def loadgen_args(port, conns=50, depth=1, mode="iamat", ids=None, seconds=None, count=None,
                 warmup=None, rate=None, global_clock=False, time_base=None):
    """loadgen's command line for these settings (README in this folder)."""
    args = [os.environ["LOADGEN"], "-p", str(port), "-m", mode, "-c", str(conns),
            "-d", str(depth)]
    for flag, value in (("-i", ids), ("-t", seconds), ("-n", count), ("-w", warmup),
                        ("-r", rate), ("-b", time_base)):
        if value is not None:
            args += [flag, str(value)]
    if global_clock:
        args.append("-g")
    return args


def parse(out):
    """loadgen's key=value line as a dict of numbers."""
    return {k: float(v) for k, v in (item.split("=") for item in out.split())}


def loadgen(port, conns=50, depth=1, mode="iamat", timeout=600, **settings):
    """One closed-loop run against PORT; loadgen's key=value line as a dict of numbers."""
    out = subprocess.run(loadgen_args(port, conns, depth, mode, **settings), check=True,
                         capture_output=True, text=True, timeout=timeout).stdout
    return parse(out)


def loadgen_background(port, **settings):
    """A run in the background: the Popen (its stdout a pipe, for parse after wait)."""
    return subprocess.Popen(loadgen_args(port, **settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def verdict(failed):
    """The exit status of a benchmark whose missed goals are FAILED (a list of words)."""
    if failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
