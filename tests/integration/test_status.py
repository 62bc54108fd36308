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


# Reports every second, stale after three; a silent (SIGSTOP) link drops after two.
FAST = {"linkstate_interval": 1, "linkstate_max_age": 3, "peer_heartbeat_timeout": 2,
        "peer_backoff_max": 1}


def view_of(node, token=None):
    status, doc = admin_get(node, "/herd", token)
    return doc if status == 200 else None


def reported(node, name, token=None):
    """NAME's last report as NODE's /herd has it, or {}."""
    doc = view_of(node, token) or {"nodes": []}
    for entry in doc["nodes"]:
        if entry["name"] == name:
            return entry["report"] or {}
    return {}


class TestStatus(StatusTestCase):

    def test_three_nodes_one_stopped(self):
        """Every node is listed from one node's /herd; the stopped one is unreachable with
        its reason; clients, connections, counters and links are the nodes' reports."""
        herd = self.make_herd(["Alford", "Bolden", "Hamilton"],
                              peers={"Alford": ("Bolden", "Hamilton"), "Bolden": "Hamilton"},
                              herd_options=FAST)
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

        alford = herd["Alford"]
        self.wait_for(lambda: reported(alford, "Hamilton").get("clients") == 4,
                      "Hamilton's report of 4 clients at Alford")
        hamilton_pid = herd["Hamilton"].pid
        self.assertEqual(herd["Hamilton"].stop(), 0)
        self.wait_for(lambda: (view_of(alford)["unheard"] == ["Hamilton"] and
                               reported(alford, "Bolden").get("client_connections") == 1 and
                               reported(alford, "Bolden").get("clients") == 4),
                      "Alford's view: Hamilton gone, Bolden's connection counted")
        run_dir = write_run_folder(herd)

        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 1, "exit status with a node down\n" + r.stdout + r.stderr)
        self.assertFits(r)
        words = " ".join(r.stdout.split())
        self.assertIn("as Alford sees it: 3 nodes, 2 reachable, 1 not; 1 partition, 1 unheard",
                      words)
        self.assertIn("unheard of for 3s or more: Hamilton", words)
        self.assertNotIn("partitions:", words)
        found = tables(r.stdout)

        nodes = {row[0]: row for row in found["NODE STATE"]}
        self.assertEqual(sorted(nodes), ["Alford", "Bolden", "Hamilton"], r.stdout)
        # NODE STATE HEARD PID UPTIME CLIENTS CONNS IAMAT WHATSAT INVALID
        self.assertEqual(nodes["Alford"][1:4], ["up", "now", str(alford.pid)])
        self.assertEqual(nodes["Alford"][5:], ["4", "0", "3", "0", "0"])
        self.assertEqual(nodes["Bolden"][1], "up")
        self.assertEqual(nodes["Bolden"][3], str(herd["Bolden"].pid))
        self.assertEqual(nodes["Bolden"][5:], ["4", "1", "1", "0", "0"])
        self.assertEqual(nodes["Hamilton"][1], "unreachable")
        why = " ".join(nodes["Hamilton"][3:])
        self.assertIn("last report: 4 clients", why)
        self.assertIn("pid %d exited" % hamilton_pid, why)
        self.assertIn("connection refused", why)

        # NODE ORIGINATED RECEIVED ... : only the nodes the view reaches.
        counters = {row[0]: row for row in found["NODE ORIGINATED"]}
        self.assertEqual(sorted(counters), ["Alford", "Bolden"])
        self.assertEqual(counters["Alford"][1], "3")
        self.assertEqual(counters["Bolden"][1], "1")

        # NODE PEER LINK NODE-SAYS PEER-SAYS: every configured link, once.
        links = {(row[0], row[1]): row[2:] for row in found["NODE PEER"]}
        self.assertEqual(sorted(links), [("Alford", "Bolden"), ("Alford", "Hamilton"),
                                         ("Bolden", "Hamilton")])
        self.assertEqual(links["Alford", "Bolden"], ["up", "up", "up"])
        self.assertIn(links["Alford", "Hamilton"][0], ("down", "half"))
        self.assertIn(links["Alford", "Hamilton"][1], ("down", "connecting"))
        self.assertIn(links["Bolden", "Hamilton"][1], ("down", "connecting"))

        # Another node's view on request; a node that is not in the herd is a usage error.
        r = herd_status(run_dir, "--from", "Bolden")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("as Bolden sees it", r.stdout)
        r = herd_status(run_dir, "--from", "Nobody")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no such node", r.stderr)
        r = herd_status(run_dir, "--from", "Hamilton")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # Only the node asked for is said not to answer, the others do.
        said = " ".join(r.stderr.split())
        self.assertIn("herd: Hamilton does not answer /herd", said)
        self.assertIn("connection refused", said)

        held.close()
        herd.stop_all()
        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no running herd", r.stderr)
        self.assertIn("none of its 3 nodes", r.stderr)
        self.assertFits(r)

    def test_hung_node_and_stale_pid_file(self):
        """Nodes that do not answer (SIGSTOP) cost one --timeout together, and are shown
        unreachable once their links time out; a pid file naming another program does not
        make a node running; a node without a pid file that answers is up."""
        herd = self.make_herd(["Alford", "Bolden", "Hamilton", "Parker"],
                              peers={"Alford": ("Bolden", "Parker"), "Hamilton": "Alford"},
                              herd_options=FAST)
        herd.start("Alford", "Bolden", "Parker")
        alford = herd["Alford"]
        self.wait_for(lambda: view_of(alford)["reachable"] == ["Alford", "Bolden", "Parker"],
                      "Alford to reach Bolden and Parker")
        herd["Bolden"].signal(signal.SIGSTOP)
        self.addCleanup(herd["Bolden"].signal, signal.SIGCONT)
        herd["Parker"].signal(signal.SIGSTOP)
        self.addCleanup(herd["Parker"].signal, signal.SIGCONT)
        run_dir = write_run_folder(herd, {"Bolden": herd["Bolden"].pid,
                                          "Parker": herd["Parker"].pid,
                                          "Hamilton": os.getpid()})

        # At once, while Alford still counts them: said to be silent, not healthy.
        r = herd_status(run_dir, "--timeout", "1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no answer from the admin endpoint of: Bolden Hamilton Parker",
                      " ".join(r.stdout.split()))
        nodes = {row[0]: row for row in tables(r.stdout)["NODE STATE"]}
        for name in ("Bolden", "Parker"):
            if nodes[name][1] == "up":
                why = " ".join(nodes[name][3:])
                self.assertIn("its admin endpoint does not answer", why)
                self.assertIn("pid %d is stopped" % herd[name].pid, why)

        self.wait_for(lambda: view_of(alford)["reachable"] == ["Alford"],
                      "Alford's links to the stopped nodes to time out")

        start = time.monotonic()
        r = herd_status(run_dir, "--timeout", "2")
        elapsed = time.monotonic() - start
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertFits(r)
        # Two hung nodes asked one after the other would take twice the timeout.
        self.assertLess(elapsed, 3.9, "the hung nodes were not asked at once")
        self.assertIn("as Alford sees it: 4 nodes, 1 reachable, 3 not",
                      " ".join(r.stdout.split()))
        nodes = {row[0]: row for row in tables(r.stdout)["NODE STATE"]}
        self.assertEqual(sorted(nodes), ["Alford", "Bolden", "Hamilton", "Parker"], r.stdout)
        self.assertEqual(nodes["Alford"][1:4], ["up", "now", "-"])
        for name in ("Bolden", "Parker"):
            self.assertEqual(nodes[name][1], "unreachable")
            why = " ".join(nodes[name][3:])
            self.assertIn("no answer within 2s", why)
            self.assertIn("pid %d is stopped" % herd[name].pid, why)
        self.assertEqual(nodes["Hamilton"][1:3], ["unknown", "never"])
        why = " ".join(nodes["Hamilton"][3:])
        self.assertIn("stale pid file (pid %d is another program)" % os.getpid(), why)
        self.assertIn("connection refused", why)

    def test_admin_token_and_long_names(self):
        """With admin_token_file set the token is sent (without it every node answers 401);
        names too long for the tables are cut so that no line is wider than 100."""
        names = ["Node-with-a-rather-long-name-number-%d" % i for i in (1, 2, 3)]
        herd = self.make_herd(names, peers={names[0]: names[1], names[1]: names[2]},
                              herd_options=dict(FAST, admin_token_file="admin.token"))
        token = "status-test-token-0123456789"
        token_path = os.path.join(herd.dir, "admin.token")
        with open(token_path, "w") as f:
            f.write(token + "\n")
        os.chmod(token_path, 0o600)
        herd.start()
        self.assertEqual(admin_get(herd[names[0]], "/herd")[0], 401)
        herd[names[1]].request(iamat("kiwi"))
        first = herd[names[0]]
        self.wait_for(lambda: (len(view_of(first, token)["reachable"]) == 3 and
                               all(reported(first, n, token).get("clients") == 1
                                   for n in names)),
                      "the herd whole with 1 client everywhere")
        run_dir = write_run_folder(herd)

        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFits(r)
        self.assertIn("3 nodes, 3 reachable, 0 not; whole", " ".join(r.stdout.split()))
        found = tables(r.stdout)
        # Cut in the middle to fit, the names keep their ends.
        nodes = {row[0][-8:]: row for row in found["NODE STATE"]}
        self.assertEqual(sorted(nodes), [name[-8:] for name in names], r.stdout)
        nodes = {name: nodes[name[-8:]] for name in names}
        for name in names:
            self.assertEqual(nodes[name][1], "up")
            self.assertEqual(nodes[name][3], str(herd[name].pid))
            self.assertEqual(nodes[name][5], "1")
        self.assertEqual(nodes[names[1]][7], "1")
        links = found["NODE PEER"]
        self.assertEqual(len(links), 2, r.stdout)
        self.assertEqual([row[2:] for row in links], [["up", "up", "up"]] * 2, r.stdout)

        # A byte order mark, which herdd skips, hid [herd] and so the token: every node
        # answered 401.
        with open(herd.config_path, "rb") as f:
            text = f.read()
        self.assertTrue(text.startswith(b"; generated"), text[:40])
        with open(herd.config_path, "wb") as f:
            f.write(b"\xef\xbb\xbf" + text.split(b"\n", 1)[1])
        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # Stopped, with its herd.conf gone: no herd runs (3), not a herd in trouble (1),
        # which made ./herd up refuse to start.
        herd.stop_all()
        os.remove(herd.config_path)
        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("no running herd", r.stderr)

    def test_no_herd(self):
        """A folder without a herd: said so, exit status 3, nothing on standard output."""
        r = herd_status(os.path.join(self.tmp, "nothing-here"))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no running herd", r.stderr)

    def test_paths_are_not_split_to_wrap(self):
        """A path in a message stays on one line, so that it can be copied."""
        run_dir = os.path.join(self.tmp, "a-folder-with-a-name-long-enough-to-wrap-" * 2)
        r = herd_status(run_dir)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn(os.path.join(run_dir, "nodes"), r.stderr)


if __name__ == "__main__":
    herdtest.main()
