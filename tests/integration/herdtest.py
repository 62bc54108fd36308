"""Black-box test harness for herdd: real processes on free loopback ports.

Python 3 standard library only. A test builds a Herd (a generated configuration for N
nodes in a temporary folder), starts the nodes it needs, talks to them with Client, and
leaves the clean-up to HerdTestCase, which stops every process it started even when the
test fails, and prints the tail of every node's log when it does.

Environment:
  HERDD               path of the herdd binary (default: build/server/herdd in the repo)
  PLACES_STANDIN      path of places-standin (default: build/tests/standin/places-standin)
  HERDD_WRAPPER       command put in front of herdd, e.g. "valgrind -q --error-exitcode=99"
  HERD_TIMEOUT_SCALE  multiplies every timeout of the harness (slow machines, valgrind)
  HERD_KEEP_TMP       when set, the temporary folders are kept and their paths printed
"""

import ctypes
import fcntl
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import ssl
import time
import unittest
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"
TIMEOUT_SCALE = float(os.environ.get("HERD_TIMEOUT_SCALE", "1") or "1")

# The default herd of SPEC section 2.
DEFAULT_NODES = ("Alford", "Bolden", "Hamilton", "Parker", "Powell")
DEFAULT_PEERS = {
    "Alford": ("Parker", "Powell"),
    "Bolden": ("Parker", "Powell"),
    "Hamilton": ("Parker",),
}

# The AT line a node writes (SPEC section 3), on bytes.
AT_LINE_RE = re.compile(
    rb"^AT (?P<server>[^\s]+) (?P<diff>[+-][0-9]+\.[0-9]{9}) (?P<id>[^\s]+) "
    rb"(?P<location>[^\s]+) (?P<time>[^\s]+)$")


def scaled(seconds):
    """A timeout multiplied by HERD_TIMEOUT_SCALE."""
    return seconds * TIMEOUT_SCALE


def herdd_path():
    """The herdd binary under test."""
    path = os.environ.get("HERDD")
    if not path:
        path = os.path.join(REPO_ROOT, "build", "server", "herdd")
    return os.path.abspath(path)


def herdd_command(args):
    """The argv that runs herdd with ARGS, behind HERDD_WRAPPER if set."""
    return shlex.split(os.environ.get("HERDD_WRAPPER", "")) + [herdd_path()] + list(args)


_used_ports = set()


# Ports handed out lie below the kernel's ephemeral range: a port the kernel picked (bind
# to 0) can be taken by any outgoing connection before herdd binds it, and the suite
# makes many. Random, so that tests running side by side seldom try the same one.
PORT_RANGE = (20000, 32000)
_port_random = random.Random(os.getpid() ^ time.time_ns())


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


# Test processes run side by side (meson's parallel jobs): each port handed out is also
# claimed with a lock file that no other test process can take while this one lives.
PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "herd-test-ports")
_port_locks = {}


def _claim_port(port):
    """True when this process now holds PORT's lock (the kernel drops it at exit)."""
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    fd = os.open(os.path.join(PORT_LOCK_DIR, "%d.lock" % port), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _port_locks[port] = fd
    return True


def release_port(port):
    """Gives PORT back, for this and other test processes (a herd that has stopped)."""
    fd = _port_locks.pop(port, None)
    if fd is not None:
        os.close(fd)
    _used_ports.discard(port)


def free_port(host=HOST):
    """A loopback TCP port that was free a moment ago, is not held by this or another
    test process, and is outside the ephemeral range (where the kernel may give it to a
    connection)."""
    low, high = _ephemeral_range()
    for _ in range(500):
        port = _port_random.randrange(*PORT_RANGE)
        if port in _used_ports or low <= port <= high or not _claim_port(port):
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                release_port(port)
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port found")


def now_ns():
    """The wall clock in integer nanoseconds."""
    return time.time_ns()


def format_time(ns):
    """NS (integer nanoseconds since the epoch) as POSIX seconds with nine digits."""
    return "%d.%09d" % divmod(ns, 1000000000)


def parse_diff(text):
    """An AT line's time difference ("+1.000000000") as integer nanoseconds."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    m = re.fullmatch(r"([+-])([0-9]+)\.([0-9]{9})", text)
    if not m:
        raise ValueError("not a time difference: %r" % text)
    value = int(m.group(2)) * 1000000000 + int(m.group(3))
    return -value if m.group(1) == "-" else value


_LOG_FIELD = re.compile(r'([a-z_][a-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^"\s]*)(?:\s+|$)')


def log_fields(line):
    """The key=value fields of a log line after its time stamp, as a dict of the raw values
    (quoted ones with their quotes); raises ValueError for a line that does not parse."""
    stamp, _, rest = line.rstrip("\n").partition(" ")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp):
        raise ValueError("no time stamp: %r" % line)
    fields, pos = {}, 0
    while pos < len(rest):
        m = _LOG_FIELD.match(rest, pos)
        if m is None:
            raise ValueError("not key=value at %d: %r" % (pos, line))
        fields[m.group(1)] = m.group(2)
        pos = m.end()
    return fields


def parse_time(text):
    """A client time ("1700000000.5") as integer nanoseconds."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    sec, _, frac = text.partition(".")
    return int(sec) * 1000000000 + int((frac + "000000000")[:9] or "0")


def iamat(client_id, location=b"+34.068930-118.445127", client_time=None):
    """An IAMAT line (bytes, no LF); CLIENT_TIME defaults to now."""
    if client_time is None:
        client_time = format_time(now_ns())
    parts = [client_id, location, client_time]
    parts = [p.encode("utf-8") if isinstance(p, str) else p for p in parts]
    return b"IAMAT " + b" ".join(parts)


def read_whatsat_reply(client, timeout=10.0):
    """One whole WHATSAT reply: everything up to and including the first blank line."""
    return client.read_until(b"\n\n", timeout)


def whatsat(node, client_id, radius=b"10", bound=b"1"):
    """(first line, JSON part) of WHATSAT CLIENT_ID at NODE on a fresh connection; the
    JSON part is None when the answer is "? ..." (an unknown client)."""
    with node.client(timeout=10) as c:
        c.send(b"WHATSAT %s %s %s\n" % (client_id, radius, bound))
        first = c.read_line()
        if first.startswith(b"? "):
            return first, None
        return first, c.read_until(b"\n\n", timeout=10)


def stored_line(node, client_id):
    """NODE's stored AT line for CLIENT_ID (bytes), or None when it does not know it."""
    first, rest = whatsat(node, client_id)
    return first if rest is not None else None


def _die_with_parent():
    """Run in the child before exec: SIGKILL it when the test process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass



def wait_until(predicate, timeout=10.0, what="the condition", interval=0.02):
    """Polls PREDICATE until it returns something true, which it returns; raises
    AssertionError (a test failure) naming WHAT after TIMEOUT seconds (scaled)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s"
                                 % (scaled(timeout), what))
        time.sleep(interval)

def cpu_times(pid):
    """(user, system) CPU seconds process PID has used so far, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick

class HerdError(AssertionError):
    """A node did not behave as the harness needed (did not start, did not stop, ...)."""


class Client:
    """A client connection to a node, with timeouts on everything."""

    def __init__(self, port, host=HOST, timeout=5.0):
        self.timeout = scaled(timeout)
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends DATA (bytes, or str encoded as UTF-8) whole."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send_line(self, line):
        """Sends LINE followed by a LF."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\n")

    def shutdown_write(self):
        """Half-closes the connection: the node sees EOF, we can still read."""
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline):
        """Reads more bytes into the buffer; False on timeout, sets eof at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.buf += data
        return True

    def read_until(self, terminator, timeout=None):
        """Bytes up to and including the first TERMINATOR; raises on timeout or EOF."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        while True:
            i = self.buf.find(terminator)
            if i >= 0:
                end = i + len(terminator)
                out, self.buf = self.buf[:end], self.buf[end:]
                return out
            if self.eof:
                raise HerdError("connection closed before %r; got %r" % (terminator, self.buf))
            if not self._fill(deadline):
                raise HerdError("timed out waiting for %r; got %r" % (terminator, self.buf))

    def read_line(self, timeout=None):
        """One reply line, without its LF."""
        return self.read_until(b"\n", timeout)[:-1]

    def read_lines(self, count, timeout=None):
        """COUNT reply lines, without their LF, within one TIMEOUT."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        lines = []
        for _ in range(count):
            lines.append(self.read_line(max(deadline - time.monotonic(), 0.001) / TIMEOUT_SCALE))
        return lines

    def read_until_eof(self, timeout=None):
        """Everything up to the end of the stream; raises on timeout."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        while not self.eof:
            if not self._fill(deadline):
                raise HerdError("timed out waiting for EOF; got %r" % self.buf)
        out, self.buf = self.buf, b""
        return out

    def read_available(self, wait=0.3):
        """Whatever arrives within WAIT seconds (b"" if nothing); does not raise on EOF."""
        deadline = time.monotonic() + wait
        while not self.eof and self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def is_closed_by_peer(self, timeout=None):
        """True if the node closes (EOF or reset) within TIMEOUT, discarding data read."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        while not self.eof:
            if not self._fill(deadline):
                return False
            self.buf = b""
        return True

    def request(self, line, timeout=None):
        """Sends LINE and returns the one reply line."""
        self.send_line(line)
        return self.read_line(timeout)


class Node:
    """One herdd process of a Herd."""

    def __init__(self, herd, name):
        self.herd = herd
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.admin_port = free_port()
        self.log_path = os.path.join(herd.dir, "logs", name + ".log")
        self.stderr_path = os.path.join(herd.dir, "logs", name + ".stderr")
        self.proc = None
        self.extra_args = []
        self.env = {}
        # False: start without -l (herdd then logs to log_dir or stderr).
        self.log_flag = True
        # True once the test has looked at (or caused) the way the process ended.
        self.exit_checked = True
        # When set, the file descriptor limit (soft and hard) the process starts with.
        self.max_files = None

    # -- process control -------------------------------------------------------------

    def start(self, wait=True, args=None, timeout=10.0):
        """Starts herdd for this node; with WAIT, returns once the client port accepts."""
        if self.running():
            raise HerdError("node %s is already running" % self.name)
        if args is not None:
            self.extra_args = list(args)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        os.makedirs(os.path.dirname(self.stderr_path), exist_ok=True)
        env = dict(os.environ)
        env.setdefault("HERD_PLACES_KEY", "herd-test-key")
        env.update(self.env)
        log_args = ["-l", self.log_path] if self.log_flag else []
        argv = herdd_command(["-c", self.herd.config_path, "-n", self.name]
                             + log_args + self.extra_args)
        stderr = open(self.stderr_path, "ab")
        max_files = self.max_files

        def preexec():
            _die_with_parent()
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))
        try:
            self.proc = subprocess.Popen(argv, cwd=self.herd.dir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=stderr,
                                         stderr=stderr, preexec_fn=preexec)
        finally:
            stderr.close()
        self.exit_checked = False
        if self not in self.herd.started:
            self.herd.started.append(self)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        """Waits until the client port, then the admin port, accept connections (the node
        binds them one after the other); fails with the log if herdd exits."""
        deadline = time.monotonic() + scaled(timeout)
        for port in (self.client_port, self.admin_port):
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    raise HerdError("herdd %s exited with %s before accepting connections\n%s"
                                    % (self.name, rc, self.describe()))
                try:
                    with socket.create_connection((HOST, port), timeout=0.5):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise HerdError("herdd %s not accepting on %d after %.0f s\n%s"
                                    % (self.name, port, scaled(timeout), self.describe()))
                time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        """Sends SIG to the process."""
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for the process to exit and returns its status; raises on timeout."""
        try:
            rc = self.proc.wait(scaled(timeout))
            self.exit_checked = True
            return rc
        except subprocess.TimeoutExpired:
            raise HerdError("herdd %s still running after %.1f s" % (self.name, scaled(timeout)))

    def stop(self, timeout=5.0):
        """SIGTERM, wait, then SIGKILL. Returns the exit status (negative: killed by signal)."""
        if self.proc is None:
            return None
        how = "by itself"
        if self.proc.poll() is None:
            how = "after SIGTERM"
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                how = "still running %.0f s after SIGTERM: killed" % scaled(timeout)
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        if not self.exit_checked and rc != 0:
            self.herd.problems.append("herdd %s exited with status %s %s"
                                      % (self.name, rc, how))
        self.exit_checked = True
        return rc

    def kill(self):
        """kill -9: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.exit_checked = True
        return self.proc.returncode if self.proc else None

    def restart(self, wait=True, timeout=10.0):
        """Stops (cleanly) and starts again with the same ports and arguments."""
        self.stop()
        return self.start(wait=wait, timeout=timeout)

    # -- talking to it ---------------------------------------------------------------

    def client(self, timeout=5.0):
        """A new client connection to this node's client port."""
        return Client(self.client_port, timeout=timeout)

    def request(self, line, timeout=None):
        """Sends one line on a fresh connection and returns the one reply line."""
        with self.client() as c:
            return c.request(line, timeout)

    def admin(self, path, timeout=5.0):
        """GET PATH from the admin endpoint: (status, parsed JSON or None)."""
        url = "http://%s:%d%s" % (HOST, self.admin_port, path)
        try:
            with urllib.request.urlopen(url, timeout=scaled(timeout)) as r:
                return r.status, json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            body = e.read()
            return e.code, json.loads(body.decode("utf-8")) if body else None

    def cpu_seconds(self):
        """User plus system CPU time the process has used so far."""
        return sum(cpu_times(self.proc.pid))

    def stats(self):
        """The node's /stats."""
        status, doc = self.admin("/stats")
        if status != 200:
            raise HerdError("GET /stats: %s" % status)
        return doc

    # -- its log ---------------------------------------------------------------------

    def log_bytes(self):
        """The node's log file as bytes (b"" if it does not exist yet)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def log(self):
        """The node's log file as text (undecodable bytes replaced)."""
        return self.log_bytes().decode("utf-8", "replace")

    def log_lines(self):
        return self.log().splitlines()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, predicate, timeout=3.0):
        """Polls the log until PREDICATE(line) holds for a line; returns that line or None."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            for line in self.log_lines():
                if predicate(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def describe(self, lines=40):
        """The tail of the log and stderr, for failure messages."""
        out = ["--- %s: tail of %s" % (self.name, self.log_path)]
        out += self.log_lines()[-lines:]
        err = self.stderr_text().splitlines()
        if err:
            out.append("--- %s: stdout/stderr" % self.name)
            out += err[-lines:]
        return "\n".join(out)


class Herd:
    """A generated herd configuration for NAMES in a folder, and its nodes.

    PEERS maps a node to the nodes it talks with (one side is enough) or is a list of
    pairs. HERD_OPTIONS are extra keys of [herd] (None removes a default one).
    """

    def __init__(self, directory, names=DEFAULT_NODES, peers=None, herd_options=None,
                 secret=True):
        self.dir = directory
        self.names = list(names)
        self.nodes = {name: Node(self, name) for name in self.names}
        self.pairs = _normalise_peers(peers if peers is not None else {})
        self.options = {
            # Places is not reachable from a test: a closed loopback port fails fast.
            "places_url": "https://127.0.0.1:%d/maps/api/place/nearbysearch/json" % free_port(),
            "places_timeout": "2",
        }
        if secret:
            self.options["secret_file"] = "herd.secret"
        for k, v in (herd_options or {}).items():
            if v is None:
                self.options.pop(k, None)
            else:
                self.options[k] = str(v)
        self.started = []
        # Nodes that ended badly (crashed, non-zero exit, ignored SIGTERM).
        self.problems = []
        self.config_path = os.path.join(directory, "herd.conf")
        self.secret_path = os.path.join(directory, "herd.secret")
        if secret:
            with open(self.secret_path, "wb") as f:
                f.write(os.urandom(32).hex().encode() + b"\n")
            os.chmod(self.secret_path, 0o600)
        self.write_config()

    def __getitem__(self, name):
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes[n] for n in self.names)

    def config_text(self):
        """The INI text of this herd (SPEC section 2)."""
        out = ["; generated by tests/integration/herdtest.py", "[herd]"]
        for k, v in self.options.items():
            out.append("%s = %s" % (k, v))
        for name in self.names:
            node = self.nodes[name]
            out += ["", "[node %s]" % name,
                    "listen = %s:%d" % (HOST, node.client_port),
                    "peer_listen = %s:%d" % (HOST, node.peer_port),
                    "admin_listen = %s:%d" % (HOST, node.admin_port)]
            mine = [b for a, b in self.pairs if a == name]
            if mine:
                out.append("peers = %s" % " ".join(mine))
        return "\n".join(out) + "\n"

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())

    def start(self, *names, wait=True):
        """Starts the named nodes (all when none named), then waits for each."""
        nodes = [self.nodes[n] for n in (names or self.names)]
        for node in nodes:
            node.start(wait=False)
        if wait:
            for node in nodes:
                node.wait_ready()
        return nodes[0] if len(nodes) == 1 else nodes

    def stop_all(self):
        """Stops every node this herd started; never raises."""
        for node in self.started:
            try:
                node.stop()
            except Exception:
                try:
                    node.kill()
                except Exception:
                    pass

    def finish(self):
        """Stops every node and gives their ports back; fails if one of them crashed or
        ended badly on its own."""
        self.stop_all()
        if all(node.proc is None or node.proc.poll() is not None for node in self):
            for node in self:
                for port in (node.client_port, node.peer_port, node.admin_port):
                    release_port(port)
        if self.problems:
            problems, self.problems = self.problems, []
            raise HerdError("\n".join(problems) + "\n" + self.describe())

    def describe(self):
        return "\n".join(node.describe() for node in self if node.proc is not None)


def _normalise_peers(peers):
    pairs = []
    items = peers.items() if isinstance(peers, dict) else peers
    for a, bs in items:
        for b in ([bs] if isinstance(bs, str) else bs):
            pairs.append((a, b))
    return pairs


def standin_path():
    """The Places stand-in binary (tests/standin), built or not."""
    path = os.environ.get("PLACES_STANDIN")
    if not path:
        path = os.path.join(REPO_ROOT, "build", "tests", "standin", "places-standin")
    return os.path.abspath(path)


MKCERTS = os.path.join(REPO_ROOT, "tests", "standin", "mkcerts.sh")


def standin_available():
    return os.access(standin_path(), os.X_OK) and os.path.exists(MKCERTS)


class PlacesStandin:
    """tests/standin's places-standin on a free loopback port, over TLS with a throw-away
    CA minted by tests/standin/mkcerts.sh into DIRECTORY/certs."""

    LEGACY_PATH = "/maps/api/place/nearbysearch/json"
    NEW_PATH = "/v1/places:searchNearby"

    def __init__(self, directory, key_required=None, cert="server", timeout=10.0,
                 idle_timeout=None):
        self.dir = directory
        self.certs = os.path.join(directory, "certs")
        os.makedirs(self.certs, exist_ok=True)
        r = subprocess.run(["sh", MKCERTS, self.certs], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, errors="replace", timeout=scaled(60))
        if r.returncode != 0:
            raise HerdError("mkcerts.sh failed:\n" + r.stdout)
        self.ca_file = os.path.join(self.certs, "ca.pem")
        self.log_path = os.path.join(directory, "places-standin.log")
        port_file = os.path.join(directory, "standin.port")
        argv = [standin_path(), "--listen", "%s:0" % HOST,
                "--cert", os.path.join(self.certs, cert + ".pem"),
                "--key", os.path.join(self.certs, cert + ".key"),
                "--port-file", port_file, "--log", self.log_path]
        if key_required:
            argv += ["--key-required", key_required]
        if idle_timeout:
            argv += ["--idle-timeout", str(idle_timeout)]
        with open(os.path.join(directory, "places-standin.stderr"), "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + scaled(timeout)
        self.port = None
        while self.port is None:
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text.isdigit():
                    self.port = int(text)
                    break
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HerdError("places-standin did not start (status %s)\n%s"
                                % (self.proc.returncode, self.describe()))
            time.sleep(0.02)
        # The harness's own calls (control, stats) trust whatever it serves.
        own_ca = "other-ca.pem" if cert.startswith("other") else "ca.pem"
        self._ssl = ssl.create_default_context(cafile=os.path.join(self.certs, own_ca))
        self._ssl.check_hostname = False

    def url(self, api="legacy"):
        return "https://%s:%d%s" % (HOST, self.port,
                                    self.LEGACY_PATH if api == "legacy" else self.NEW_PATH)

    def herd_options(self, api="legacy", timeout=5):
        """The [herd] keys that point a herd at this stand-in (key from HERD_PLACES_KEY)."""
        return {"places_api": api, "places_url": self.url(api), "places_ca_file": self.ca_file,
                "places_timeout": timeout}

    def _http(self, method, path, body=None):
        req = urllib.request.Request("https://%s:%d%s" % (HOST, self.port, path),
                                     data=body, method=method)
        with urllib.request.urlopen(req, context=self._ssl, timeout=scaled(5)) as r:
            return json.loads(r.read().decode("utf-8"))

    def control(self, settings=""):
        """Sets the fault knob (e.g. "mode=slow=3", "mode=status=ZERO_RESULTS count=3");
        "" resets. Returns the settings now in force."""
        return self._http("POST", "/_control", settings.encode("utf-8"))

    def cpu_seconds(self):
        """User plus system CPU time the process has used so far."""
        return sum(cpu_times(self.proc.pid))

    def stats(self):
        """{"requests": N, "last": {...} or None}: what the last Places request asked."""
        return self._http("GET", "/_stats")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def describe(self, lines=40):
        out = ["--- places-standin: tail of %s" % self.log_path]
        for path in (self.log_path, os.path.join(self.dir, "places-standin.stderr")):
            try:
                with open(path, "rb") as f:
                    out += f.read().decode("utf-8", "replace").splitlines()[-lines:]
            except FileNotFoundError:
                pass
        return "\n".join(out)


def run_herdd(args, cwd=None, timeout=10.0, env=None):
    """Runs herdd to completion (for -t and failures): returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.setdefault("HERD_PLACES_KEY", "herd-test-key")
    full_env.update(env or {})
    return subprocess.run(herdd_command(args), cwd=cwd, env=full_env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=scaled(timeout),
                          preexec_fn=_die_with_parent, errors="replace")


class HerdTestCase(unittest.TestCase):
    """Gives each test a temporary folder and herds that are always cleaned up.

    After each test every node still running gets SIGTERM; one that then exits non-zero
    (a sanitizer report, say), needs SIGKILL, or died during the test fails the test,
    unless the test looked at its end itself (Node.wait) or caused it (Node.kill).
    On a failure or error, the tail of every started node's log goes to stderr.
    """

    def run(self, result=None):
        self.tmp = tempfile.mkdtemp(prefix="herdtest-")
        self._herds = []
        self._standins = []
        before = _problem_count(result)
        try:
            return super().run(result)
        finally:
            if result is not None and _problem_count(result) > before:
                for herd in self._herds:
                    sys.stderr.write("\n" + herd.describe() + "\n")
                for standin in self._standins:
                    sys.stderr.write("\n" + standin.describe() + "\n")
                sys.stderr.flush()
            for herd in self._herds:
                herd.stop_all()
            for standin in self._standins:
                standin.stop()
            if os.environ.get("HERD_KEEP_TMP"):
                sys.stderr.write("kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def make_herd(self, names=DEFAULT_NODES, peers=None, herd_options=None, secret=True,
                  subdir=None):
        """A new Herd in this test's folder; its processes are stopped after the test."""
        directory = os.path.join(self.tmp, subdir or "herd%d" % len(self._herds))
        os.makedirs(directory)
        herd = Herd(directory, names, peers, herd_options, secret)
        self._herds.append(herd)
        self.addCleanup(herd.finish)
        return herd

    def start_standin(self, key_required=None, cert="server", idle_timeout=None):
        """A running Places stand-in, stopped after the test; skips the test when
        tests/standin is not built. CERT names the certificate it serves (mkcerts.sh:
        server, wrong-host, other-server)."""
        if not standin_available():
            self.skipTest("places-standin not built (%s)" % standin_path())
        standin = PlacesStandin(os.path.join(self.tmp, "standin%d" % len(self._standins)),
                                key_required, cert, idle_timeout=idle_timeout)
        self.addCleanup(standin.stop)
        self._standins.append(standin)
        return standin

    def small_tmpfs(self, name, options="size=1m"):
        """A tmpfs of OPTIONS (e.g. "ro,size=1m") mounted at a new folder NAME of the
        test's, unmounted after it; skips the test where mounting is not allowed."""
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
                           check=True, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            self.skipTest("cannot mount a tmpfs here: %s" % e)
        self.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True,
                        timeout=10)
        return path

    def start_under_strace(self, node, trace, calls, timeout=30):
        """Starts NODE under strace -f, logging CALLS (e.g. "write,writev") with whole
        strings into TRACE; skips the test without strace. LeakSanitizer cannot run
        under ptrace, so it is turned off for this node."""
        strace = shutil.which("strace")
        if strace is None:
            self.skipTest("strace is not installed (./herd test installs it)")
        node.env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                    ":detect_leaks=0").lstrip(":")
        wrapper = os.environ.get("HERDD_WRAPPER")
        os.environ["HERDD_WRAPPER"] = "%s -f -qq -e trace=%s -s 1000000 -o %s" % (
            strace, calls, trace)
        try:
            node.start(timeout=timeout)
        finally:
            if wrapper is None:
                del os.environ["HERDD_WRAPPER"]
            else:
                os.environ["HERDD_WRAPPER"] = wrapper

    def stop_under_strace(self, node, timeout=30):
        """SIGTERM to herdd itself (strace, the process started, only passes on its
        exit); fails unless it then exits 0."""
        with open("/proc/%d/task/%d/children" % (node.pid, node.pid)) as f:
            os.kill(int(f.read().split()[0]), signal.SIGTERM)
        self.assertEqual(node.wait(timeout=timeout), 0)

    def start_node(self, name="Alford", herd_options=None):
        """A one-node herd, started; returns the Node."""
        herd = self.make_herd([name], herd_options=herd_options)
        return herd.start(name)

    def assertAtLine(self, line, server=None, client_id=None, location=None, client_time=None):
        """Checks LINE (bytes) is an AT line, with the given fields byte for byte."""
        m = AT_LINE_RE.match(line)
        self.assertIsNotNone(m, "not an AT line: %r" % line)
        for field, want in (("server", server), ("id", client_id),
                            ("location", location), ("time", client_time)):
            if want is not None:
                if isinstance(want, str):
                    want = want.encode("utf-8")
                self.assertEqual(m.group(field), want, "field %s of %r" % (field, line))
        return m

    def assertRejected(self, client, line):
        """LINE (bytes, without LF) sent on CLIENT is answered "? " + the line as received."""
        client.send(line + b"\n")
        self.assertEqual(client.read_line(), b"? " + line)

    def assertWhatsatReply(self, raw, at_line, bound):
        """RAW is a whole WHATSAT reply for a client stored as AT_LINE, with BOUND.

        Holds for a real Places answer and for the UNKNOWN_ERROR object alike: the AT line,
        a LF, a JSON text with no blank line inside and no trailing newline, two LFs.
        Returns the parsed JSON.
        """
        self.assertTrue(raw.endswith(b"\n\n"), raw)
        first, _, rest = raw.partition(b"\n")
        self.assertEqual(first, at_line)
        body = rest[:-2]
        self.assertTrue(body, "no JSON in %r" % raw)
        self.assertFalse(body.endswith(b"\n"), "JSON ends with a newline: %r" % raw)
        self.assertNotIn(b"\n\n", body)
        doc = json.loads(body.decode("utf-8"))
        self.assertIsInstance(doc, dict)
        self.assertIn("results", doc)
        self.assertIn("status", doc)
        self.assertIsInstance(doc["results"], list)
        self.assertLessEqual(len(doc["results"]), bound)
        self.assertIsInstance(doc["status"], str)
        if doc["status"] == "UNKNOWN_ERROR":
            self.assertEqual(doc["results"], [])
            self.assertEqual(doc.get("html_attributions"), [])
            self.assertIsInstance(doc.get("error_message"), str)
        return doc


class ClientTestCase(HerdTestCase):
    """One running node (NAME, default Alford) for each test, as self.node."""

    NAME = "Alford"
    HERD_OPTIONS = None

    def setUp(self):
        self.node = self.start_node(self.NAME, herd_options=self.HERD_OPTIONS)


def _problem_count(result):
    if result is None:
        return 0
    return (len(result.failures) + len(result.errors)
            + len(getattr(result, "unexpectedSuccesses", ())))


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    """unittest.main with verbose output by default (meson shows it on failure).

    SIGTERM (meson's timeout) unwinds like Ctrl-C, so the nodes are stopped and the
    temporary folders removed on the way out.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    unittest.main(verbosity=2)
