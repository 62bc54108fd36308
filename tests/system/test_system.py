"""The herd under a real systemd: the installed unit, in a container booted with
systemd-nspawn, on the default five-node herd (README "Running under systemd").

The run: the cached Debian tree (tree.py) under an overlay (container.py); `meson install
--destdir` of the build into it; /etc/herd/herd.conf made from etc/herd.conf, with the
herd secret and the Places key in /etc/herd (mode 600, root: only LoadCredential= can
hand them to the nodes' dynamic users); the Places stand-in as a transient unit; boot;
then the checks below, in order. Everything stays inside the container (its own
loopback): no port of the host is used.

Where the container cannot run at all (not root, no systemd-nspawn and apt-get cannot
install it, the kernel refuses the namespaces), the run says why and exits 77, which
meson counts as a skip.

    sudo /usr/bin/python3 tests/system/test_system.py -v [TestSystem.test_NAME ...]

Environment (meson sets them): HERD_BUILD_ROOT (default build/), HERDD, PLACES_STANDIN,
STATE_GEN, MKCERTS; HERD_SYSTEM_TREE (default /var/lib/machines/herd-CODENAME).
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration"))

import container  # noqa: E402
import herdtest  # noqa: E402
import tree  # noqa: E402

SKIP = 77
BUILD_ROOT = os.environ.get("HERD_BUILD_ROOT") or os.path.join(REPO_ROOT, "build")
HERDD = os.environ.get("HERDD") or os.path.join(BUILD_ROOT, "server", "herdd")
PLACES_STANDIN = (os.environ.get("PLACES_STANDIN")
                  or os.path.join(BUILD_ROOT, "tests", "standin", "places-standin"))
STATE_GEN = os.environ.get("STATE_GEN") or os.path.join(BUILD_ROOT, "tests", "state_gen")
MKCERTS = os.environ.get("MKCERTS") or os.path.join(REPO_ROOT, "tests", "standin", "mkcerts.sh")
CONF_SOURCE = os.path.join(REPO_ROOT, "etc", "herd.conf")

# Inside the container.
CONF = "/etc/herd/herd.conf"
CREDENTIALS = "/etc/herd/credentials"
SECRET = CREDENTIALS + "/herd.secret"
PLACES_KEY = CREDENTIALS + "/places.key"
PLACES_CA = "/etc/herd/places-ca.pem"
STANDIN_DIR = "/opt/herd-system"
STANDIN_PORT = 12443
# The READY check's snapshot is made for this herd ID (state_gen needs one).
HERD_ID = "systemtest"
# Records in that snapshot: loading them holds herdd between its start and READY=1
# for about 0.3 s, long enough to see the unit "activating" meanwhile.
READY_RECORDS = 300000
# The drop-in of the watchdog checks, on one node. herdd pings at half of whatever
# WatchdogSec= systemd passes (WATCHDOG_USEC), so 6 s tests the same mechanism as the
# unit's 20 s: a 20 s wait spans more than three periods, in each of which a missed ping
# would have had the node killed and restarted; the other nodes keep the unit's 20 s,
# and the check sees herdd take that value too.
WATCHDOG_SEC = 6
WATCHDOG_WAIT = 20.0

_proxyless = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_log = sys.stdout


def say(text):
    print("system: " + text, file=_log, flush=True)


# --- can it run here at all -----------------------------------------------------------

def preflight(tree_path):
    """None when the container can run here, else why not (the run then skips)."""
    if os.geteuid() != 0:
        return ("not root (uid %d): systemd-nspawn --boot, mount and nsenter need root"
                % os.geteuid())
    need = ["systemd-nspawn", "nsenter", "unshare"]
    if not tree.is_current(tree_path):
        need.append("mmdebstrap")
    missing = [tool for tool in need if shutil.which(tool) is None]
    if missing:
        why = install_tools()
        missing = [tool for tool in need if shutil.which(tool) is None]
        if missing:
            return "%s not installed, and apt-get install systemd-container mmdebstrap %s" % (
                ", ".join(missing), why)
    probe = subprocess.run(["unshare", "--mount", "--uts", "--ipc", "--net", "--pid",
                            "--fork", "true"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    if probe.returncode != 0:
        return "the kernel refuses the namespaces nspawn needs (unshare: %s)" % (
            probe.stdout.strip() or "exit %d" % probe.returncode)
    return None


def install_tools():
    """Tries apt-get for the missing tools; what happened, as the end of a sentence."""
    if shutil.which("apt-get") is None:
        return "cannot run: there is no apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                  "systemd-container", "mmdebstrap"]):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        if result.returncode != 0:
            tail = " / ".join(result.stdout.strip().splitlines()[-3:])
            return "failed (%s: exit %d: %s)" % (" ".join(argv[:2]), result.returncode, tail)
    return "did not provide them"


# --- the herd -------------------------------------------------------------------------

Node = collections.namedtuple("Node", "name client_port admin_port neighbours")


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def read_nodes():
    """The nodes of etc/herd.conf as herdd reads them (herdd --list-nodes)."""
    out = subprocess.run([HERDD, "-c", CONF_SOURCE, "--list-nodes"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    nodes = collections.OrderedDict()
    for line in out.splitlines():
        fields = line.split()
        neighbours = fields[4].split(",") if len(fields) > 4 else []
        nodes[fields[0]] = Node(fields[0], port_of(fields[1]), port_of(fields[3]),
                                neighbours)
    return nodes


def farthest_pair(nodes):
    """The two nodes with the most links between them (the first such pair by name)."""
    best = (-1, None, None)
    for start in sorted(nodes):
        hops, todo = {start: 0}, collections.deque([start])
        while todo:
            here = todo.popleft()
            for there in nodes[here].neighbours:
                if there not in hops:
                    hops[there] = hops[here] + 1
                    todo.append(there)
        for end in sorted(hops):
            if hops[end] > best[0]:
                best = (hops[end], start, end)
    return best


def herd_conf(text, overrides):
    """TEXT (a herd.conf) with the [herd] keys of OVERRIDES set to their values."""
    out, in_herd = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_herd = stripped.replace(" ", "") == "[herd]"
            out.append(line)
            if in_herd:
                out.append("; set by tests/system/test_system.py")
                out.extend("%s = %s" % kv for kv in overrides.items())
            continue
        key = stripped.split("=", 1)[0].strip()
        if in_herd and not stripped.startswith((";", "#")) and "=" in stripped \
                and key in overrides:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def installed_paths():
    """(herdd, unit) as `meson install` places them, from meson introspect --installed."""
    out = subprocess.run(["meson", "introspect", "--installed", BUILD_ROOT], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    installed = json.loads(out)
    herdd = [dest for dest in installed.values() if os.path.basename(dest) == "herdd"]
    units = [dest for dest in installed.values() if os.path.basename(dest) == "herdd@.service"]
    if len(herdd) != 1 or len(units) != 1:
        raise AssertionError("meson install should install one herdd and one herdd@.service; "
                             "meson introspect --installed lists %r" % installed)
    return herdd[0], units[0]


def unit_commands(text):
    """(key, executable) of every ExecStart= and ExecStartPre= line of a unit's TEXT."""
    found = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("ExecStart", "ExecStartPre") and value.strip():
            found.append((key.strip(), value.split()[0].lstrip("@-:+!")))
    return found


class System:
    """The container with the installed build and the herd's files, once per run."""

    def __init__(self, tree_path):
        self.tree = tree_path
        self.box = container.Container(tree_path, log=_log)
        self.nodes = read_nodes()
        self.hops, self.near, self.far = farthest_pair(self.nodes)
        self.places_key = "system-" + os.urandom(8).hex()
        self.herdd = self.unit_path = None
        self.timings = collections.OrderedDict()

    def setup(self):
        started = time.monotonic()
        container.clean_stale(self.tree, _log)
        self.box.create()
        self.install()
        self.write_herd_files()
        self.timings["install"] = time.monotonic() - started
        started = time.monotonic()
        self.box.boot()
        self.timings["boot"] = time.monotonic() - started
        say("booted %s in %.1f s" % (self.box.name, self.timings["boot"]))
        self.check_unit_loaded()
        self.start_standin()

    def install(self):
        """meson install into the container's root; the unit must run the herdd installed."""
        result = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--destdir",
                                 self.box.root, "--no-rebuild", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise AssertionError("meson install --destdir %s failed:\n%s"
                                 % (self.box.root, result.stdout))
        self.herdd, self.unit_path = installed_paths()
        for path in (self.herdd, self.unit_path):
            if not os.path.isfile(self.box.path(path)):
                raise AssertionError("meson install did not put %s in the tree" % path)
        with open(self.box.path(self.unit_path)) as f:
            commands = unit_commands(f.read())
        if not any(key == "ExecStart" for key, _ in commands):
            raise AssertionError("the installed unit %s has no ExecStart=" % self.unit_path)
        for key, path in commands:
            if not self.same_file(path, self.herdd):
                raise AssertionError(
                    "the installed unit %s runs %s in %s=, but meson installed herdd as %s: "
                    "the unit must name the bindir it is installed with"
                    % (self.unit_path, path, key, self.herdd))

    def write_herd_files(self):
        """/etc/herd (configuration, secrets), the stand-in and the watchdog drop-in."""
        etc = self.box.path("/etc/herd")
        os.makedirs(etc, mode=0o755)
        with open(CONF_SOURCE) as f:
            conf = herd_conf(f.read(), collections.OrderedDict([
                ("secret_file", SECRET),
                ("places_key_file", PLACES_KEY),
                ("places_url", "https://127.0.0.1:%d/maps/api/place/nearbysearch/json"
                 % STANDIN_PORT),
                ("places_ca_file", PLACES_CA),
                ("herd_id", HERD_ID),
            ]))
        self.write(CONF, conf, 0o644)
        os.makedirs(self.box.path(CREDENTIALS), mode=0o700)
        self.write(SECRET, os.urandom(32).hex() + "\n", 0o600)
        self.write(PLACES_KEY, self.places_key + "\n", 0o600)
        certs = os.path.join(self.box.dir, "certs")
        subprocess.run(["sh", MKCERTS, certs], check=True)
        os.makedirs(self.box.path(STANDIN_DIR))
        shutil.copy(os.path.join(certs, "ca.pem"), self.box.path(PLACES_CA))
        for name in ("server.pem", "server.key"):
            shutil.copy(os.path.join(certs, name), self.box.path(STANDIN_DIR + "/" + name))
            os.chmod(self.box.path(STANDIN_DIR + "/" + name), 0o644)
        shutil.copy(PLACES_STANDIN, self.box.path(STANDIN_DIR + "/places-standin"))
        self.write(self.dropin(self.far, "watchdog"),
                   "# tests/system: a shorter watchdog for the watchdog checks\n"
                   "[Service]\nWatchdogSec=%ds\n" % WATCHDOG_SEC, 0o644)

    def same_file(self, a, b):
        """True if container paths A and B name one file (/lib is /usr/lib, ...)."""
        try:
            return a == b or os.path.samefile(self.box.path(a), self.box.path(b))
        except FileNotFoundError:
            return False

    def write(self, path, text, mode):
        host = self.box.path(path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "w") as f:
            f.write(text)
        os.chmod(host, mode)

    @staticmethod
    def dropin(node, name):
        return "/etc/systemd/system/herdd@%s.service.d/%s.conf" % (node, name)

    def check_unit_loaded(self):
        unit = "herdd@%s.service" % self.near
        props = self.show(unit, "LoadState", "FragmentPath")
        if props["LoadState"] != "loaded" or not self.same_file(props["FragmentPath"],
                                                                 self.unit_path):
            paths = self.box.run(["systemd-analyze", "unit-paths"], check=False).stdout
            raise AssertionError(
                "systemd loads %s from %r (%s), not from the installed %s; its unit path "
                "is:\n%s" % (unit, props["FragmentPath"], props["LoadState"],
                             self.unit_path, paths))

    def start_standin(self):
        """The Places stand-in as a transient unit with its own dynamic user; it accepts
        only the key of /etc/herd/places.key, so an answer proves the key arrived."""
        self.box.run(["systemd-run", "--quiet", "--unit=places-standin",
                      "--service-type=exec", "--property=DynamicUser=yes",
                      STANDIN_DIR + "/places-standin", "--listen",
                      "127.0.0.1:%d" % STANDIN_PORT, "--cert", STANDIN_DIR + "/server.pem",
                      "--key", STANDIN_DIR + "/server.key", "--key-required",
                      self.places_key])
        deadline = time.monotonic() + 10
        while not self.port_open(STANDIN_PORT):
            if time.monotonic() > deadline:
                raise AssertionError("the Places stand-in does not listen:\n"
                                     + self.journal("places-standin"))
            time.sleep(0.05)

    # -- helpers for the checks ------------------------------------------------------

    def systemctl(self, *args, check=True, timeout=60.0):
        return self.box.run(["systemctl"] + list(args), check=check, timeout=timeout)

    def show(self, unit, *props):
        out = self.systemctl("show", unit, "--property=" + ",".join(props)).stdout
        values = dict.fromkeys(props, "")
        for line in out.splitlines():
            key, _, value = line.partition("=")
            values[key] = value
        return values

    def journal(self, unit, after=None):
        """UNIT's journal as text (-o cat), after cursor AFTER when given."""
        argv = ["journalctl", "--no-pager", "-o", "cat", "-u", unit]
        if after:
            argv.append("--after-cursor=" + after)
        return self.box.run(argv, check=False).stdout

    def cursor(self, unit):
        """The cursor of UNIT's last journal entry (None when there is none)."""
        out = self.box.run(["journalctl", "--no-pager", "-o", "cat", "-n", "1",
                            "--show-cursor", "-u", unit], check=False).stdout
        m = re.search(r"^-- cursor: (\S+)$", out, re.M)
        return m.group(1) if m else None

    def wait_journal(self, unit, pattern, after=None, timeout=10.0):
        """The first line of UNIT's journal (after AFTER) that matches PATTERN."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.journal(unit, after)
            m = re.search(pattern, text, re.M)
            if m:
                return m.group(0)
            if time.monotonic() > deadline:
                raise AssertionError("no line matching %r in the journal of %s:\n%s"
                                     % (pattern, unit, text[-3000:]))
            time.sleep(0.1)

    def port_open(self, port):
        try:
            with self.box.network():
                herdtest.Client(port, timeout=1.0).close()
            return True
        except OSError:
            return False

    def client(self, node):
        with self.box.network():
            return herdtest.Client(self.nodes[node].client_port)

    def admin(self, node, path):
        """GET PATH of NODE's admin endpoint: (status, parsed JSON)."""
        url = "http://127.0.0.1:%d%s" % (self.nodes[node].admin_port, path)
        with self.box.network():
            try:
                with _proxyless.open(url, timeout=5) as r:
                    return r.status, json.loads(r.read().decode())
            except urllib.error.HTTPError as e:
                return e.code, None

    def wait_client(self, node, client_id, timeout=15.0):
        """The admin record of CLIENT_ID on NODE, once NODE knows it."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.admin(node, "/clients/" + client_id)
            if status == 200:
                return body
            if time.monotonic() > deadline:
                raise AssertionError("%s does not know %s after %.0f s (GET /clients/%s: %d)"
                                     % (node, client_id, timeout, client_id, status))
            time.sleep(0.1)

    def main_pid(self, node):
        return int(self.show("herdd@%s" % node, "MainPID")["MainPID"])

    def start(self, *nodes):
        self.systemctl("start", *["herdd@%s" % n for n in nodes])

    def herd_up(self):
        """Every node of the herd active (started if not), every link up."""
        down = [n for n in self.nodes
                if self.show("herdd@%s" % n, "ActiveState")["ActiveState"] != "active"]
        if down:
            self.start(*down)
        deadline = time.monotonic() + 15
        while True:
            try:
                states = {n: sorted((p["name"], p["state"]) for p in
                                    self.admin(n, "/peers")[1]["peers"]) for n in self.nodes}
            except OSError as e:
                states = str(e)
            else:
                if all(s == "up" for peers in states.values() for _, s in peers):
                    return states
            if time.monotonic() > deadline:
                raise AssertionError("links not all up after 15 s: %r" % states)
            time.sleep(0.1)

    def monotonic_usec(self):
        """CLOCK_MONOTONIC in microseconds: systemd's ...Monotonic timestamps (the
        container has no time namespace of its own)."""
        return int(time.monotonic() * 1000000)

    def teardown(self):
        started = time.monotonic()
        self.box.terminate()
        self.timings["teardown"] = time.monotonic() - started


def status_fields(text):
    """/proc/PID/status as {field: value}."""
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


class TestSystem(unittest.TestCase):
    """The checks, in the order they run (each names what it relies on)."""

    system = None

    @property
    def s(self):
        return TestSystem.system

    def node_unit(self, node):
        return "herdd@%s.service" % node

    def test_01_installed_unit(self):
        """systemd runs the unit meson installed, and it is Type=notify."""
        props = self.s.show(self.node_unit(self.s.near), "FragmentPath", "Type",
                            "NotifyAccess", "ExecStart", "User", "DynamicUser")
        self.assertTrue(self.s.same_file(props["FragmentPath"], self.s.unit_path),
                        props["FragmentPath"])
        self.assertEqual(props["Type"], "notify")
        self.assertEqual(props["NotifyAccess"], "main")
        self.assertIn("path=%s " % self.s.herdd, props["ExecStart"])
        self.assertEqual(props["User"], "herdd-%s" % self.s.near)
        self.assertEqual(props["DynamicUser"], "yes")

    def test_02_missing_secret(self):
        """A node whose herd secret is missing does not start, and says why."""
        s, node = self.s, self.s.near
        unit = self.node_unit(node)
        away = s.box.path(SECRET) + ".away"
        os.rename(s.box.path(SECRET), away)
        try:
            # As shipped: the unit loads the folder /etc/herd/credentials, so a file
            # missing from it is no error to systemd; herdd --check (ExecStartPre) then
            # looks for secret_file (the same path) itself, and names it, at its line of
            # herd.conf, in the journal that systemctl start points to (journalctl -xeu
            # UNIT). systemctl status does not show it: it shows the lines since the
            # unit's last state change, and the auto-restarts (Restart=on-failure) come
            # later.
            cursor = s.cursor(unit)
            result = s.systemctl("start", unit, check=False)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("journalctl -xeu %s" % unit, result.stderr)
            line = s.wait_journal(unit, r"^.*: secret_file %s: .*$" % re.escape(SECRET),
                                  after=cursor)
            # The node's user cannot look into root's folder: it says so, naming the file.
            self.assertRegex(line, r"/etc/herd/herd\.conf:\d+: secret_file %s: (no such file "
                             r"or folder|Permission denied)$" % re.escape(SECRET))
            self.assertIn(line, s.box.run(["journalctl", "--no-pager", "-xeu", unit]).stdout)
        finally:
            s.systemctl("stop", unit, check=False)
            s.systemctl("reset-failed", unit, check=False)
            with_dropin = s.box.path(s.dropin(node, "no-secret"))
            if os.path.exists(with_dropin):
                os.unlink(with_dropin)
                s.systemctl("daemon-reload", check=False)
            os.rename(away, s.box.path(SECRET))

    def test_03_active_only_after_ready(self):
        """The unit is "activating" while herdd runs but does not serve yet, and "active
        (running)" with STATUS=serving once herdd sent READY=1."""
        s, node = self.s, self.s.near
        unit = self.node_unit(node)
        # A snapshot to load keeps herdd busy between its start and READY=1 (herdd opens
        # its listeners, then notifies, only after the table is loaded).
        state = s.box.path("/var/lib/private/herd/" + node)
        os.makedirs(s.box.path("/var/lib/private"), mode=0o700, exist_ok=True)
        os.makedirs(state, exist_ok=True)
        for name in os.listdir(state):
            os.unlink(os.path.join(state, name))
        subprocess.run([STATE_GEN, os.path.join(state, node + ".snapshot"), node, HERD_ID,
                        str(READY_RECORDS)], check=True)
        port = s.nodes[node].client_port
        try:
            s.systemctl("start", "--no-block", unit)
            samples, deadline = [], time.monotonic() + 30
            while time.monotonic() < deadline:
                serving = s.port_open(port)
                props = s.show(unit, "ActiveState", "SubState", "MainPID", "StatusText")
                samples.append((serving, props["ActiveState"], props["SubState"],
                                int(props["MainPID"] or 0), props["StatusText"]))
                if props["ActiveState"] != "activating":
                    break
            waiting = [x for x in samples if x[:3] == (False, "activating", "start")
                       and x[3] > 0 and x[4] == ""]
            self.assertTrue(waiting, "never saw herdd running and the unit still activating, "
                            "before it served: %r" % samples)
            for serving, active, sub, _, text in samples:
                if active == "active":
                    self.assertEqual(text, "serving", samples)
            self.assertEqual(samples[-1][1:3], ("active", "running"), samples)
            self.assertEqual(samples[-1][4], "serving")
            self.assertTrue(s.port_open(port))
            journal = s.journal(unit)
            loaded = journal.find("event=state_loaded")
            self.assertIn("records=%d" % READY_RECORDS, journal)
            self.assertGreaterEqual(loaded, 0)
            self.assertGreater(journal.find("event=ready"), loaded)
            times = s.show(unit, "ExecMainStartTimestampMonotonic",
                           "ActiveEnterTimestampMonotonic")
            waited = (int(times["ActiveEnterTimestampMonotonic"])
                      - int(times["ExecMainStartTimestampMonotonic"])) / 1e6
            say("%s: %d samples while activating; active %.2f s after herdd started"
                % (node, len(waiting), waited))
        finally:
            s.systemctl("stop", unit, check=False)
            # The made-up clients must not reach the rest of the herd.
            for name in os.listdir(state):
                os.unlink(os.path.join(state, name))

    def test_04_herd_running(self):
        """Every node starts; each link is up, so each pair authenticated with the herd
        secret that came through LoadCredential."""
        s = self.s
        started = time.monotonic()
        links = s.herd_up()
        say("herd up, every link authenticated, in %.1f s" % (time.monotonic() - started))
        for node in s.nodes:
            unit = self.node_unit(node)
            props = s.show(unit, "ActiveState", "SubState", "StatusText", "NRestarts")
            self.assertEqual((props["ActiveState"], props["SubState"], props["StatusText"],
                              props["NRestarts"]), ("active", "running", "serving", "0"), node)
            self.assertEqual(sorted(name for name, _ in links[node]),
                             sorted(s.nodes[node].neighbours))
            journal = s.journal(unit)
            self.assertRegex(journal, r"event=places_ready .*key=credential")
            self.assertIn("event=peer_up", journal)
            self.assertNotIn("event=peer_reject", journal)
            self.assertNotIn("peer_links_unauthenticated", journal)
        # The secrets are root's, mode 600: the nodes' users cannot read them except
        # through their credentials.
        pid = s.main_pid(s.near)
        uid = status_fields(s.box.run(["cat", "/proc/%d/status" % pid]).stdout)["Uid"].split()[0]
        creds = s.box.run(["ls", "/run/credentials/" + self.node_unit(s.near)]).stdout.split()
        self.assertEqual(sorted(creds), ["herd_herd.secret", "herd_places.key"])
        for path in (SECRET, PLACES_KEY):
            result = s.box.run(["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                                "cat", path], check=False)
            self.assertNotEqual(result.returncode, 0, path)
            self.assertIn("Permission denied", result.stderr)

    def test_05_identity(self):
        """Each node runs as its own dynamic user herdd-NAME, without capabilities,
        with no_new_privs and a seccomp filter."""
        s = self.s
        s.herd_up()
        uids = set()
        for node in s.nodes:
            pid = s.main_pid(node)
            status = status_fields(s.box.run(["cat", "/proc/%d/status" % pid]).stdout)
            ids = status["Uid"].split() + status["Gid"].split()
            self.assertEqual(len(set(ids)), 1, status["Uid"] + status["Gid"])
            uid = int(ids[0])
            self.assertNotEqual(uid, 0)
            uids.add(uid)
            entry = s.box.run(["getent", "passwd", str(uid)]).stdout
            self.assertEqual(entry.split(":")[0], "herdd-%s" % node)
            for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                self.assertEqual(int(status[cap].strip(), 16), 0, "%s %s" % (node, cap))
            self.assertEqual(status["NoNewPrivs"].strip(), "1")
            self.assertEqual(status["Seccomp"].strip(), "2")
        self.assertEqual(len(uids), len(s.nodes), "one user per node")

    def test_06_iamat_reaches_farthest(self):
        """An IAMAT at one end of the herd reaches the node farthest from it, which
        answers WHATSAT with Places results (the key from its credential works)."""
        s = self.s
        s.herd_up()
        client_id = "far-%d" % os.getpid()
        with s.client(s.near) as c:
            at = c.request(herdtest.iamat(client_id)).decode()
        self.assertTrue(at.startswith("AT %s " % s.near), at)
        started = time.monotonic()
        record = s.wait_client(s.far, client_id)
        say("%s -> %s (%d links): %.2f s" % (s.near, s.far, s.hops, time.monotonic() - started))
        self.assertEqual(record["at"], at)
        self.assertEqual(record["server"], s.near)
        with s.client(s.far) as c:
            c.send_line("WHATSAT %s 10 3" % client_id)
            reply = herdtest.read_whatsat_reply(c).decode()
        first, _, body = reply.partition("\n")
        self.assertEqual(first, at)
        places = json.loads(body)
        self.assertEqual(places["status"], "OK", body)
        self.assertEqual(len(places["results"]), 3)

    def test_07_reload(self):
        """systemctl reload sends SIGHUP; herdd logs the reload and keeps serving."""
        s, node = self.s, self.s.near
        unit = self.node_unit(node)
        s.herd_up()
        pid = s.main_pid(node)
        cursor = s.cursor(unit)
        s.systemctl("reload", unit)
        # herdd logs event=reloaded after a successful SIGHUP reload of its configuration.
        s.wait_journal(unit, r"event=reloaded\b", after=cursor)
        s.wait_journal(unit, r"^Reloaded herdd@", after=cursor)
        self.assertEqual(s.main_pid(node), pid)
        self.assertEqual(s.show(unit, "ActiveState")["ActiveState"], "active")
        with s.client(node) as c:
            self.assertTrue(c.request(herdtest.iamat("reload-%d" % os.getpid()))
                            .startswith(b"AT %s " % node.encode()))

    def test_08_journal(self):
        """journalctl -u shows herdd's own key=value lines."""
        s, node = self.s, self.s.far
        s.herd_up()
        journal = s.journal(self.node_unit(node))
        pid = s.main_pid(node)
        line_re = (r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z level=\w+ node=%s "
                   r"event=%s( \w+=\S+)*$")
        self.assertRegex(journal, re.compile(line_re % (node, "started"), re.M))
        self.assertRegex(journal, re.compile(line_re % (node, "ready"), re.M))
        self.assertRegex(journal, re.compile(r"event=started version=\S+ pid=%d$" % pid, re.M))

    def test_09_watchdog_pings(self):
        """With a watchdog, a healthy node pings it and is never restarted."""
        s, node = self.s, self.s.far
        unit = self.node_unit(node)
        s.herd_up()
        props = s.show(unit, "WatchdogUSec", "MainPID", "NRestarts",
                       "ActiveEnterTimestampMonotonic", "WatchdogTimestampMonotonic")
        self.assertEqual(props["WatchdogUSec"], "%ds" % WATCHDOG_SEC)
        self.assertRegex(s.journal(unit), r"event=watchdog interval_usec=%d\b"
                         % (WATCHDOG_SEC * 1000000))
        other = next(n for n in s.nodes if n != node)
        unit_value = s.show(self.node_unit(other), "WatchdogUSec")["WatchdogUSec"]
        self.assertRegex(s.journal(self.node_unit(other)), r"event=watchdog interval_usec=%d\b"
                         % (systemd_seconds(unit_value) * 1000000))
        # Wait until the node has been up WATCHDOG_WAIT seconds (the checks before
        # count), then look again.
        up_since = int(props["ActiveEnterTimestampMonotonic"])
        left = WATCHDOG_WAIT - (s.monotonic_usec() - up_since) / 1e6
        if left > 0:
            time.sleep(left)
        later = s.show(unit, "ActiveState", "MainPID", "NRestarts", "WatchdogTimestampMonotonic")
        self.assertEqual(later["ActiveState"], "active")
        self.assertEqual(later["MainPID"], props["MainPID"])
        self.assertEqual(later["NRestarts"], "0")
        last_ping = int(later["WatchdogTimestampMonotonic"])
        self.assertGreater(last_ping, int(props["WatchdogTimestampMonotonic"]))
        self.assertLess(s.monotonic_usec() - last_ping, WATCHDOG_SEC * 1000000)
        say("%s: up %.1f s with WatchdogSec=%ds, no restart, last ping %.1f s ago"
            % (node, (s.monotonic_usec() - up_since) / 1e6, WATCHDOG_SEC,
               (s.monotonic_usec() - last_ping) / 1e6))

    def test_10_watchdog_enforced(self):
        """A node that stops pinging (SIGSTOP) is restarted by systemd, and catches up
        with what the herd learnt meanwhile."""
        s, node = self.s, self.s.far
        unit = self.node_unit(node)
        s.herd_up()
        props = s.show(unit, "MainPID", "NRestarts")
        cursor = s.cursor(unit)
        s.box.run(["kill", "-STOP", props["MainPID"]])
        stopped = time.monotonic()
        client_id = "while-stopped-%d" % os.getpid()
        with s.client(s.near) as c:
            at = c.request(herdtest.iamat(client_id)).decode()
        deadline = stopped + WATCHDOG_SEC + 20
        while True:
            now = s.show(unit, "ActiveState", "SubState", "MainPID", "NRestarts")
            if (int(now["NRestarts"]) > int(props["NRestarts"]) and now["ActiveState"] == "active"
                    and now["MainPID"] not in ("0", props["MainPID"])):
                break
            self.assertLess(time.monotonic(), deadline, "not restarted: %r" % now)
            time.sleep(0.2)
        restarted = time.monotonic() - stopped
        s.wait_journal(unit, r"Watchdog timeout", after=cursor)
        record = s.wait_client(node, client_id)
        self.assertEqual(record["at"], at)
        say("%s: SIGSTOP -> restarted by the watchdog in %.1f s, then re-synced"
            % (node, restarted))

    def test_11_stop(self):
        """systemctl stop is clean (exit 0, Result=success) and quick."""
        s = self.s
        s.herd_up()
        limit = systemd_seconds(s.show(self.node_unit(s.near), "TimeoutStopUSec")
                                ["TimeoutStopUSec"])
        for node in s.nodes:
            unit = self.node_unit(node)
            cursor = s.cursor(unit)
            started = time.monotonic()
            result = s.systemctl("stop", unit, check=False)
            took = time.monotonic() - started
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertLess(took, limit / 4, node)
            self.assertEqual(s.show(unit, "ActiveState")["ActiveState"], "inactive")
            # A stopped unit is unloaded at once (nothing references it), and systemctl
            # show then gives defaults: Result= and ExecMainStatus= are read from the
            # journal, where systemd writes "Deactivated successfully" exactly when the
            # unit ends with Result=success; anything else ("Failed with result",
            # "Main process exited, code=killed", a kill after TimeoutStopSec) fails.
            text = s.journal(unit, after=cursor)
            self.assertIn("event=stopping signal=15", text)
            self.assertIn("event=stopped", text)
            self.assertIn("%s: Deactivated successfully." % unit, text)
            for bad in ("Failed with result", "Main process exited", "Killing process",
                        "State 'stop-sigterm' timed out"):
                self.assertNotIn(bad, text)
            say("%s: stopped in %.2f s (TimeoutStopSec=%ds)" % (node, took, limit))


def systemd_seconds(text):
    """A systemd time span as systemctl show prints it ("20s", "1min 30s") in seconds."""
    units = {"min": 60, "s": 1, "ms": 0.001, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(min|ms|s|h)", text):
        total += float(number) * units[unit]
    return int(total)


def diagnose(system):
    """What a failed run needs to be understood: the container's journal tail."""
    try:
        text = system.box.run(["journalctl", "--no-pager", "-n", "120", "-o", "short-monotonic"],
                              check=False, timeout=20).stdout
        print("--- the container's journal (last 120 lines) ---\n" + text, file=sys.stderr)
    except container.ContainerError as e:
        print("no journal: %s" % e, file=sys.stderr)
    print("--- nspawn ---\n" + system.box.nspawn_log(), file=sys.stderr)


def interrupted(signum, frame):
    # KeyboardInterrupt is what unittest lets through: the finally below still runs.
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    try:
        tree_path = tree.default_tree()
    except (tree.TreeError, OSError) as e:
        print("SKIP: the system suite cannot run here: no Debian tree for this host: %s" % e,
              flush=True)
        return SKIP
    reason = preflight(tree_path)
    if reason:
        print("SKIP: the system suite cannot run here: " + reason, flush=True)
        return SKIP
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    started = time.monotonic()
    with tree.locked(tree_path):
        try:
            built = tree.ensure(tree_path)
        except tree.TreeError as e:
            print("system: %s" % e, file=sys.stderr)
            return 1
        tree_time = time.monotonic() - started
        system = System(tree_path)
        ok = False
        try:
            system.setup()
            TestSystem.system = system
            checks = time.monotonic()
            program = unittest.main(argv=sys.argv, exit=False)
            system.timings["checks"] = time.monotonic() - checks
            ok = program.result.wasSuccessful()
            if not ok:
                diagnose(system)
        except (AssertionError, container.ContainerError) as e:
            if system.box.leader is not None:
                diagnose(system)
            print("system: the setup failed: %s" % e, file=sys.stderr)
            return 1
        except Exception:
            if system.box.leader is not None:
                diagnose(system)
            raise
        finally:
            system.teardown()
    say("tree %s %.1f s (with the wait for the lock), %s; total %.1f s" % (
        "built in" if built else "cached,", tree_time,
        ", ".join("%s %.1f s" % kv for kv in system.timings.items()),
        time.monotonic() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
