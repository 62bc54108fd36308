"""Reload (SIGHUP, systemctl reload): the configuration file read again and applied to a
running herd without dropping clients or the links it leaves alone; an invalid file
changes nothing (README "Reload").

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_reload.py -v
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, scaled  # noqa: E402


def peer_states(node):
    """{neighbour: state} from NODE's /peers."""
    status, doc = node.admin("/peers")
    if status != 200:
        raise herdtest.HerdError("GET /peers: %s" % status)
    return {p["name"]: p["state"] for p in doc["peers"]}


def known(node, client_id):
    """True when NODE answers WHATSAT for CLIENT_ID with its AT line."""
    return herdtest.stored_line(node, client_id) is not None


class ReloadTestCase(HerdTestCase):

    def reload(self, herd, *names, event="event=reloaded"):
        """Rewrites the herd's file, sends SIGHUP to NAMES and waits for EVENT in each log;
        returns the lines each logged from the reload on."""
        herd.write_config()
        out = {}
        for name in names:
            node = herd[name]
            before = len(node.log_lines())
            node.proc.send_signal(signal.SIGHUP)
            herdtest.wait_until(lambda: any(event in line for line in node.log_lines()[before:]),
                     what="%s in %s's log" % (event, name))
            out[name] = node.log_lines()[before:]
        return out


class TestNeighbours(ReloadTestCase):

    def test_add_and_remove_a_neighbour(self):
        herd = self.make_herd(["Alford", "Bolden", "Clark"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford, bolden, clark = herd["Alford"], herd["Bolden"], herd["Clark"]
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"},
                            what="Alford-Bolden up")
        self.assertEqual(peer_states(clark), {})
        # A client connected across every reload, and its connection stays.
        with alford.client(timeout=10) as kept:
            kept.send(iamat(b"before", b"+34-118", b"1700000000.1") + b"\n")
            self.assertTrue(kept.read_line().startswith(b"AT Alford "))

            # Clark joins: Alford - Clark is added on both ends.
            herd.pairs.append(("Alford", "Clark"))
            lines = self.reload(herd, "Alford", "Clark")
            self.assertTrue(any("event=peer_added peer=Clark" in line
                                for line in lines["Alford"]), lines["Alford"])
            herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up", "Clark": "up"},
                     what="Alford's links to Bolden and Clark")
            self.assertEqual(peer_states(clark), {"Alford": "up"})
            # The Bolden link was left alone: it never went down.
            self.assertFalse(any("event=peer_down peer=Bolden" in line
                                 for line in alford.log_lines()), alford.describe())
            # Flooding follows: an IAMAT at Clark reaches Bolden through Alford.
            clark.request(iamat(b"via-clark", b"+34-118", b"1700000001.5"))
            herdtest.wait_until(lambda: known(bolden, b"via-clark"), what="via-clark at Bolden")

            # Bolden leaves: Alford - Bolden is removed on both ends.
            herd.pairs.remove(("Alford", "Bolden"))
            lines = self.reload(herd, "Alford", "Bolden")
            self.assertTrue(any("event=peer_removed peer=Bolden" in line
                                for line in lines["Alford"]), lines["Alford"])
            herdtest.wait_until(lambda: peer_states(alford) == {"Clark": "up"},
                                what="Alford's link list")
            self.assertEqual(peer_states(bolden), {})
            clark.request(iamat(b"after", b"+34-118", b"1700000002.5"))
            herdtest.wait_until(lambda: known(alford, b"after"), what="after at Alford")
            time.sleep(scaled(0.5))
            self.assertFalse(known(bolden, b"after"), "a removed link still floods")
            # Nor does Bolden dial Alford again after its own reload.
            since = bolden.log_lines()
            since = since[max(i for i, line in enumerate(since) if "event=reloaded" in line):]
            self.assertFalse([line for line in since if "peer=Alford" in line and
                              ("event=peer_connecting" in line or "event=peer_retry" in line)])

            kept.send(iamat(b"before", b"+35-118", b"1700000003.1") + b"\n")
            self.assertTrue(kept.read_line().startswith(b"AT Alford "),
                            "the client's connection did not survive the reloads")
        herd.finish()

    def test_changed_address_is_dialled_again(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford, bolden = herd["Alford"], herd["Bolden"]
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"}, what="link up")
        # Bolden moves its peer port: it keeps the old one (listening addresses change at
        # restart, and says so), Alford dials the new one; then Bolden restarts there.
        old_port = bolden.peer_port
        bolden.peer_port = herdtest.free_port()
        lines = self.reload(herd, "Alford", "Bolden")
        self.assertTrue(any("event=reload_kept key=peer_listen" in line
                            for line in lines["Bolden"]), lines["Bolden"])
        self.assertTrue(any("event=peer_readdressed peer=Bolden" in line and
                            str(bolden.peer_port) in line for line in lines["Alford"]),
                        lines["Alford"])
        bolden.stop()
        bolden.start()
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"},
                            what="link at the new port")
        self.assertNotEqual(old_port, bolden.peer_port)
        herd.finish()


def admin_status(node, token=None):
    """The HTTP status of GET /healthz at NODE's admin endpoint."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    req = urllib.request.Request("http://%s:%d/healthz" % (herdtest.HOST, node.admin_port),
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=scaled(5)) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class TestSecrets(ReloadTestCase):

    def test_new_admin_token_for_the_next_requests(self):
        herd = self.make_herd(["Alford"], herd_options={"admin_token_file": "admin.token"})
        path = os.path.join(herd.dir, "admin.token")
        write_secret(path, "first-token\n")
        herd.start()
        alford = herd["Alford"]
        self.assertEqual(admin_status(alford, "first-token"), 200)
        write_secret(path, "second-token\n")
        self.reload(herd, "Alford")
        self.assertEqual(admin_status(alford, "second-token"), 200)
        self.assertEqual(admin_status(alford, "first-token"), 401)
        self.assertEqual(admin_status(alford), 401)
        self.assertNotIn("second-token", alford.log())

    def test_token_stays_required_off_loopback(self):
        """The file moves the admin endpoint to loopback and drops the token: the node
        keeps the address it is bound to, so it refuses the reload and keeps the token."""
        herd = self.make_herd(["Alford"], herd_options={"admin_token_file": "admin.token"})
        path = os.path.join(herd.dir, "admin.token")
        write_secret(path, "kept-token\n")
        alford = herd["Alford"]
        loopback = "admin_listen = %s:%d" % (herdtest.HOST, alford.admin_port)
        with open(herd.config_path, "w") as f:
            f.write(herd.config_text().replace(loopback, "admin_listen = 0.0.0.0:%d"
                                               % alford.admin_port))
        alford.start()
        self.assertEqual(admin_status(alford), 401)
        herd.options.pop("admin_token_file")
        lines = self.reload(herd, "Alford", event="event=reload_failed")
        self.assertTrue(any("admin_token_file is required" in line for line in lines["Alford"]),
                        lines["Alford"])
        self.assertEqual(admin_status(alford), 401)
        self.assertEqual(admin_status(alford, "kept-token"), 200)

    def test_new_herd_secret_for_the_next_handshakes(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford, bolden = herd["Alford"], herd["Bolden"]
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"}, what="link up")
        # A new secret for the herd: Alford reloads it (its link stays up); Bolden, stopped,
        # comes back with it. Only a node that took the new secret links with Bolden now.
        bolden.stop()
        write_secret(herd.secret_path, os.urandom(32).hex() + "\n")
        lines = self.reload(herd, "Alford")
        self.assertTrue(any("event=reloaded" in line and "secret=changed" in line
                            for line in lines["Alford"]), lines["Alford"])
        bolden.start()
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"},
                            what="a link with the new secret")
        bolden.request(iamat(b"after-rekey", b"+34-118", b"1700000005.5"))
        herdtest.wait_until(lambda: known(alford, b"after-rekey"), what="a flood over it")


class TestInvalidFile(ReloadTestCase):

    def assertFifoReloadRefused(self, fifo_at):
        """A reload, with the file at FIFO_AT(herd) made a FIFO, fails at once: opening
        it would wait for a writer, and the node would serve nothing meanwhile (nor
        hear a SIGTERM). Returns the herd."""
        herd = self.make_herd(["Alford"])
        herd.start()
        alford = herd["Alford"]
        path = fifo_at(herd)
        os.rename(path, path + ".real")
        os.mkfifo(path, 0o600)
        before = len(alford.log_lines())
        alford.proc.send_signal(signal.SIGHUP)
        with alford.client(timeout=5) as c:
            self.assertTrue(c.request(iamat(b"fifo", b"+34-118", b"1700000000.2"))
                            .startswith(b"AT Alford "))
        herdtest.wait_until(lambda: any("event=reload_failed" in line
                                        for line in alford.log_lines()[before:]),
                            what="reload_failed")
        self.assertIn("not a regular file", "\n".join(alford.log_lines()[before:]))
        return herd

    def test_a_secret_file_that_is_a_fifo_is_refused_without_waiting(self):
        self.assertFifoReloadRefused(lambda herd: os.path.join(herd.dir, "herd.secret"))

    def test_a_config_file_that_is_a_fifo_is_refused_without_waiting(self):
        herd = self.assertFifoReloadRefused(lambda herd: herd.config_path)
        # At the start too: refused at once, not a wait that SIGTERM cannot end.
        r = herdtest.run_herdd(["-c", herd.config_path, "-t"], timeout=10)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not a regular file", r.stderr)

    def test_a_log_file_that_is_a_fifo_without_reader_is_refused(self):
        herd = self.make_herd(["Alford"])
        fifo = os.path.join(herd.dir, "log.fifo")
        os.mkfifo(fifo, 0o600)
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford", "-l", fifo],
                               timeout=10)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("log.fifo", r.stderr)

    def test_invalid_file_changes_nothing(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford = herd["Alford"]
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"}, what="link up")
        good = herd.config_text()
        with alford.client(timeout=10) as kept:
            with open(herd.config_path, "w") as f:
                f.write(good.replace("[herd]", "[herd]\nmax_line = many\nno_such_key = 1"))
            before = len(alford.log_lines())
            alford.proc.send_signal(signal.SIGHUP)
            herdtest.wait_until(lambda: any("event=reload_failed" in line
                                 for line in alford.log_lines()[before:]), what="reload_failed")
            lines = alford.log_lines()[before:]
            errors = [line for line in lines if "event=reload_error" in line]
            self.assertEqual(len(errors), 2, lines)
            for line in errors:
                self.assertIn("%s:" % herd.config_path, line)
            self.assertTrue(any(":3:" in line for line in errors), errors)
            self.assertIn("errors=2", [line for line in lines if "reload_failed" in line][0])
            # The old configuration is in force: the link and the client are there.
            self.assertEqual(peer_states(alford), {"Bolden": "up"})
            kept.send(iamat(b"still", b"+34-118", b"1700000000.1") + b"\n")
            self.assertTrue(kept.read_line().startswith(b"AT Alford "))

            # A file without this node is refused as a whole too.
            with open(herd.config_path, "w") as f:
                f.write(good.replace("[node Alford]", "[node Alfred]"))
            before = len(alford.log_lines())
            alford.proc.send_signal(signal.SIGHUP)
            herdtest.wait_until(lambda: any("event=reload_failed" in line
                                 for line in alford.log_lines()[before:]),
                     what="reload_failed")
            self.assertTrue(any("no [node Alford]" in line
                                for line in alford.log_lines()[before:]), alford.describe())
            self.assertEqual(peer_states(alford), {"Bolden": "up"})
        herd.finish()

    def test_unreadable_secret_changes_nothing(self):
        herd = self.make_herd(["Alford"])
        herd.start()
        alford = herd["Alford"]
        herd.options["secret_file"] = "no-such.secret"
        herd.write_config()
        before = len(alford.log_lines())
        alford.proc.send_signal(signal.SIGHUP)
        herdtest.wait_until(lambda: any("event=reload_failed" in line
                             for line in alford.log_lines()[before:]), what="reload_failed")
        self.assertTrue(any("event=reload_error" in line and "no-such.secret" in line
                            for line in alford.log_lines()[before:]), alford.describe())
        self.assertTrue(alford.running())
        herd.finish()


class TestPlacesSettings(ReloadTestCase):

    def test_places_url_takes_effect_for_new_requests(self):
        standin = self.start_standin()
        herd = self.make_herd(["Alford"], herd_options=standin.herd_options("legacy", 5))
        herd.start()
        alford = herd["Alford"]
        alford.request(iamat(b"kiwi", b"+34.068930-118.445127", b"1700000000.5"))
        self.assertTrue(known(alford, b"kiwi"))
        calls = standin.stats()["requests"]
        reply = herdtest.whatsat(alford, b"kiwi", bound=b"2")[1]
        self.assertIn(b'"status"', reply)
        self.assertNotIn(b"UNKNOWN_ERROR", reply)
        self.assertEqual(standin.stats()["requests"], calls + 1)

        # Places moves to a closed port: the next WHATSAT says it cannot connect.
        herd.options["places_url"] = "https://127.0.0.1:%d/maps/api/place/nearbysearch/json" \
            % herdtest.free_port()
        lines = self.reload(herd, "Alford")
        self.assertTrue(any("event=places_ready" in line for line in lines["Alford"]))
        reply = herdtest.whatsat(alford, b"kiwi", radius=b"11", bound=b"2")[1]
        self.assertIn(b"UNKNOWN_ERROR", reply)
        self.assertIn(b"cannot connect", reply)
        herd.finish()



class TestSighupBurst(ReloadTestCase):

    def test_a_burst_of_sighups_is_a_reload_or_a_few(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford = herd["Alford"]
        herdtest.wait_until(lambda: peer_states(alford) == {"Bolden": "up"}, what="link up")
        before = len(alford.log_lines())
        for _ in range(200):
            alford.proc.send_signal(signal.SIGHUP)
            time.sleep(0.002)
        with alford.client(timeout=10) as c:
            self.assertTrue(c.request(iamat(b"burst", b"+34-118", b"1700000000.3"))
                            .startswith(b"AT Alford "))
        time.sleep(0.5)
        reloads = [line for line in alford.log_lines()[before:] if "event=reloaded" in line]
        # One after another, 200 reloads held the node for seconds and dropped links.
        self.assertGreater(len(reloads), 0)
        self.assertLess(len(reloads), 100, "%d reloads for 200 SIGHUPs" % len(reloads))
        self.assertEqual(peer_states(alford), {"Bolden": "up"})
        self.assertFalse(any("event=peer_down" in line
                             for line in alford.log_lines()[before:]))


class TestRepeatedReloads(ReloadTestCase):
    """A tool that reloads on a timer: the same file again keeps the configuration in
    force, where each reload used to keep one more (about 9 KiB a reload for five nodes,
    60 KiB for sixty) until the node stopped."""

    def test_reloads_of_the_same_file_do_not_grow_the_node(self):
        if os.environ.get("HERD_SANITIZE", "none") != "none":
            self.skipTest("the sanitizers' own memory hides what is measured")
        names = ["N%02d" % i for i in range(30)]
        herd = self.make_herd(names, peers={names[0]: names[1:3]})
        node = herd[names[0]]
        node.start()

        def rss_kib():
            with open("/proc/%d/status" % node.pid) as f:
                return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))

        def reloads(n):
            for _ in range(n):
                before = len(node.log_lines())
                node.proc.send_signal(signal.SIGHUP)
                herdtest.wait_until(lambda: any("event=reloaded" in line for line in
                                                node.log_lines()[before:]), what="a reload")
        reloads(10)
        start = rss_kib()
        reloads(100)
        grown = rss_kib() - start
        self.assertLess(grown, 768, "RSS grew by %d KiB in 100 reloads" % grown)
        self.assertTrue(node.request(iamat(b"after", b"+34-118", b"1700000000.3"))
                        .startswith(b"AT N00 "))


class TestSignalsAtStartUp(HerdTestCase):
    """A SIGHUP (logrotate's) that comes while a node is still starting is a reload once
    it runs; it does not end the process (the default action of SIGHUP)."""

    def test_sighup_during_start_up_does_not_stop_the_node(self):
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        herd.write_config()
        for attempt in range(3):
            log = os.path.join(self.tmp, "a%d.log" % attempt)
            proc = subprocess.Popen(herdtest.herdd_command(
                ["-c", herd.config_path, "-n", "Alford", "-l", log]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.addCleanup(proc.kill)
            # The log is open: main() runs, and loads the Places CA bundle next (tens of
            # milliseconds) before libevent takes the signals.
            started = time.monotonic()
            while not os.path.exists(log) and time.monotonic() - started < scaled(5):
                time.sleep(0.0005)
            delay = time.monotonic() - started
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + scaled(5)
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with herdtest.Client(node.client_port, timeout=1) as c:
                        reply = c.request(iamat(b"early"))
                    break
                except OSError:
                    time.sleep(0.02)
            self.assertIsNone(proc.poll(), "herdd ended (status %s) on a SIGHUP %.3f s "
                              "after it started" % (proc.returncode, delay))
            self.assertTrue(reply.startswith(b"AT Alford "), reply)
            proc.terminate()
            self.assertEqual(proc.wait(scaled(10)), 0)

if __name__ == "__main__":
    herdtest.main()
