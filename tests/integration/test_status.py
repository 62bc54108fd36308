"""`./herd status` against real herds: the run folder ./herd up leaves (herd.conf, nodes,
pids/NAME.pid) is made here for a herd of herdtest, and `./herd status --run DIR` has to
tell which nodes are up, why the others are down, their links, clients and counters, in
lines of at most 100 columns."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, run_herdd, scaled  # noqa: E402

HERD_SCRIPT = os.path.join(herdtest.REPO_ROOT, "herd")
WIDTH = 100


def admin_get(node, path, token=None):
    """GET PATH from NODE's admin endpoint with an optional bearer token: (status, JSON)."""
    req = urllib.request.Request("http://%s:%d%s" % (herdtest.HOST, node.admin_port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=scaled(5)) as r:
            return r.status, json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        return e.code, None


def write_run_folder(herd, pids=None):
    """Makes HERD's folder look like run/ after ./herd up: herd.conf is already there,
    nodes is herdd --list-nodes of it, pids/NAME.pid holds PIDS[NAME] (default: the pid
    of every node the herd started)."""
    r = run_herdd(["-c", herd.config_path, "--list-nodes"])
    if r.returncode != 0:
        raise herdtest.HerdError("herdd --list-nodes failed: %s" % r.stderr)
    with open(os.path.join(herd.dir, "nodes"), "w") as f:
        f.write(r.stdout)
    if pids is None:
        pids = {node.name: node.pid for node in herd.started}
    os.makedirs(os.path.join(herd.dir, "pids"), exist_ok=True)
    for name, pid in pids.items():
        with open(os.path.join(herd.dir, "pids", name + ".pid"), "w") as f:
            f.write("%d\n" % pid)
    return herd.dir


def herd_status(run_dir, *args):
    """Runs ./herd status --run RUN_DIR ARGS: CompletedProcess with text output."""
    return subprocess.run([HERD_SCRIPT, "status", "--run", run_dir] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=scaled(60))


def tables(output):
    """The tables of ./herd status's output by their first column headers ("NODE STATE",
    "NODE ORIGINATED", "NODE PEER"): each a list of rows, a row being the fields of a line
    together with the lines wrapped under it."""
    found = {}
    for block in output.split("\n\n"):
        lines = block.strip("\n").split("\n")
        head = lines[0].split()
        if head[0] != "NODE":
            continue
        rows = []
        for line in lines[1:]:
            if line.startswith(" ") and rows:
                rows[-1] += line.split()
            else:
                rows.append(line.split())
        found[" ".join(head[:2])] = rows
    return found


class StatusTestCase(HerdTestCase):

    def wait_for(self, predicate, what, timeout=10.0):
        deadline = time.monotonic() + scaled(timeout)
        while not predicate():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.05)

    def link_states(self, node, token=None):
        status, doc = admin_get(node, "/peers", token)
        self.assertEqual(status, 200)
        return {p["name"]: p["state"] for p in doc["peers"]}

    def clients(self, node, token=None):
        status, doc = admin_get(node, "/stats", token)
        self.assertEqual(status, 200)
        return doc["clients"]

    def assertFits(self, r):
        for line in (r.stdout + r.stderr).splitlines():
            self.assertLessEqual(len(line), WIDTH, "line wider than %d columns: %r"
                                 % (WIDTH, line))


class TestStatus(StatusTestCase):

    def test_three_nodes_one_stopped(self):
        """Every node is listed; the stopped one is down with its reason; links, clients,
        connections and counters are the nodes' own."""
        herd = self.make_herd(["Alford", "Bolden", "Hamilton"],
                              peers={"Alford": ("Bolden", "Hamilton"), "Bolden": "Hamilton"})
        herd.start()
        for node in herd:
            self.wait_for(lambda: set(self.link_states(node).values()) == {"up"},
                          "every link of %s up" % node.name)
        for i in range(3):
            self.assertTrue(herd["Alford"].request(iamat("kiwi%d" % i)).startswith(b"AT "))
        # An open connection to Bolden, counted as one of its client connections.
        held = herd["Bolden"].client()
        self.addCleanup(held.close)
        self.assertTrue(held.request(iamat("cat")).startswith(b"AT "))
        for node in herd:
            self.wait_for(lambda: self.clients(node) == 4, "4 clients at %s" % node.name)

        hamilton_pid = herd["Hamilton"].pid
        self.assertEqual(herd["Hamilton"].stop(), 0)
        for name in ("Alford", "Bolden"):
            self.wait_for(lambda: self.link_states(herd[name])["Hamilton"] != "up",
                          "%s's link to Hamilton down" % name)
        run_dir = write_run_folder(herd)

        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 1, "exit status with a node down\n" + r.stdout + r.stderr)
        self.assertFits(r)
        self.assertIn("3 nodes, 2 up, 1 down", r.stdout)
        found = tables(r.stdout)

        nodes = {row[0]: row for row in found["NODE STATE"]}
        self.assertEqual(sorted(nodes), ["Alford", "Bolden", "Hamilton"], r.stdout)
        # NODE STATE PID UPTIME CLIENTS CONNS IAMAT WHATSAT INVALID
        self.assertEqual(nodes["Alford"][1:3], ["up", str(herd["Alford"].pid)])
        self.assertEqual(nodes["Alford"][4:], ["4", "0", "3", "0", "0"])
        self.assertEqual(nodes["Bolden"][1:3], ["up", str(herd["Bolden"].pid)])
        self.assertEqual(nodes["Bolden"][4:], ["4", "1", "1", "0", "0"])
        self.assertEqual(nodes["Hamilton"][1], "down")
        why = " ".join(nodes["Hamilton"][2:])
        self.assertIn("pid %d exited" % hamilton_pid, why)
        self.assertIn("connection refused", why)

        # NODE ORIGINATED RECEIVED ... : only the nodes that answer.
        counters = {row[0]: row for row in found["NODE ORIGINATED"]}
        self.assertEqual(sorted(counters), ["Alford", "Bolden"])
        self.assertEqual(counters["Alford"][1], "3")
        self.assertEqual(counters["Bolden"][1], "1")

        # NODE PEER LINK SINCE FOR SENT RECEIVED QUEUED FAILED
        links = {(row[0], row[1]): row[2] for row in found["NODE PEER"]}
        self.assertEqual(sorted(links), [("Alford", "Bolden"), ("Alford", "Hamilton"),
                                         ("Bolden", "Alford"), ("Bolden", "Hamilton")])
        self.assertEqual(links["Alford", "Bolden"], "up")
        self.assertEqual(links["Bolden", "Alford"], "up")
        self.assertIn(links["Alford", "Hamilton"], ("down", "connecting"))
        self.assertIn(links["Bolden", "Hamilton"], ("down", "connecting"))

        held.close()
        herd.stop_all()
        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no running herd", r.stderr)
        self.assertIn("none of its 3 nodes", r.stderr)
        self.assertFits(r)

    def test_hung_node_and_stale_pid_file(self):
        """A node that does not answer (SIGSTOP) is down after --timeout, not waited for
        node after node; a pid file naming another program does not make a node running;
        a node without a pid file that answers is up."""
        herd = self.make_herd(["Alford", "Bolden", "Hamilton", "Parker"],
                              peers={"Alford": ("Bolden", "Parker"), "Hamilton": "Alford"})
        herd.start("Alford", "Bolden", "Parker")
        herd["Bolden"].signal(signal.SIGSTOP)
        self.addCleanup(herd["Bolden"].signal, signal.SIGCONT)
        herd["Parker"].signal(signal.SIGSTOP)
        self.addCleanup(herd["Parker"].signal, signal.SIGCONT)
        run_dir = write_run_folder(herd, {"Bolden": herd["Bolden"].pid,
                                          "Parker": herd["Parker"].pid,
                                          "Hamilton": os.getpid()})

        start = time.monotonic()
        r = herd_status(run_dir, "--timeout", "2")
        elapsed = time.monotonic() - start
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertFits(r)
        # Two hung nodes asked one after the other would take twice the timeout.
        self.assertLess(elapsed, 3.9, "the hung nodes were not asked at once")
        nodes = {row[0]: row for row in tables(r.stdout)["NODE STATE"]}
        self.assertEqual(sorted(nodes), ["Alford", "Bolden", "Hamilton", "Parker"], r.stdout)
        self.assertEqual(nodes["Alford"][1:3], ["up", "-"])
        for name in ("Bolden", "Parker"):
            self.assertEqual(nodes[name][1], "down")
            why = " ".join(nodes[name][2:])
            self.assertIn("no answer within 2s", why)
            self.assertIn("pid %d is stopped" % herd[name].pid, why)
        self.assertEqual(nodes["Hamilton"][1], "down")
        why = " ".join(nodes["Hamilton"][2:])
        self.assertIn("stale pid file (pid %d is another program)" % os.getpid(), why)
        self.assertIn("connection refused", why)

    def test_admin_token_and_long_names(self):
        """With admin_token_file set the token is sent (without it every node answers 401);
        names too long for the tables are cut so that no line is wider than 100."""
        names = ["Node-with-a-rather-long-name-number-%d" % i for i in (1, 2, 3)]
        herd = self.make_herd(names, peers={names[0]: names[1], names[1]: names[2]},
                              herd_options={"admin_token_file": "admin.token"})
        token = "status-test-token-0123456789"
        token_path = os.path.join(herd.dir, "admin.token")
        with open(token_path, "w") as f:
            f.write(token + "\n")
        os.chmod(token_path, 0o600)
        herd.start()
        self.assertEqual(admin_get(herd[names[0]], "/stats")[0], 401)
        for node in herd:
            self.wait_for(lambda: set(self.link_states(node, token).values()) == {"up"},
                          "every link of %s up" % node.name)
        herd[names[1]].request(iamat("kiwi"))
        for node in herd:
            self.wait_for(lambda: self.clients(node, token) == 1, "1 client at " + node.name)
        run_dir = write_run_folder(herd)

        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFits(r)
        self.assertIn("3 nodes, 3 up, 0 down", r.stdout)
        found = tables(r.stdout)
        nodes = {row[0]: row for row in found["NODE STATE"]}
        self.assertEqual(sorted(nodes), names, r.stdout)
        for name in names:
            self.assertEqual(nodes[name][1:3], ["up", str(herd[name].pid)])
            self.assertEqual(nodes[name][4], "1")
        self.assertEqual(nodes[names[1]][6], "1")
        links = found["NODE PEER"]
        self.assertEqual(len(links), 4, r.stdout)
        self.assertEqual([row[2] for row in links], ["up"] * 4, r.stdout)

    def test_no_herd(self):
        """A folder without a herd: said so, exit status 3, nothing on standard output."""
        r = herd_status(os.path.join(self.tmp, "nothing-here"))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no running herd", r.stderr)


if __name__ == "__main__":
    herdtest.main()
