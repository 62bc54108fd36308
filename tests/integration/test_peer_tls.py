"""Peer links over TLS 1.3 with a PSK from the herd secret (README "Peer links"): a relay on
the path sees nothing of the records, cannot alter or inject any, and nodes that do not share
the secret, or the transport, do not link.

Alford dials Bolden through a relay (Alford's copy of the file puts Bolden's peer_listen on
the relay's port); Bolden cannot dial Alford (its copy points at a closed port), so the one
link runs through the relay.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_peer_tls.py -v
"""

import os
import subprocess
import re
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HOST, HerdTestCase, iamat, scaled, stored_line  # noqa: E402


class Relay:
    """A TCP relay on a free loopback port to TARGET_PORT that records what it passes, and,
    when told, flips one byte of, or slips a line into, the next chunk from the dialler."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.recorded = bytearray()
        self.flip = False
        self.inject = None
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            ready, _, _ = select.select([self.listener], [], [], 0.1)
            if not ready:
                continue
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        """Both directions of one connection until either end closes."""
        ends = {client: upstream, upstream: client}
        try:
            while not self.stopping:
                ready, _, _ = select.select(list(ends), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    with self.lock:
                        self.recorded += data
                        if sock is client and self.flip:
                            self.flip = False
                            data = bytearray(data)
                            data[len(data) // 2] ^= 0x01
                            data = bytes(data)
                        if sock is client and self.inject is not None:
                            data, self.inject = self.inject + data, None
                    ends[sock].sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.listener.close()


def with_node_keys(text, keys):
    """The configuration TEXT with KEYS[NAME] (a dict) added to each [node NAME]."""
    for name, pairs in keys.items():
        text = text.replace("[node %s]\n" % name, "[node %s]\n" % name + "".join(
            "%s = %s\n" % kv for kv in pairs.items()), 1)
    return text


def write_node_keys(herd, keys):
    """Writes HERD's file with KEYS[NAME] in each [node NAME]."""
    with open(herd.config_path, "w") as f:
        f.write(with_node_keys(herd.config_text(), keys))


def link_state(node):
    return node.admin("/peers")[1]["peers"][0]["state"]


class TlsTestCase(HerdTestCase):

    def relayed_pair(self, alford_options=None, bolden_options=None, bolden_secret=None,
                     herd_options=None, node_options=None):
        """Alford and Bolden linked through a relay; each node reads its own copy of the
        file, with ALFORD_OPTIONS / BOLDEN_OPTIONS added to [herd]; HERD_OPTIONS go to both,
        NODE_OPTIONS[NAME] into both copies' [node NAME]."""
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options=herd_options)
        alford, bolden = herd["Alford"], herd["Bolden"]
        relay = Relay(bolden.peer_port)
        self.addCleanup(relay.close)
        text = herd.config_text()
        mine = text.replace("peer_listen = %s:%d" % (HOST, bolden.peer_port),
                            "peer_listen = %s:%d" % (HOST, relay.port))
        theirs = text.replace("peer_listen = %s:%d" % (HOST, alford.peer_port),
                              "peer_listen = %s:%d" % (HOST, herdtest.free_port()))
        mine = with_node_keys(mine, node_options or {})
        theirs = with_node_keys(theirs, node_options or {})
        if bolden_secret is not None:
            path = os.path.join(herd.dir, "bolden.secret")
            with open(path, "wb") as f:
                f.write(bolden_secret)
            os.chmod(path, 0o600)
            theirs = theirs.replace("secret_file = herd.secret", "secret_file = bolden.secret")
        for node, body, extra in ((alford, mine, alford_options),
                                  (bolden, theirs, bolden_options)):
            for k, v in (extra or {}).items():
                body = body.replace("[herd]\n", "[herd]\n%s = %s\n" % (k, v), 1)
            path = os.path.join(herd.dir, "%s.conf" % node.name)
            with open(path, "w") as f:
                f.write(body)
            node.extra_args = ["-c", path]
        herd.start()
        return herd, alford, bolden, relay

    def assertNoLink(self, alford, bolden, seconds=2.0):
        deadline = time.monotonic() + scaled(seconds)
        while time.monotonic() < deadline:
            self.assertNotEqual(link_state(alford), "up")
            self.assertNotEqual(link_state(bolden), "up")
            time.sleep(0.1)

    def assertRelayedRecordHidden(self, alford, bolden, relay, client_id, more=()):
        """An IAMAT for CLIENT_ID at Alford reaches Bolden through RELAY, which saw the
        link's bytes but neither the ID, an AT line, the handshake, nor MORE."""
        reply = alford.request(iamat(client_id, b"+34.068930-118.445127", b"1700000000.5"))
        herdtest.wait_until(lambda: stored_line(bolden, client_id) == reply,
                            what="the record at Bolden")
        with relay.lock:
            seen = bytes(relay.recorded)
        self.assertGreater(len(seen), 200, "the relay passed the link's bytes")
        for clear in (client_id, b"AT Alford", b"HELLO", b"herd/3") + tuple(more):
            self.assertNotIn(clear, seen)

    def wait_up(self, alford, bolden):
        herdtest.wait_until(lambda: link_state(alford) == "up" and link_state(bolden) == "up",
                            what="the link through the relay")


class TestChannel(TlsTestCase):

    def test_relay_sees_no_record(self):
        herd, alford, bolden, relay = self.relayed_pair()
        self.wait_up(alford, bolden)
        self.assertRelayedRecordHidden(alford, bolden, relay, b"kiwi-secret-7731",
                                       (b"AUTH", b"+34.068930"))
        self.assertTrue(any("event=peer_transport tls=on" in line
                            for line in alford.log_lines()))

    def test_flipped_byte_drops_the_link_and_stores_nothing_altered(self):
        herd, alford, bolden, relay = self.relayed_pair()
        self.wait_up(alford, bolden)
        relay.flip = True
        reply = alford.request(iamat(b"flipped", b"+34.068930-118.445127", b"1700000001.5"))
        herdtest.wait_until(lambda: any("event=peer_down" in line and "TLS" in line
                                        for line in bolden.log_lines()),
                            what="Bolden dropping the link")
        # The link comes back and the record arrives whole, by the sync.
        self.wait_up(alford, bolden)
        herdtest.wait_until(lambda: stored_line(bolden, b"flipped") == reply,
                            what="the record, unaltered, at Bolden")
        self.assertEqual(bolden.stats()["clients"], 1, "nothing else was stored")

    def test_injected_clear_line_is_refused(self):
        herd, alford, bolden, relay = self.relayed_pair()
        self.wait_up(alford, bolden)
        relay.inject = b"AT Alford +0.000000001 injected +34-118 1700000002.5\n"
        alford.request(iamat(b"carrier", b"+34-118", b"1700000002.6"))
        herdtest.wait_until(lambda: any("event=peer_down" in line and "TLS" in line
                                        for line in bolden.log_lines()),
                            what="Bolden dropping the link")
        self.wait_up(alford, bolden)
        herdtest.wait_until(lambda: stored_line(bolden, b"carrier") is not None,
                            what="the genuine record")
        self.assertIsNone(stored_line(bolden, b"injected"))


class TestRefusals(TlsTestCase):

    def test_another_secret_does_not_link(self):
        herd, alford, bolden, relay = self.relayed_pair(bolden_secret=os.urandom(32).hex()
                                                        .encode())
        self.assertNoLink(alford, bolden)
        herdtest.wait_until(lambda: [line for line in alford.log_lines()
                                     if re.search(r"event=peer_link_close .*peer=Bolden .*"
                                                  r"reason=\"(TLS|connect failed)", line)],
                            what="Alford's failed handshakes")

    def test_a_dial_that_connects_but_hears_no_tls_says_so(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"})
        # Bolden's port takes the connection (the kernel's backlog) and says nothing.
        silent = socket.create_server((HOST, herd["Bolden"].peer_port))
        self.addCleanup(silent.close)
        herd.start("Alford")
        self.assertIsNotNone(herd["Alford"].wait_log(
            lambda line: "event=peer_link_close" in line and "peer=Bolden" in line and
            "reason=\"TLS handshake timeout\"" in line, timeout=10), herd["Alford"].describe())

    def test_plaintext_and_tls_do_not_link(self):
        herd, alford, bolden, relay = self.relayed_pair(bolden_options={"peer_tls": "off"})
        self.assertNoLink(alford, bolden)
        herdtest.wait_until(lambda: [line for line in bolden.log_lines()
                                     if "speaks TLS and this node has peer_tls off" in line],
                            what="Bolden's refusal")
        self.assertTrue(any("event=peer_transport tls=off" in line
                            for line in bolden.log_lines()))

    def test_without_a_secret_links_are_plaintext_and_say_so(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"}, secret=False,
                              herd_options={"peer_tls": "on"})
        herd.start()
        alford, bolden = herd["Alford"], herd["Bolden"]
        self.wait_up(alford, bolden)
        log = alford.log()
        self.assertIn("event=peer_tls_off", log)
        self.assertIn("event=peer_transport tls=off", log)


def openssl(*args, cwd):
    done = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=scaled(30))
    if done.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), done.stderr))


def make_ca(folder, name):
    """A CA NAME.pem and NAME.key in FOLDER."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".pem", "-days", "30",
            "-subj", "/CN=" + name, cwd=folder)


def make_cert(folder, ca, file, dns, ext=None):
    """FILE.pem and FILE.key in FOLDER: a certificate of CA with CN=DNS and the extensions
    EXT (default: subjectAltName DNS:DNS)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", file + ".key", "-out", file + ".csr", "-subj", "/CN=" + dns, cwd=folder)
    with open(os.path.join(folder, file + ".ext"), "w") as f:
        f.write(ext if ext is not None else "subjectAltName=DNS:%s\n" % dns)
    openssl("x509", "-req", "-in", file + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", file + ".pem", "-days", "30", "-extfile", file + ".ext",
            cwd=folder)
    os.chmod(os.path.join(folder, file + ".key"), 0o600)


class TestCertificates(TlsTestCase):
    """peer_ca_file in [herd], peer_cert_file and peer_key_file in each [node]:
    certificates of a herd CA in place of the PSK, each naming its node."""

    def certs(self):
        folder = os.path.join(self.tmp, "certs")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            make_ca(folder, "herd-ca")
            make_ca(folder, "other-ca")
            make_cert(folder, "herd-ca", "alford", "Alford")
            make_cert(folder, "herd-ca", "bolden", "Bolden")
        return folder

    def node_certs(self, folder, bolden="bolden"):
        return {"Alford": {"peer_cert_file": os.path.join(folder, "alford.pem"),
                           "peer_key_file": os.path.join(folder, "alford.key")},
                "Bolden": {"peer_cert_file": os.path.join(folder, bolden + ".pem"),
                           "peer_key_file": os.path.join(folder, bolden + ".key")}}

    def pair(self, bolden="bolden"):
        folder = self.certs()
        return self.relayed_pair(herd_options={"peer_ca_file": os.path.join(folder,
                                                                           "herd-ca.pem")},
                                 node_options=self.node_certs(folder, bolden))

    def test_certificates_link_and_the_relay_sees_no_record(self):
        herd, alford, bolden, relay = self.pair()
        self.wait_up(alford, bolden)
        self.assertIn("event=peer_transport tls=on version=TLSv1.3 auth=certificate",
                      alford.log())
        self.assertRelayedRecordHidden(alford, bolden, relay, b"kiwi-cert-5521")

    def test_a_certificate_of_another_ca_does_not_link(self):
        make_cert(self.certs(), "other-ca", "bolden-other", "Bolden")
        herd, alford, bolden, relay = self.pair(bolden="bolden-other")
        self.assertNoLink(alford, bolden)
        herdtest.wait_until(lambda: "certificate verify failed" in alford.log() and
                            "event=peer_certificate_refused" in alford.log(),
                            what="Alford refusing Bolden's certificate")

    def test_a_certificate_for_another_name_does_not_link(self):
        # Host names compare without case; node names do not.
        make_cert(self.certs(), "herd-ca", "bolden-lower", "bolden")
        herd, alford, bolden, relay = self.pair(bolden="bolden-lower")
        self.assertNoLink(alford, bolden)
        herdtest.wait_until(lambda: "its certificate does not name it" in alford.log(),
                            what="Alford refusing a certificate for bolden")

    def accepted_by_alford(self, cert=None, hello_as="Bolden"):
        """Dials Alford's peer port over TLS from Python with CERT (a file stem in the
        certificate folder, or None for none) and says HELLO as HELLO_AS: the lines Alford
        sent before the connection ended, and its log."""
        folder = self.certs()
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"peer_ca_file": os.path.join(folder, "herd-ca.pem"),
                                            "peer_backoff_max": 60})
        write_node_keys(herd, self.node_certs(folder))
        alford = herd.start("Alford")
        # The node opens its client port first; its peer port follows.
        herdtest.wait_until(lambda: "event=listening what=peer " in alford.log(),
                            what="Alford's peer port")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(os.path.join(folder, "herd-ca.pem"))
        if cert is not None:
            ctx.load_cert_chain(os.path.join(folder, cert + ".pem"),
                                os.path.join(folder, cert + ".key"))
        raw = socket.create_connection((HOST, alford.peer_port), timeout=scaled(5))
        got, tls = b"", None
        try:
            tls = ctx.wrap_socket(raw, server_hostname="Alford")
            tls.sendall(b"HELLO herd/3 %s %s\n" % (hello_as.encode(), b"ab" * 16))
            deadline = time.monotonic() + scaled(3)
            while time.monotonic() < deadline:
                data = tls.recv(4096)
                if not data:
                    break
                got += data
        except (ssl.SSLError, OSError):
            pass
        finally:
            (tls or raw).close()
        return got, alford

    def test_the_accepting_end_checks_the_dialler_s_certificate(self):
        folder = self.certs()
        make_cert(folder, "herd-ca", "carden", "Carden")
        make_cert(folder, "other-ca", "bolden-other", "Bolden")
        make_cert(folder, "herd-ca", "bolden-cn", "Bolden", ext="basicConstraints=CA:FALSE\n")
        make_cert(folder, "herd-ca", "bolden-server", "Bolden",
                  ext="subjectAltName=DNS:Bolden\nextendedKeyUsage=serverAuth\n")
        # The control: the right certificate gets Alford's HELLO and AUTH.
        got, alford = self.accepted_by_alford("bolden")
        self.assertIn(b"HELLO herd/3 Alford ", got)
        self.assertIn(b"\nAUTH ", got)
        cases = [
            (None, "peer did not return a certificate"),
            ("bolden-other", "unable to get local issuer certificate"),
            ("carden", "its certificate does not name it"),
            ("bolden-cn", "its certificate does not name it"),
            ("bolden-server", "unsuitable certificate purpose"),
        ]
        for cert, reason in cases:
            got, alford = self.accepted_by_alford(cert)
            self.assertNotIn(b"AUTH", got, cert)
            herdtest.wait_until(lambda: reason in alford.log(), timeout=scaled(5),
                                what="Alford to log %r for %s" % (reason, cert))

    def test_the_files_go_with_the_ca(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"peer_ca_file": "ca.pem"})
        done = herdtest.run_herdd(["-t", "-c", herd.config_path, "-n", "Alford"])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("node Alford: peer_ca_file is set: the node needs peer_cert_file and "
                      "peer_key_file", done.stderr)
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"peer_ca_file": "ca.pem", "peer_tls": "off"})
        done = herdtest.run_herdd(["-t", "-c", herd.config_path, "-n", "Alford"])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("certificates are for TLS links", done.stderr)

    def test_a_key_that_is_not_the_certificate_s_stops_the_node(self):
        folder = self.certs()
        keys = self.node_certs(folder)
        keys["Alford"]["peer_key_file"] = os.path.join(folder, "bolden.key")
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": "Bolden"},
                              herd_options={"peer_ca_file": os.path.join(folder, "herd-ca.pem")})
        write_node_keys(herd, keys)
        node = herd["Alford"]
        node.start(wait=False)
        self.assertNotEqual(node.wait(), 0)
        text = node.stderr_text() + node.log()
        self.assertIn("what=peer_tls error=\"peer_key_file (a PEM key, of peer_cert_file)",
                      text)
        self.assertIn("key values mismatch", text)

if __name__ == "__main__":
    herdtest.main()
