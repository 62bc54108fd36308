"""`./herd up` itself (SPEC 8): the default herd of etc/herd.conf, on free ports, with the
local Places stand-in; a sample session; a node that dies; Ctrl-C (SIGTERM) stops it all.

The script runs as README shows, with its test knobs: HERD_CONF (etc/herd.conf with free
ports), HERD_RUN (a run folder of the test's), HERD_HERDD and HERD_STANDIN (the binaries
under test, so it builds nothing)."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, scaled  # noqa: E402

HERD_SCRIPT = os.path.join(herdtest.REPO_ROOT, "herd")
CONF = os.path.join(herdtest.REPO_ROOT, "etc", "herd.conf")


class Up:
    """./herd up as a process of its own session, its output read as it comes."""

    def __init__(self, env):
        self.proc = subprocess.Popen([HERD_SCRIPT, "up"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.output = b""

    def read_until(self, pattern, timeout):
        """Reads the output until PATTERN (bytes regex) matches it; the match or None."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = re.search(pattern, self.output)
            if m is not None:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    return re.search(pattern, self.output)
                self.output += data

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc.stdout.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is no longer running.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class TestUp(HerdTestCase):

    def setUp(self):
        super().setUp()
        if not herdtest.standin_available():
            self.skipTest("the Places stand-in is not built")
        with open(CONF) as f:
            text = f.read()
        # Every node's three ports moved to free ones, the rest as shipped.
        ports = {}

        def free(m):
            ports.setdefault(m.group(1), herdtest.free_port())
            return "127.0.0.1:%d" % ports[m.group(1)]
        self.conf = os.path.join(self.tmp, "herd.conf")
        with open(self.conf, "w") as f:
            f.write(re.sub(r"127\.0\.0\.1:(\d+)", free, text))
        self.run_dir = os.path.join(self.tmp, "run")
        self.env = dict(os.environ, HERD_CONF=self.conf, HERD_RUN=self.run_dir,
                        HERD_HERDD=herdtest.herdd_path(), HERD_STANDIN=herdtest.standin_path())
        self.nodes = [line.split() for line in herdtest.run_herdd(
            ["-c", self.conf, "--list-nodes"]).stdout.splitlines()]
        self.assertEqual([n[0] for n in self.nodes],
                         ["Alford", "Bolden", "Hamilton", "Parker", "Powell"])

    def pid_of(self, name):
        with open(os.path.join(self.run_dir, "pids", name + ".pid")) as f:
            return int(f.read())

    def herd_view(self, admin):
        """ADMIN's /herd, or None while it does not answer."""
        try:
            with urllib.request.urlopen("http://%s/herd" % admin, timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    def test_up_serves_survives_a_dead_node_and_stops(self):
        up = Up(self.env)
        self.addCleanup(up.kill)
        self.assertIsNotNone(up.read_until(rb"Ctrl-C stops the herd", 60), up.output)
        self.assertIn(b"A sample session", up.output)
        self.assertIn(b"Places stand-in on https://127.0.0.1:", up.output)
        pids = {n[0]: self.pid_of(n[0]) for n in self.nodes}
        alford, hamilton = self.nodes[0], self.nodes[2]

        def whole():
            view = self.herd_view(alford[3])
            return view is not None and view["whole"]
        herdtest.wait_until(whole, timeout=15, what="the herd whole at Alford")

        # The sample session: an IAMAT at Alford, a WHATSAT at Hamilton answered by the
        # stand-in.
        host, port = alford[1].rsplit(":", 1)
        with herdtest.Client(int(port), host) as c:
            at = c.request(iamat("kiwi.cs.ucla.edu"))
        self.assertTrue(at.startswith(b"AT Alford "), at)
        host, port = hamilton[1].rsplit(":", 1)

        def whatsat():
            with herdtest.Client(int(port), host) as c:
                c.send(b"WHATSAT kiwi.cs.ucla.edu 10 5\n")
                first = c.read_line()
                # "? ...": the flood has not reached Hamilton yet; ask again.
                if first.startswith(b"? "):
                    return b""
                return first + b"\n" + c.read_until(b"\n\n", timeout=10)
        reply = herdtest.wait_until(lambda: (lambda r: r if b'"OK"' in r else None)(
            whatsat()), timeout=10, what="a WHATSAT at Hamilton answered")
        head, _, body = reply.partition(b"\n")
        self.assertEqual(head, at)
        self.assertEqual(json.loads(body)["status"], "OK")
        self.assertLessEqual(len(json.loads(body)["results"]), 5)

        status = subprocess.run([HERD_SCRIPT, "status"], env=self.env, capture_output=True,
                                text=True, timeout=30)
        self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
        self.assertIn("5 reachable, 0 not; whole", " ".join(status.stdout.split()))

        # A node that dies is reported, and its pid is forgotten with its pid file.
        os.kill(pids["Hamilton"], signal.SIGKILL)
        self.assertIsNotNone(up.read_until(rb"Hamilton exited with status \d+", 10),
                             up.output)
        herdtest.wait_until(lambda: not os.path.exists(
            os.path.join(self.run_dir, "pids", "Hamilton.pid")), timeout=5,
            what="Hamilton's pid file removed")
        self.assertIsNone(up.proc.poll(), "./herd up ended with one node dead")

        # Ctrl-C's signal's sibling: everything stops, the pid files go.
        up.proc.send_signal(signal.SIGTERM)
        self.assertEqual(up.proc.wait(timeout=scaled(15)), 143, up.output)
        up.read_until(rb"herd: stopped", 5)
        self.assertIn(b"herd: stopped", up.output)
        for name, pid in pids.items():
            self.assertFalse(pid_alive(pid), "%s (pid %d) still runs" % (name, pid))
        self.assertEqual(os.listdir(os.path.join(self.run_dir, "pids")), [])
        status = subprocess.run([HERD_SCRIPT, "status"], env=self.env, capture_output=True,
                                text=True, timeout=30)
        self.assertEqual(status.returncode, 3, status.stdout + status.stderr)

    def test_a_second_up_is_refused_while_the_first_runs(self):
        up = Up(self.env)
        self.addCleanup(up.kill)
        self.assertIsNotNone(up.read_until(rb"Ctrl-C stops the herd", 60), up.output)
        admin = self.nodes[0][3]
        herdtest.wait_until(lambda: self.herd_view(admin), timeout=10,
                            what="Alford's admin endpoint")
        second = subprocess.run([HERD_SCRIPT, "up"], env=self.env, capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
        self.assertIn("already running", second.stderr)
        self.assertIsNone(up.proc.poll())
        up.proc.send_signal(signal.SIGTERM)
        self.assertEqual(up.proc.wait(timeout=scaled(15)), 143)


if __name__ == "__main__":
    herdtest.main()
