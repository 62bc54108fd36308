"""Stop (SIGTERM, systemctl stop): no new connections, answers for what clients have sent
(a WHATSAT waiting for Places gets its answer or its error within places_timeout), the
links' queues sent, a last snapshot when a state_dir is set, exit status 0 (README "Stop").

Run: HERDD=build/server/herdd PLACES_STANDIN=build/tests/standin/places-standin \\
     /usr/bin/python3 tests/integration/test_stop.py -v
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import HerdTestCase, iamat, scaled  # noqa: E402


class StopTestCase(HerdTestCase):

    def places_node(self, timeout):
        standin = self.start_standin()
        herd = self.make_herd(["Alford"], herd_options=standin.herd_options("legacy", timeout))
        herd.start()
        node = herd["Alford"]
        node.request(iamat(b"kiwi", b"+34.068930-118.445127", b"1700000000.5"))
        return standin, herd, node

    def whatsat_at_places(self, standin, c):
        """Sends C's WHATSAT for kiwi and waits until the stand-in has the call."""
        calls = standin.stats()["requests"]
        c.send(b"WHATSAT kiwi 10 2\n")
        herdtest.wait_until(lambda: standin.stats()["requests"] > calls, timeout=5)

    def sigterm(self, node):
        node.proc.send_signal(signal.SIGTERM)
        node.exit_checked = False

    def wait_exit(self, node, timeout):
        """The exit status and how long the node took to exit after now."""
        started = time.monotonic()
        rc = node.proc.wait(scaled(timeout))
        node.exit_checked = True
        return rc, time.monotonic() - started


class TestStop(StopTestCase):

    def test_whatsat_in_flight_gets_its_answer(self):
        standin, herd, node = self.places_node(timeout=5)
        standin.control("mode=slow=1")
        with node.client(timeout=10) as c:
            self.whatsat_at_places(standin, c)
            self.sigterm(node)
            # The node no longer accepts while it drains.
            time.sleep(scaled(0.2))
            with self.assertRaises(OSError):
                socket.create_connection((herdtest.HOST, node.client_port), timeout=1).close()
            first = c.read_line(timeout=10)
            rest = c.read_until(b"\n\n", timeout=10)
        self.assertTrue(first.startswith(b"AT Alford "), first)
        self.assertIn(b'"OK"', rest)
        rc, took = self.wait_exit(node, 10)
        self.assertEqual(rc, 0)
        self.assertLess(took, 5)
        self.assertTrue(any("event=stop_drained" in line for line in node.log_lines()),
                        node.describe())

    def test_whatsat_slower_than_places_timeout_gets_its_error(self):
        standin, herd, node = self.places_node(timeout=2)
        standin.control("mode=slow=30")
        started = time.monotonic()
        with node.client(timeout=15) as c:
            self.whatsat_at_places(standin, c)
            self.sigterm(node)
            c.read_line(timeout=10)
            rest = c.read_until(b"\n\n", timeout=10)
        self.assertIn(b"UNKNOWN_ERROR", rest)
        self.assertIn(b"did not answer within 2 s", rest)
        rc, _ = self.wait_exit(node, 10)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - started, scaled(2 + 3))

    def test_whatsat_on_a_client_a_reload_replaced_keeps_its_timeout(self):
        # A reload that shortened places_timeout (5 to 1 s), then SIGTERM: the deadline
        # was the new timeout's, and the call, still under the old one, got no reply.
        standin, herd, node = self.places_node(timeout=5)
        standin.control("mode=slow=30")
        with node.client(timeout=15) as c:
            self.whatsat_at_places(standin, c)
            before = len(node.log_lines())
            with open(herd.config_path) as f:
                text = f.read()
            self.assertIn("places_timeout = 5\n", text)
            with open(herd.config_path, "w") as f:
                f.write(text.replace("places_timeout = 5\n", "places_timeout = 1\n"))
            node.proc.send_signal(signal.SIGHUP)
            herdtest.wait_until(lambda: any("event=reloaded" in line
                                            for line in node.log_lines()[before:]),
                                what="the reload")
            self.sigterm(node)
            first = c.read_line(timeout=10)
            rest = c.read_until(b"\n\n", timeout=10)
        self.assertTrue(first.startswith(b"AT Alford "), first)
        self.assertIn(b"did not answer within 5 s", rest)
        rc, _ = self.wait_exit(node, 10)
        self.assertEqual(rc, 0)
        self.assertFalse(any("event=stop_deadline" in line for line in node.log_lines()))

    def test_sent_lines_are_answered_and_a_partial_one_dropped(self):
        herd = self.make_herd(["Alford"])
        herd.start()
        node = herd["Alford"]
        lines = [iamat(b"c%03d" % i, b"+34-118", b"1700000000.%d" % i) for i in range(200)]
        with node.client(timeout=10) as c:
            c.send(b"".join(line + b"\n" for line in lines) + b"IAMAT half")
            time.sleep(scaled(0.2))
            self.sigterm(node)
            got = c.read_lines(len(lines), timeout=10)
            self.assertTrue(all(line.startswith(b"AT Alford ") for line in got))
            # Then the node closes the connection: nothing for the unfinished line.
            self.assertEqual(c.read_until_eof(timeout=5), b"")
        rc, took = self.wait_exit(node, 10)
        self.assertEqual(rc, 0)
        self.assertTrue(any("event=client_line_dropped" in line for line in node.log_lines()))

    def test_idle_node_stops_at_once(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        node = herd["Alford"]
        idle = node.client(timeout=5)
        self.addCleanup(idle.close)
        self.sigterm(node)
        rc, took = self.wait_exit(node, 10)
        self.assertEqual(rc, 0)
        self.assertLess(took, 1.5)

    def test_records_of_the_last_moment_reach_the_neighbour(self):
        herd = self.make_herd(["Alford", "Bolden"], peers={"Alford": ["Bolden"]})
        herd.start()
        alford, bolden = herd["Alford"], herd["Bolden"]
        herdtest.wait_until(lambda: alford.admin("/peers")[1]["peers"][0]["state"] == "up")
        lines = [iamat(b"late%03d" % i, b"+34-118", b"1700000001.%d" % i) for i in range(300)]
        with alford.client(timeout=10) as c:
            c.send(b"".join(line + b"\n" for line in lines))
            self.sigterm(alford)
            c.read_lines(len(lines), timeout=10)
        self.assertEqual(self.wait_exit(alford, 10)[0], 0)
        herdtest.wait_until(lambda: bolden.stats()["clients"] == len(lines), timeout=5)
        self.assertEqual(bolden.stats()["clients"], len(lines))

    def test_lines_waiting_in_the_socket_at_the_stop_are_answered(self):
        """A client that connected and sent its lines while the node was stopped
        (SIGSTOP), so that the accept and the SIGTERM come in one pass of the loop, before
        its socket was ever read: its lines are answered before the node closes."""
        herd = self.make_herd(["Alford"])
        herd.start()
        node = herd["Alford"]
        lines = [iamat(b"queued%03d" % i, b"+34-118", b"1700000003.%d" % i) for i in range(200)]
        node.signal(signal.SIGSTOP)
        try:
            c = node.client(timeout=10)
            self.addCleanup(c.close)
            c.send(b"".join(line + b"\n" for line in lines))
            time.sleep(0.2)
            self.sigterm(node)
        finally:
            node.signal(signal.SIGCONT)
        got = c.read_lines(len(lines), timeout=10)
        self.assertEqual(len(got), len(lines))
        self.assertTrue(all(line.startswith(b"AT Alford ") for line in got), got[:3])
        self.assertEqual(self.wait_exit(node, 10)[0], 0)

    def test_connections_in_the_accept_backlog_at_the_stop_are_answered(self):
        """300 clients connect and send a line while the node is stopped (SIGSTOP):
        they wait in the listener's backlog, not yet accepted, when SIGTERM comes."""
        herd = self.make_herd(["Alford"])
        herd.start()
        node = herd["Alford"]
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        node.signal(signal.SIGSTOP)
        try:
            for i in range(300):
                c = node.client(timeout=15)
                clients.append(c)
                c.send(iamat(b"backlog%03d" % i, b"+34-118", b"1700000004") + b"\n")
            self.sigterm(node)
        finally:
            node.signal(signal.SIGCONT)
        for i, c in enumerate(clients):
            reply = c.read_line(timeout=15)
            self.assertTrue(reply.startswith(b"AT Alford ") and b" backlog%03d " % i in reply,
                            (i, reply))
        self.assertEqual(self.wait_exit(node, 10)[0], 0)

    def test_a_second_signal_stops_a_drain_of_much_unread_input(self):
        """Clients that sent a lot the node has not read yet: taking it all at the stop
        takes a while, and a second SIGTERM meanwhile stops the node at once."""
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        herd.start()
        payload = b"IAMAT x +1-2 1700000000\n" * 80000       # 1.9 MB a client
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        # More than the node reads in the second before the stop: most of it waits.
        for _ in range(150):
            s = socket.create_connection((herdtest.HOST, node.client_port))
            s.setblocking(False)
            try:
                s.send(payload)
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(0.5)
        self.sigterm(node)
        time.sleep(0.5)
        self.assertIsNone(node.proc.poll(), "the drain was over before the second signal")
        node.proc.send_signal(signal.SIGTERM)
        rc, seconds = self.wait_exit(node, 30)
        self.assertEqual(rc, 0)
        self.assertLess(seconds, scaled(1.5), "%.1f s after the second SIGTERM" % seconds)

    def test_last_snapshot_is_written(self):
        herd = self.make_herd(["Alford"], herd_options={"state_dir": "state"})
        herd.start()
        node = herd["Alford"]
        lines = [iamat(b"s%03d" % i, b"+34-118", b"1700000002.%d" % i) for i in range(100)]
        with node.client(timeout=10) as c:
            c.send(b"".join(line + b"\n" for line in lines))
            c.read_lines(len(lines), timeout=10)
        self.sigterm(node)
        self.assertEqual(self.wait_exit(node, 10)[0], 0)
        self.assertTrue(any("event=state_snapshot " in line and "records=100" in line
                            for line in node.log_lines()), node.describe())
        snapshot = os.path.join(herd.dir, "state", "Alford.snapshot")
        with open(snapshot, "rb") as f:
            self.assertEqual(f.read().count(b"\n"), 100 + 2, "header, 100 records, END")
        node.start()
        self.assertEqual(node.stats()["clients"], 100)


if __name__ == "__main__":
    herdtest.main()
