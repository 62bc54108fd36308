"""herdd under systemd (SPEC section 8): the notify protocol spoken without libsystemd, and
the shipped unit file checked by systemd-analyze."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import herdtest
from herdtest import HerdTestCase, scaled

# The unit as meson install writes it from etc/systemd/herdd@.service.in (HERD_UNIT, from
# tests/integration/meson.build), and the man pages its Documentation= names.
UNIT = os.environ.get("HERD_UNIT") or os.path.join(herdtest.REPO_ROOT, "build", "etc",
                                                   "herdd@.service")
MAN_PAGES = {"8": os.path.join(herdtest.REPO_ROOT, "etc", "man", "herdd.8"),
             "5": os.path.join(herdtest.REPO_ROOT, "etc", "man", "herd.conf.5")}


class FakeSystemd:
    """A NOTIFY_SOCKET that records every datagram herdd sends."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, text, timeout=5.0):
        """Waits until a datagram containing TEXT arrives; returns its arrival time."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(data)
            if text in data.split("\n"):
                return time.monotonic()
        raise AssertionError("no %r from herdd; got %r" % (text, self.messages))

    def close(self):
        self.sock.close()


class TestNotify(HerdTestCase):
    def test_ready_watchdog_and_stopping(self):
        herd = self.make_herd(["Alford"])
        fake = FakeSystemd(self.tmp)
        self.addCleanup(fake.close)
        node = herd["Alford"]
        node.env = {"NOTIFY_SOCKET": fake.path, "WATCHDOG_USEC": "400000"}
        node.start(wait=False)
        fake.wait_for("READY=1")
        # READY means serving: the client port answers at once.
        with node.client() as c:
            c.send_line(b"IAMAT kiwi +1+1 1700000000")
            herdtest_line = c.read_line()
        self.assertTrue(herdtest_line.startswith(b"AT Alford "))
        first = fake.wait_for("WATCHDOG=1")
        second = fake.wait_for("WATCHDOG=1")
        self.assertLess(second - first, scaled(1.0))
        node.signal(signal.SIGTERM)
        fake.wait_for("STOPPING=1")
        self.assertEqual(node.wait(), 0)

    def test_reload_says_reloading_then_ready(self):
        herd = self.make_herd(["Alford"])
        fake = FakeSystemd(self.tmp)
        self.addCleanup(fake.close)
        node = herd["Alford"]
        node.env = {"NOTIFY_SOCKET": fake.path}
        node.start(wait=False)
        fake.wait_for("READY=1")
        node.signal(signal.SIGHUP)
        reloading = fake.wait_for("RELOADING=1")
        ready = fake.wait_for("READY=1")
        self.assertLessEqual(reloading, ready)
        self.assertIn("STATUS=serving", fake.messages[-1].split("\n"))
        # A file that does not load: READY=1 again, and the status says so.
        with open(herd.config_path, "a") as f:
            f.write("no_such_key = 1\n")
        node.signal(signal.SIGHUP)
        fake.wait_for("RELOADING=1")
        fake.wait_for("READY=1")
        self.assertTrue(any(line.startswith("STATUS=") and "reload failed" in line
                            for line in fake.messages[-1].split("\n")), fake.messages[-1])

    def test_no_watchdog_for_another_pid(self):
        herd = self.make_herd(["Alford"])
        fake = FakeSystemd(self.tmp)
        self.addCleanup(fake.close)
        node = herd["Alford"]
        node.env = {"NOTIFY_SOCKET": fake.path, "WATCHDOG_USEC": "200000",
                    "WATCHDOG_PID": "1"}
        node.start(wait=False)
        fake.wait_for("READY=1")
        with self.assertRaises(AssertionError):
            fake.wait_for("WATCHDOG=1", timeout=0.6)

    def test_runs_without_systemd(self):
        node = self.start_node()
        self.assertNotIn("notify_failed", node.log())


def admin_status(port, token=None, timeout=5.0):
    """The HTTP status of GET /healthz on the admin port, waiting for the port to open."""
    deadline = time.monotonic() + scaled(timeout)
    headers = {"Authorization": "Bearer " + token} if token else {}
    while True:
        try:
            req = urllib.request.Request("http://%s:%d/healthz" % (herdtest.HOST, port),
                                         headers=headers)
            with urllib.request.urlopen(req, timeout=scaled(timeout)) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class TestCredentials(HerdTestCase):
    """LoadCredential= secrets in $CREDENTIALS_DIRECTORY take the place of configured files."""

    def start_with_credential(self, content):
        """Alford started with an admin.token credential holding CONTENT."""
        return self.start_with_credentials({"admin.token": content})

    def test_admin_token_from_credential(self):
        node = self.start_with_credential("s3cret-token\n")
        self.assertEqual(admin_status(node.admin_port), 401)
        self.assertEqual(admin_status(node.admin_port, "s3cret-token"), 200)
        self.assertNotIn("s3cret-token", node.log())

    def test_empty_credential_means_not_given(self):
        node = self.start_with_credential("")
        self.assertEqual(admin_status(node.admin_port), 200)

    def start_with_credentials(self, files):
        """Alford started with a $CREDENTIALS_DIRECTORY holding FILES {name: text}."""
        herd = self.make_herd(["Alford"])
        creds = os.path.join(self.tmp, "credentials")
        os.makedirs(creds)
        for name, text in files.items():
            with open(os.path.join(creds, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(creds, name), 0o600)
        node = herd["Alford"]
        node.env = {"CREDENTIALS_DIRECTORY": creds}
        node.start()
        return node

    def test_credentials_folder_names(self):
        """LoadCredential= of a folder names each file herd_FILE: herdd reads those."""
        node = self.start_with_credentials({"herd_admin.token": "folder-token\n"})
        self.assertEqual(admin_status(node.admin_port), 401)
        self.assertEqual(admin_status(node.admin_port, "folder-token"), 200)

    def test_places_key_source_is_logged(self):
        """key= in places_ready says where the key came from, never what it is."""
        node = self.start_with_credentials({"places.key": "from-a-credential\n"})
        # The log is written at the end of a loop pass: wait for the line.
        ready = node.wait_log(lambda line: "event=places_ready" in line)
        self.assertTrue(ready is not None and ready.endswith("key=credential"), ready)
        self.assertNotIn("from-a-credential", node.log())
        node.stop()
        node.env = {"HERD_PLACES_KEY": "from-the-environment"}
        node.start()
        ready = node.wait_log(lambda line: "event=places_ready" in line and
                              line.endswith("key=environment"))
        self.assertIsNotNone(ready, node.describe())


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
class TestUnitFile(HerdTestCase):
    def unit_copy(self):
        """The installed unit with ExecStartPre and ExecStart running the herdd under test."""
        with open(UNIT) as f:
            text, count = re.subn(r"^(ExecStart(?:Pre)?=)/\S*/herdd ",
                                  lambda m: m.group(1) + herdtest.herdd_path() + " ",
                                  f.read(), flags=re.M)
        self.assertEqual(count, 2, "ExecStartPre= and ExecStart= should run herdd")
        path = os.path.join(self.tmp, "herdd@.service")
        with open(path, "w") as f:
            f.write(text)
        return path

    def man_path(self):
        """A MANPATH with the two pages, where man(1) finds what Documentation= names."""
        root = os.path.join(self.tmp, "man")
        for section, page in MAN_PAGES.items():
            os.makedirs(os.path.join(root, "man" + section), exist_ok=True)
            shutil.copy(page, os.path.join(root, "man" + section))
        return root

    def test_verify(self):
        # verify runs man(1) for each man: page of Documentation=; without man, it cannot.
        man = ["--man=yes"] if shutil.which("man") else ["--man=no"]
        result = subprocess.run(["systemd-analyze", "verify"] + man + [self.unit_copy()],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, MANPATH=self.man_path()), timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertEqual(result.stdout.strip(), "")

    def test_hardened(self):
        result = subprocess.run(["systemd-analyze", "security", "--offline=true",
                                 self.unit_copy()],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
        self.assertIsNotNone(m, result.stdout)
        self.assertLessEqual(float(m.group(1)), 2.0, result.stdout)

    def test_shape(self):
        with open(UNIT) as f:
            text = f.read()
        for line in ("Type=notify", "WatchdogSec=", "LoadCredential=herd:/etc/herd/credentials\n",
                     "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes",
                     "Documentation=man:herdd(8) "):
            self.assertIn(line, text)
        self.assertNotRegex(text, r"@\w+@", "a template variable is left")
        self.assertRegex(text, r"(?m)^ExecStart=/\S*/herdd -c /etc/herd/herd.conf -n %i ")


if __name__ == "__main__":
    unittest.main()
