"""Helpers for tests that act as a neighbour or watch several nodes: FakePeer speaks the
peer wire format of README.md ("Peer links and the wire format") from the other side, and
HerdCase waits for links, records and log lines.
"""

import hashlib
import hmac
import os
import re
import socket
import threading
import time

import herdtest
from herdtest import HOST, HerdTestCase, DEFAULT_PEERS, scaled

PROTOCOL = "herd/3"
LOCATION = b"+34.068930-118.445127"
NS = 1000000000


# -- the wire format, from the other side ----------------------------------------------

def auth_mac(secret, sender, receiver, sender_nonce, receiver_nonce, sender_dialled):
    """The AUTH MAC by which SENDER answers RECEIVER's challenge (README.md); SENDER_DIALLED
    says which end of the connection the sender is."""
    msg = "%s AUTH\n%s\n%s\n%s\n%s\n%s" % (PROTOCOL, sender, receiver, sender_nonce,
                                          receiver_nonce,
                                          "dialled" if sender_dialled else "accepted")
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()


def herd_secret(herd):
    """The key a node makes of the herd's secret_file: its bytes without trailing line ends."""
    with open(herd.secret_path, "rb") as f:
        return f.read().rstrip(b"\r\n")


class FakePeer:
    """A neighbour written by hand, on one TCP connection to or from a node's peer port."""

    def __init__(self, sock, name, secret, timeout=5.0, dialled=True):
        self.dialled = dialled      # this fake connected (else the node dialled it)
        self.sock = sock
        self.name = name
        self.secret = secret
        self.timeout = scaled(timeout)
        self.sock.settimeout(self.timeout)
        self.buf = b""
        self.nonce = os.urandom(16).hex()
        self.their_name = None
        self.their_nonce = None
        self.their_mac = None

    @classmethod
    def connect(cls, port, name, secret, rcvbuf=None, timeout=5.0):
        """Dials a node's peer port; RCVBUF shrinks our receive buffer (to stop reading)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(scaled(timeout))
        sock.connect((HOST, port))
        return cls(sock, name, secret, timeout)

    @classmethod
    def accept(cls, listener, name, secret, timeout=5.0):
        """Takes the next connection a node made to LISTENER."""
        listener.settimeout(scaled(timeout))
        sock, _ = listener.accept()
        return cls(sock, name, secret, timeout, dialled=False)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send_line(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\n")

    def read_line(self, timeout=None):
        """One line without its LF; None at end of stream or reset."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise herdtest.HerdError("fake %s: no line; got %r" % (self.name, self.buf))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except socket.timeout:
                continue
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def send_hello(self, name=None, nonce=None):
        self.send_line("HELLO %s %s %s" % (PROTOCOL, name or self.name, nonce or self.nonce))

    def read_hello(self):
        """The node's HELLO: remembers its name and nonce."""
        line = self.read_line()
        if line is None:
            raise herdtest.HerdError("fake %s: closed before HELLO" % self.name)
        words = line.decode().split()
        if len(words) != 4 or words[0] != "HELLO" or words[1] != PROTOCOL:
            raise herdtest.HerdError("fake %s: not a HELLO: %r" % (self.name, line))
        self.their_name, self.their_nonce = words[2], words[3]
        return line

    def my_mac(self):
        return auth_mac(self.secret, self.name, self.their_name, self.nonce, self.their_nonce,
                        self.dialled)

    def read_auth(self):
        """The node's AUTH line; None if it closed instead."""
        line = self.read_line()
        if line is None:
            return None
        words = line.decode().split()
        if len(words) != 2 or words[0] != "AUTH":
            raise herdtest.HerdError("fake %s: not an AUTH: %r" % (self.name, line))
        self.their_mac = words[1]
        return line

    def their_mac_ok(self):
        """True when the node's MAC proves it holds our secret (mutual authentication)."""
        want = auth_mac(self.secret, self.their_name, self.name, self.their_nonce, self.nonce,
                        not self.dialled)
        return hmac.compare_digest(want, self.their_mac or "")

    def handshake(self):
        """The whole handshake; returns True when the node's MAC checks out."""
        self.send_hello()
        self.read_hello()
        self.send_line("AUTH " + self.my_mac())
        if self.read_auth() is None:
            return False
        if not self.their_mac_ok():
            return False
        # An empty table: the node answers with its whole table (SYNC-BEGIN ... SYNC-END).
        self.send_line("DIGEST-BEGIN 0 " + "0" * 16 + " " + "0" * 8)
        return True

    def read_sync(self, timeout=10.0):
        """Reads the node's sync up to SYNC-END, answering PINGs: the records, by client id."""
        deadline = time.monotonic() + scaled(timeout)
        records = {}
        while True:
            line = self.read_line(max(deadline - time.monotonic(), 0.001) / herdtest.TIMEOUT_SCALE)
            if line is None:
                raise herdtest.HerdError("fake %s: closed during sync" % self.name)
            if line == b"PING":
                self.send_line("PONG")
            elif line.startswith(b"SYNC AT "):
                record = line[len(b"SYNC "):]
                records[record.split()[3]] = record
            elif line.startswith(b"SYNC-END "):
                return records

    def read_until(self, predicate, timeout=5.0):
        """Lines until PREDICATE(line) holds (answering PINGs); returns that line or None."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            try:
                line = self.read_line(max(deadline - time.monotonic(), 0.001)
                                      / herdtest.TIMEOUT_SCALE)
            except herdtest.HerdError:
                return None
            if line is None:
                return None
            if line == b"PING":
                self.send_line("PONG")
            if predicate(line):
                return line
        return None

    def closed_by_node(self, timeout=5.0):
        """True when the node closes the connection within TIMEOUT (data read is dropped)."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
            if not data:
                return True
        return False

    def keep_pinging(self, interval=0.5):
        """Sends PING every INTERVAL from a thread until the link breaks: alive, not reading."""
        stop = threading.Event()

        def run():
            while not stop.wait(interval):
                try:
                    self.sock.sendall(b"PING\n")
                except (OSError, AttributeError):
                    return
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return stop

    def is_open(self):
        """True when the node still answers a PING on this link."""
        try:
            self.send_line("PING")
        except OSError:
            return False
        return self.read_until(lambda line: line == b"PONG", timeout=3.0) is not None


# -- watching nodes ----------------------------------------------------------------------

def iamat(client_id, client_time, location=LOCATION):
    if isinstance(client_id, str):
        client_id = client_id.encode()
    return b"IAMAT %s %s %s" % (client_id, location, client_time.encode())


def known_line(node, client_id):
    """The AT line NODE holds for CLIENT_ID (from WHATSAT), or None if it knows none."""
    if isinstance(client_id, str):
        client_id = client_id.encode()
    with node.client(timeout=10.0) as c:
        c.send_line(b"WHATSAT " + client_id + b" 10 1")
        first = c.read_line()
        if first.startswith(b"? "):
            return None
        c.read_until(b"\n\n")
        return first


def current_log(node):
    """The log lines of NODE's current process (after its last start)."""
    lines = node.log_lines()
    for i in range(len(lines) - 1, -1, -1):
        if "event=listening what=client" in lines[i]:
            return lines[i:]
    return lines


def linked_peers(node):
    """The neighbours NODE's current process last logged as up."""
    state = {}
    for line in current_log(node):
        m = re.search(r"event=peer_(up|down) peer=(\S+)", line)
        if m:
            state[m.group(2)] = m.group(1) == "up"
    return {name for name, up in state.items() if up}


def neighbours_of(herd, name):
    return {b if a == name else a for a, b in herd.pairs if name in (a, b)}


def reachable(herd, start, alive):
    """The nodes in ALIVE that START reaches over configured links among ALIVE."""
    seen, todo = {start}, [start]
    while todo:
        for n in neighbours_of(herd, todo.pop()):
            if n in alive and n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def peer_connections(herd):
    """Established TCP connections that end at a peer port of HERD (one count each)."""
    ports = {node.peer_port for node in herd}
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if fields[3] == "01" and local_port in ports:
                count += 1
    return count


def vm_hwm_kib(pid):
    """Peak resident memory of PID (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise herdtest.HerdError("no VmHWM for %d" % pid)


def iamat_ns(client_id, client_time_ns, location=LOCATION):
    return b"IAMAT %s %s %s" % (client_id.encode(), location,
                                herdtest.format_time(client_time_ns).encode())


def held(node):
    """Client ID -> the AT line NODE holds (its /clients, every page)."""
    out = {}
    after = ""
    while True:
        path = "/clients?limit=1000" + ("&after=" + after if after else "")
        status, doc = node.admin(path)
        if status != 200:
            raise herdtest.HerdError("GET %s: %s" % (path, status))
        for c in doc["clients"]:
            out[c["id"]] = c["at"]
        if len(doc["clients"]) < 1000:
            return out
        after = doc["clients"][-1]["id"]


def send_pipelined(node, lines, timeout=120.0):
    """Sends LINES to NODE on one connection while reading the replies; returns the replies."""
    replies = []
    with node.client(timeout=timeout) as c:
        def read_all():
            replies.extend(c.read_lines(len(lines), timeout=timeout))
        reader = threading.Thread(target=read_all)
        reader.start()
        for i in range(0, len(lines), 500):
            c.send(b"".join(line + b"\n" for line in lines[i:i + 500]))
        reader.join(scaled(timeout))
    if len(replies) != len(lines):
        raise herdtest.HerdError("%d replies for %d lines" % (len(replies), len(lines)))
    return replies


class HerdCase(HerdTestCase):
    """Helpers for tests that watch several nodes."""

    def wait_for(self, what, predicate, timeout=10.0, interval=0.05):
        """Polls PREDICATE until it is true; fails with WHAT after TIMEOUT."""
        return herdtest.wait_until(predicate, timeout, what, interval)

    def wait_linked(self, herd, names=None, timeout=10.0):
        """Waits until every running node in NAMES has a link up to each running neighbour."""
        names = set(names or herd.names)

        def all_up():
            for name in names:
                want = neighbours_of(herd, name) & names
                if not want <= linked_peers(herd[name]):
                    return False
            return True
        self.wait_for("links among %s" % sorted(names), all_up, timeout)

    def wait_known(self, node, client_id, line, timeout=10.0):
        """Waits until NODE holds LINE for CLIENT_ID."""
        self.wait_for("%s to hold %r" % (node.name, line),
                      lambda: known_line(node, client_id) == line, timeout)

    def wait_log(self, node, pattern, timeout=10.0):
        """Waits for a line of NODE's current log matching PATTERN; returns its match."""
        regex = re.compile(pattern)

        def find():
            for line in current_log(node):
                m = regex.search(line)
                if m:
                    return m
            return None
        return self.wait_for("%s to log %s" % (node.name, pattern), find, timeout)

    def start_for_fakes(self, herd, name):
        """Starts NAME and waits until its peer port listens too, for fakes to dial.

        Fakes speak the line protocol in the clear (Python's ssl has no TLS 1.3 external
        PSK before 3.13), so the herd's links are plaintext (peer_tls = off): these tests
        are about the lines, test_peer_tls.py about the channel."""
        if herd.options.get("peer_tls") != "off":
            herd.options["peer_tls"] = "off"
            herd.write_config()
        node = herd.start(name)
        self.wait_log(node, r"event=listening what=peer ")
        return node

    def start_default_herd(self, **options):
        herd = self.make_herd(peers=DEFAULT_PEERS, herd_options=options or None)
        herd.start()
        self.wait_linked(herd)
        return herd
