"""The client protocol (SPEC section 3), the command line (section 1) and the log (section 7)
against real herdd processes.

Run: HERDD=build/server/herdd /usr/bin/python3 tests/integration/test_client.py -v
"""

import os
import re
import shutil
import subprocess
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herdtest  # noqa: E402
from herdtest import (ClientTestCase, HerdTestCase, format_time, iamat,  # noqa: E402
                      now_ns, parse_diff, read_whatsat_reply, scaled)

SPEC_IAMAT = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
NS = 1000000000
# How far the node's reading of the clock may lag ours (a coarse or cached clock).
CLOCK_SLACK_NS = 2000000


class TestIamat(ClientTestCase):

    def test_reply_format_and_exact_diff(self):
        with self.node.client() as c:
            ct = now_ns() - 3 * NS
            line = iamat("kiwi.cs.ucla.edu", "+34.068930-118.445127", format_time(ct))
            before = now_ns()
            c.send(line + b"\n")
            reply = c.read_line()
            after = now_ns()
        m = self.assertAtLine(reply, server="Alford", client_id="kiwi.cs.ucla.edu",
                              location="+34.068930-118.445127", client_time=format_time(ct))
        self.assertTrue(m.group("diff").startswith(b"+"), reply)
        diff = parse_diff(m.group("diff"))
        self.assertGreaterEqual(diff, before - ct - CLOCK_SLACK_NS)
        self.assertLessEqual(diff, after - ct)
        # One space between fields, nothing else on the line.
        self.assertEqual(reply.split(b" ")[3:], line.split(b" ")[1:])

    def test_spec_example(self):
        before = now_ns()
        reply = self.node.request(SPEC_IAMAT)
        after = now_ns()
        m = self.assertAtLine(reply, server="Alford", client_id="kiwi.cs.ucla.edu",
                              location="+34.068930-118.445127",
                              client_time="1621464827.959498503")
        ct = 1621464827 * NS + 959498503
        self.assertEqual(m.group("diff")[:1], b"+")
        self.assertGreaterEqual(parse_diff(m.group("diff")), before - ct - CLOCK_SLACK_NS)
        self.assertLessEqual(parse_diff(m.group("diff")), after - ct)

    def test_future_client_time_gives_negative_diff(self):
        ct = now_ns() + 1000 * NS
        before = now_ns()
        reply = self.node.request(iamat("future", client_time=format_time(ct)))
        after = now_ns()
        m = self.assertAtLine(reply, server="Alford", client_id="future",
                              client_time=format_time(ct))
        self.assertTrue(m.group("diff").startswith(b"-"), reply)
        diff = parse_diff(m.group("diff"))
        self.assertGreaterEqual(diff, before - ct - CLOCK_SLACK_NS)
        self.assertLessEqual(diff, after - ct)

    def test_diff_between_minus_one_and_zero_keeps_sign(self):
        ct = now_ns() + NS // 2 + NS // 4
        reply = self.node.request(iamat("soon", client_time=format_time(ct)))
        m = self.assertAtLine(reply, client_id="soon")
        self.assertRegex(m.group("diff"), rb"^-0\.[0-9]{9}$")

    def test_short_fraction_and_integer_times_are_exact(self):
        with self.node.client() as c:
            # An hour ahead is within the default max_clock_skew (SPEC section 3).
            soon = "%d.25" % (now_ns() // NS + 3600)
            for text in ("1700000000.5", "1700000000", "0", "0.000000001", soon):
                with self.subTest(time=text):
                    ct = herdtest.parse_time(text)
                    before = now_ns()
                    reply = c.request(iamat("t" + text, client_time=text))
                    after = now_ns()
                    m = self.assertAtLine(reply, client_id="t" + text, client_time=text)
                    diff = parse_diff(m.group("diff"))
                    self.assertGreaterEqual(diff, before - ct - CLOCK_SLACK_NS)
                    self.assertLessEqual(diff, after - ct)

    def test_valid_locations_at_the_edges(self):
        with self.node.client() as c:
            for loc in ("+34-118", "+90+180", "-90-180", "+90.000000-180.0000", "-0+0",
                        "+00.5-000.25", "+0.123456789012+0.1"):
                with self.subTest(location=loc):
                    reply = c.request(iamat("edge", loc))
                    self.assertAtLine(reply, client_id="edge", location=loc)

    def test_odd_bytes_in_id(self):
        odd = b"\xff\xfe\x80caf\xc3\xa9\x01\x7f\"\\'%s%n{}[]<>"
        with self.node.client() as c:
            reply = c.request(iamat(odd))
            self.assertAtLine(reply, client_id=odd)
            self.assertIn(odd, reply)

    def test_nul_byte_in_id(self):
        odd = b"nul\x00inside"
        with self.node.client() as c:
            reply = c.request(iamat(odd))
            self.assertAtLine(reply, client_id=odd)
            c.send(b"WHATSAT " + odd + b" 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), reply, 5)
            self.assertRejected(c, b"WHATSAT nul 10 5")

    def test_whatsat_with_odd_id(self):
        odd = b"\xff\xfe\x80caf\xc3\xa9"
        with self.node.client() as c:
            reply = c.request(iamat(odd))
            c.send(b"WHATSAT " + odd + b" 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), reply, 5)

    def test_id_length_limit(self):
        with self.node.client() as c:
            ok = b"i" * 254 + b"\xe9"
            self.assertEqual(len(ok), 255)
            self.assertAtLine(c.request(iamat(ok)), client_id=ok)
            self.assertRejected(c, iamat(b"j" * 256))
            self.assertRejected(c, iamat(b"k" * 1000))

    def test_tabs_and_runs_of_white_space_separate_fields(self):
        with self.node.client() as c:
            for sep in (b"\t", b"   ", b" \t ", b"\x0b", b"\x0c", b"\r"):
                with self.subTest(sep=sep):
                    line = sep.join([b"IAMAT", b"ws", b"+1-2", b"1700000000.1"])
                    reply = c.request(b" \t" + line + b" \t ")
                    self.assertAtLine(reply, server="Alford", client_id="ws",
                                      location="+1-2", client_time="1700000000.1")

    def test_crlf_line_is_accepted(self):
        with self.node.client() as c:
            c.send(b"IAMAT crlf +1-2 1700000000.1\r\n")
            self.assertAtLine(c.read_line(), client_id="crlf", location="+1-2",
                              client_time="1700000000.1")

    def test_empty_and_blank_lines_are_ignored(self):
        with self.node.client() as c:
            c.send(b"\n   \n\t\r\n\r\n \x0b\x0c \n" + iamat("after-blank") + b"\n")
            self.assertAtLine(c.read_line(), client_id="after-blank")
            self.assertEqual(c.read_available(0.3), b"")


class TestInvalid(ClientTestCase):

    INVALID = [
        b"HELLO world",
        b"HELLO",
        b"iamat kiwi +34-118 1700000000",
        b"Iamat kiwi +34-118 1700000000",
        b"whatsat kiwi 10 5",
        b"IAMAT",
        b"IAMAT kiwi",
        b"IAMAT kiwi +34-118",
        b"IAMAT kiwi +34-118 1700000000 extra",
        b"IAMAT kiwi +34.-118 1700000000",
        b"IAMAT kiwi 34-118 1700000000",
        b"IAMAT kiwi +34118 1700000000",
        b"IAMAT kiwi +34 1700000000",
        b"IAMAT kiwi +34-118- 1700000000",
        b"IAMAT kiwi +34-118. 1700000000",
        b"IAMAT kiwi +.5-118 1700000000",
        b"IAMAT kiwi +3a-118 1700000000",
        b"IAMAT kiwi +34.5.6-118 1700000000",
        b"IAMAT kiwi ++34-118 1700000000",
        b"IAMAT kiwi +91-118 1700000000",
        b"IAMAT kiwi -91-118 1700000000",
        b"IAMAT kiwi +34+181 1700000000",
        b"IAMAT kiwi +34-180.0000001 1700000000",
        b"IAMAT kiwi +90.0000001+0 1700000000",
        b"IAMAT kiwi -90.0000001+0 1700000000",
        b"IAMAT kiwi +0+180.000000001 1700000000",
        b"IAMAT kiwi +34-118 1700000000.",
        b"IAMAT kiwi +34-118 -5",
        b"IAMAT kiwi +34-118 1e9",
        b"IAMAT kiwi +34-118 1700000000.1234567890",
        b"IAMAT kiwi +34-118 .5",
        b"IAMAT kiwi +34-118 1700000000.5x",
        b"IAMAT kiwi +34-118 abc",
        b"IAMAT kiwi +34-118 17000000 00",
        b"WHATSAT",
        b"WHATSAT known",
        b"WHATSAT known 10",
        b"WHATSAT known 10 5 extra",
        b"WHATSAT known 0 5",
        b"WHATSAT known 0.0 5",
        b"WHATSAT known -1 5",
        b"WHATSAT known 50.1 5",
        b"WHATSAT known 51 5",
        b"WHATSAT known abc 5",
        b"WHATSAT known 10 0",
        b"WHATSAT known 10 21",
        b"WHATSAT known 10 -1",
        b"WHATSAT known 10 5.0",
        b"WHATSAT known 10 5.5",
        b"WHATSAT known 10 abc",
        b"WHATSAT unknown-client 10 5",
        b"AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
        b"AT",
        b"  HELLO\tthere  ",
        b"\xff\xfe binary \x80",
        b"\x00",
        b"HEL\x00LO",
        b"IAMAT\x00 kiwi +34-118 1700000000",
    ]

    def test_invalid_lines_are_echoed_with_question_mark(self):
        c = self.node.client()
        try:
            self.assertAtLine(c.request(iamat("known")), client_id="known")
            for line in self.INVALID:
                with self.subTest(line=line):
                    try:
                        self.assertRejected(c, line)
                    except (herdtest.HerdError, OSError):
                        c.close()
                        c = self.node.client()
                        raise
        finally:
            c.close()

    def test_at_line_from_client_is_rejected_even_when_valid(self):
        with self.node.client() as c:
            reply = c.request(iamat("someone"))
            self.assertAtLine(reply)
            self.assertRejected(c, reply)

    def test_crlf_invalid_line_keeps_the_cr(self):
        with self.node.client() as c:
            c.send(b"BOGUS line\r\n")
            self.assertEqual(c.read_line(), b"? BOGUS line\r")

    def test_whatsat_unknown_then_known(self):
        with self.node.client() as c:
            self.assertRejected(c, b"WHATSAT later 10 5")
            at = c.request(iamat("later"))
            c.send(b"WHATSAT later 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), at, 5)


class TestWhatsat(ClientTestCase):

    def test_known_client_reply_structure(self):
        with self.node.client() as c:
            at = c.request(iamat("known", "+34.068930-118.445127"))
            for radius, bound in ((b"10", 5), (b"50", 20), (b"0.5", 1), (b"50.0", 3)):
                with self.subTest(radius=radius, bound=bound):
                    c.send(b"WHATSAT known " + radius + b" " + str(bound).encode() + b"\n")
                    self.assertWhatsatReply(read_whatsat_reply(c), at, bound)
            self.assertEqual(c.read_available(0.3), b"")

    def test_older_iamat_does_not_replace_newer(self):
        with self.node.client() as c:
            newer = c.request(iamat("ordered", "+10+10", "1700000200"))
            older = c.request(iamat("ordered", "+20+20", "1700000100"))
            # The reply describes the message itself, even when it is stale.
            self.assertAtLine(older, client_id="ordered", location="+20+20",
                              client_time="1700000100")
            c.send(b"WHATSAT ordered 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), newer, 5)

    def test_newer_iamat_replaces_older(self):
        with self.node.client() as c:
            c.request(iamat("moving", "+10+10", "1700000100"))
            newer = c.request(iamat("moving", "+20+20", "1700000100.000000001"))
            c.send(b"WHATSAT moving 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), newer, 5)

    def test_equal_times_greater_at_line_wins(self):
        with self.node.client() as c:
            a = c.request(iamat("tie", "+10+10", "1700000100"))
            b = c.request(iamat("tie", "+20+20", "1700000100"))
            c2 = c.request(iamat("tie", "+15+15", "1700000100"))
            c.send(b"WHATSAT tie 10 5\n")
            self.assertWhatsatReply(read_whatsat_reply(c), max(a, b, c2), 5)

    def test_pipelined_whatsat_holds_back_later_replies(self):
        with self.node.client() as c:
            at = c.request(iamat("pipe"))
            c.send(b"WHATSAT pipe 10 5\nBOGUS 1\n" + iamat("pipe2") + b"\nBOGUS 2\n")
            self.assertWhatsatReply(read_whatsat_reply(c), at, 5)
            self.assertEqual(c.read_line(), b"? BOGUS 1")
            self.assertAtLine(c.read_line(), client_id="pipe2")
            self.assertEqual(c.read_line(), b"? BOGUS 2")


class TestConnection(ClientTestCase):

    def test_pipelining_replies_in_order(self):
        lines, expected = [], []
        for i in range(200):
            if i % 3 == 0:
                lines.append(b"BOGUS %d" % i)
                expected.append(("?", b"? BOGUS %d" % i))
            else:
                t = "1700000000.%09d" % i
                lines.append(iamat("p%d" % i, "+1-1", t))
                expected.append(("AT", ("p%d" % i).encode(), t.encode()))
        with self.node.client() as c:
            c.send(b"\n".join(lines) + b"\n")
            replies = c.read_lines(len(lines), timeout=20)
            for got, want in zip(replies, expected):
                if want[0] == "?":
                    self.assertEqual(got, want[1])
                else:
                    self.assertAtLine(got, client_id=want[1], client_time=want[2])
            self.assertEqual(c.read_available(0.2), b"")

    def test_bytes_trickled_one_at_a_time(self):
        with self.node.client() as c:
            for b in iamat("slow", "+1-1", "1700000000.5") + b"\n":
                c.send(bytes([b]))
            self.assertAtLine(c.read_line(), client_id="slow", client_time="1700000000.5")

    def test_half_close_answers_everything_then_closes(self):
        with self.node.client() as c:
            c.send(iamat("hc1", "+1-1", "1700000000") + b"\nBOGUS\n"
                   + iamat("hc2", "+2-2", "1700000001"))
            c.shutdown_write()
            data = c.read_until_eof(timeout=10)
        lines = data.split(b"\n")
        self.assertEqual(lines[-1], b"", "reply does not end in LF: %r" % data)
        self.assertEqual(len(lines), 4, data)
        self.assertAtLine(lines[0], client_id="hc1")
        self.assertEqual(lines[1], b"? BOGUS")
        self.assertAtLine(lines[2], client_id="hc2", client_time="1700000001")

    def test_half_close_last_line_invalid_without_lf(self):
        with self.node.client() as c:
            c.send(b"BOGUS tail")
            c.shutdown_write()
            self.assertEqual(c.read_until_eof(timeout=10), b"? BOGUS tail\n")

    def test_half_close_with_pending_whatsat(self):
        with self.node.client() as c:
            at = c.request(iamat("hcw"))
            c.send(b"WHATSAT hcw 10 2")
            c.shutdown_write()
            data = c.read_until_eof(timeout=10)
        self.assertWhatsatReply(data, at, 2)

    def test_half_close_without_data(self):
        with self.node.client() as c:
            c.shutdown_write()
            self.assertEqual(c.read_until_eof(timeout=5), b"")

    def test_nothing_sent_unprompted(self):
        with self.node.client() as c:
            self.assertEqual(c.read_available(0.3), b"")
            self.assertFalse(c.eof)

    def test_two_clients_interleaving(self):
        a = self.node.client()
        b = self.node.client()
        try:
            a.send(b"IAMAT alpha +1")
            b.send(b"IAMAT beta +2-2 170000")
            a.send(b"0-1 1700000000")
            b.send(b"0001\n")
            self.assertAtLine(b.read_line(), client_id="beta", location="+2-2",
                              client_time="1700000001")
            self.assertEqual(a.read_available(0.2), b"")
            a.send(b".5\n")
            at_alpha = a.read_line()
            self.assertAtLine(at_alpha, client_id="alpha", location="+10-1",
                              client_time="1700000000.5")
            # Each sees what the other stored.
            b.send(b"WHATSAT alpha 1 1\n")
            self.assertWhatsatReply(read_whatsat_reply(b), at_alpha, 1)
            self.assertEqual(a.read_available(0.2), b"")
        finally:
            a.close()
            b.close()

    def test_many_connections(self):
        clients = [self.node.client() for _ in range(50)]
        try:
            for i, c in enumerate(clients):
                c.send(iamat("many%d" % i) + b"\n")
            for i, c in enumerate(clients):
                self.assertAtLine(c.read_line(), client_id="many%d" % i)
        finally:
            for c in clients:
                c.close()

    def test_client_closing_abruptly_does_not_hurt(self):
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.node.client_port))
            s.sendall(b"IAMAT gone +1-1 1700000000\nWHATSAT gone 10 5\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        self.assertAtLine(self.node.request(iamat("still-here")), client_id="still-here")
        self.assertTrue(self.node.running())


class TestListenBacklog(HerdTestCase):
    """Every listener queues as many connections as the kernel allows
    (net.core.somaxconn), not libevent's 128: a burst of connects must not overflow
    into SYN retries of a second or more."""

    def test_backlog_is_the_kernels_most(self):
        if not shutil.which("ss"):
            self.skipTest("ss (iproute2) is not installed")
        with open("/proc/sys/net/core/somaxconn") as f:
            want = int(f.read())
        node = self.start_node()
        for port in (node.client_port, node.peer_port, node.admin_port):
            out = subprocess.run(["ss", "-ltnH", "sport = :%d" % port], capture_output=True,
                                 text=True, check=True).stdout.split()
            # State Recv-Q Send-Q ...: for a listener, Send-Q is its backlog.
            self.assertEqual(int(out[2]), want, "port %d: %s" % (port, out))


class TestLongLines(ClientTestCase):

    def test_line_within_default_limit_is_answered(self):
        with self.node.client() as c:
            line = b"X" * 4000
            self.assertRejected(c, line)

    def test_over_long_line_closes_connection(self):
        other = self.node.client()
        try:
            with self.node.client() as c:
                try:
                    c.send(b"Y" * 20000)
                except OSError:
                    pass
                self.assertTrue(c.is_closed_by_peer(timeout=5),
                                "connection still open after 20000 bytes without LF")
            # The node keeps serving an old and a new connection.
            self.assertAtLine(other.request(iamat("other")), client_id="other")
            self.assertAtLine(self.node.request(iamat("newer")), client_id="newer")
        finally:
            other.close()
        line = self.node.wait_log(
            lambda l: re.search(r"long|max_line|limit|exceed|too", l, re.I) is not None)
        self.assertIsNotNone(line, "the log does not mention the over-long line")

    def test_over_long_line_sent_slowly_closes_connection(self):
        with self.node.client() as c:
            closed = False
            for _ in range(40):
                try:
                    c.send(b"Z" * 500)
                except OSError:
                    closed = True
                    break
                time.sleep(0.01)
            self.assertTrue(closed or c.is_closed_by_peer(timeout=5))

    def test_answers_before_the_long_line_are_sent(self):
        with self.node.client() as c:
            c.send(iamat("first", "+1-1", "1700000000") + b"\n")
            self.assertAtLine(c.read_line(), client_id="first")
            try:
                c.send(b"W" * 10000)
            except OSError:
                pass
            self.assertTrue(c.is_closed_by_peer(timeout=5))


    def read_to_close(self, client):
        """Everything the node sends before it closes (a reset ends it too)."""
        try:
            return client.read_until_eof()
        except ConnectionResetError:
            self.fail("the node reset the connection instead of closing it")

    def test_lines_read_with_a_long_line_are_answered_before_the_close(self):
        # The lines and the long one come in one read: their replies had been made and
        # logged as sent, then the close threw them away.
        for tail in (b"X" * 5000 + b"\n", b"X" * 5000):
            with self.subTest(newline=tail.endswith(b"\n")):
                with self.node.client() as c:
                    c.send(iamat("same-read", "+1-1", "1700000000") + b"\nbogus\n" + tail)
                    lines = self.read_to_close(c).split(b"\n")
                self.assertEqual(len(lines), 3, lines)
                self.assertAtLine(lines[0], client_id="same-read")
                self.assertEqual(lines[1:], [b"? bogus", b""])
        self.assertIsNotNone(self.node.wait_log(
            lambda l: "event=client_close" in l and 'reason="line too long"' in l))

    def test_pending_whatsat_is_answered_before_the_close(self):
        self.assertAtLine(self.node.request(iamat("pending", "+1-1", "1700000000")),
                          client_id="pending")
        with self.node.client() as c:
            c.send(b"WHATSAT pending 10 1\n" + b"X" * 5000)
            raw = self.read_to_close(c)
        self.assertTrue(raw.startswith(b"AT ") and raw.endswith(b"}\n\n"), raw[:200])

    def test_lines_waiting_behind_a_pause_are_not_a_long_line(self):
        # Behind a pending WHATSAT the replies pile up and reading pauses: the whole lines
        # not yet run (10 KB of them) were taken for one line over max_line and cut.
        self.assertAtLine(self.node.request(iamat("paused", "+1-1", "1700000000")),
                          client_id="paused")
        lines = [b"BOGUS%04d" % i for i in range(1000)]
        with self.node.client(timeout=20) as c:
            c.send(b"WHATSAT paused 10 1\n" + b"\n".join(lines) + b"\n")
            read_whatsat_reply(c, timeout=20)
            self.assertEqual(c.read_lines(len(lines), timeout=20), [b"? " + l for l in lines])
        self.assertNotIn("event=line_too_long", self.node.log())

    def test_a_client_still_sending_gets_every_reply(self):
        # The close came once the replies were in the kernel's hands: the bytes the
        # client still sent then made the kernel reset the connection, and the replies
        # not yet delivered went with it. Now it is shut for writing and read to its EOF.
        count = 150
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        c.connect((herdtest.HOST, self.node.client_port))
        got = b""
        try:
            c.sendall(b"".join(iamat("still%03d" % i, "+1-1", "1700000000") + b"\n"
                               for i in range(count)) + b"X" * 5000)
            time.sleep(1)
            c.sendall(b"Y" * 1000)
            c.settimeout(10)
            while True:
                data = c.recv(65536)
                if not data:
                    break
                got += data
        except ConnectionResetError:
            self.fail("reset after %d bytes of replies" % len(got))
        finally:
            c.close()
        self.assertEqual(got.count(b"\n"), count, got[-200:])

    def test_bytes_after_the_long_line_are_not_run(self):
        with self.node.client() as c:
            c.send(b"X" * 5000 + b"\n" + iamat("after-long", "+1-1", "1700000000") + b"\n")
            self.assertEqual(self.read_to_close(c), b"")
        with self.node.client() as c:
            self.assertRejected(c, b"WHATSAT after-long 10 1")


class TestHeldRepliesAndLongLines(HerdTestCase):
    """A reply held for the end of the pass (the IAMAT floods to a neighbour) is sent
    before the close that an over-long line in the same read brings."""

    def test_held_reply_is_sent(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start("Alford", "Parker")
        alford = herd["Alford"]
        self.assertIsNotNone(alford.wait_log(lambda l: "event=peer_up peer=Parker" in l,
                                             timeout=10), "Alford never linked to Parker")
        with alford.client() as c:
            c.send(iamat("held", "+1-1", "1700000000") + b"\n" + b"X" * 5000 + b"\n")
            try:
                raw = c.read_until_eof()
            except ConnectionResetError:
                self.fail("the node reset the connection instead of closing it")
        self.assertAtLine(raw.rstrip(b"\n"), client_id="held")
        self.assertTrue(raw.endswith(b"\n") and raw.count(b"\n") == 1, raw)


class TestSmallMaxLine(ClientTestCase):

    HERD_OPTIONS = {"max_line": 100}

    def test_max_line_from_config_is_honoured(self):
        with self.node.client() as c:
            # Below the limit whether or not the LF counts.
            self.assertRejected(c, b"S" * 99)
            self.assertAtLine(c.request(iamat("short")), client_id="short")
            try:
                c.send(b"T" * 101 + b"\n")
            except OSError:
                pass
            self.assertTrue(c.is_closed_by_peer(timeout=5),
                            "a 101-byte line was answered with max_line = 100")
        self.assertAtLine(self.node.request(iamat("next")), client_id="next")

    def test_limit_holds_before_a_newline_arrives(self):
        with self.node.client() as c:
            try:
                c.send(b"U" * 150)
            except OSError:
                pass
            self.assertTrue(c.is_closed_by_peer(timeout=5),
                            "150 bytes without LF kept the connection open (max_line = 100)")

    def test_limit_is_per_line_not_per_read(self):
        with self.node.client() as c:
            lines = [b"V%03d " % i + b"v" * 90 for i in range(20)]
            c.send(b"\n".join(lines) + b"\n")
            self.assertEqual(c.read_lines(len(lines)), [b"? " + l for l in lines])


class TestLog(ClientTestCase):

    def test_log_has_iamat_in_and_reply_out(self):
        cid = "logcheck-%d" % os.getpid()
        reply = self.node.request(iamat(cid))
        self.assertAtLine(reply)
        got_in = self.node.wait_log(lambda l: cid in l and "IAMAT" in l)
        self.assertIsNotNone(got_in, "no log line with %s and IAMAT" % cid)
        got_out = self.node.wait_log(lambda l: cid in l and "AT Alford" in l and l != got_in)
        self.assertIsNotNone(got_out, "no log line with the reply AT Alford ... %s" % cid)

    def test_log_lines_have_timestamp_and_fields(self):
        self.node.request(iamat("fmt"))
        self.node.request(b"BOGUS")
        self.assertIsNotNone(self.node.wait_log(lambda l: "BOGUS" in l))
        lines = [l for l in self.node.log_lines() if l.strip()]
        self.assertTrue(lines)
        for l in lines:
            fields = herdtest.log_fields(l)
            self.assertIn(fields["level"], ("fatal", "warn", "info", "debug"))
            self.assertEqual(fields["node"], "Alford")
            self.assertIn("event", fields)

    def test_connection_open_and_close_logged(self):
        port_line_count = len(self.node.log_lines())
        with self.node.client() as c:
            c.request(iamat("conn"))
        time.sleep(0.2)
        self.assertGreater(len(self.node.log_lines()), port_line_count + 2)


class TestSignals(ClientTestCase):

    def test_sighup_reopens_log(self):
        self.node.request(iamat("before-hup"))
        self.assertIsNotNone(self.node.wait_log(lambda l: "before-hup" in l))
        rotated = self.node.log_path + ".1"
        os.rename(self.node.log_path, rotated)
        self.node.signal(signal.SIGHUP)
        deadline = time.monotonic() + scaled(3)
        while not os.path.exists(self.node.log_path) and time.monotonic() < deadline:
            self.node.request(iamat("during-hup"))
            time.sleep(0.1)
        self.assertTrue(os.path.exists(self.node.log_path), "no new log file after SIGHUP")
        self.assertAtLine(self.node.request(iamat("after-hup")), client_id="after-hup")
        self.assertIsNotNone(self.node.wait_log(lambda l: "after-hup" in l),
                             "the new log file does not get new lines")
        with open(rotated, "rb") as f:
            self.assertNotIn(b"after-hup", f.read())
        self.assertTrue(self.node.running())

    def test_sigterm_exits_zero_promptly(self):
        idle = self.node.client()
        busy = self.node.client()
        try:
            busy.send(b"IAMAT half")
            start = time.monotonic()
            self.node.signal(signal.SIGTERM)
            rc = self.node.wait(timeout=3)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - start, scaled(3))
        finally:
            idle.close()
            busy.close()

    def test_sigint_exits_zero(self):
        self.node.signal(signal.SIGINT)
        self.assertEqual(self.node.wait(timeout=3), 0)


class TestCommandLine(HerdTestCase):

    def test_check_prints_configuration_ok(self):
        herd = self.make_herd(herdtest.DEFAULT_NODES, peers=herdtest.DEFAULT_PEERS)
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford", "-t"], cwd=herd.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK", r.stdout + r.stderr)

    def test_check_long_option(self):
        herd = self.make_herd(["Alford"])
        r = herdtest.run_herdd(["--config", herd.config_path, "--name", "Alford", "--check"],
                               cwd=herd.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK", r.stdout + r.stderr)

    def test_usage_errors_exit_2_before_any_file_is_read(self):
        # herdd(8) EXIT STATUS: 2 for a usage error, no -n among them. Without -n the
        # default configuration was read first: "cannot read", exit 1.
        for args in ([], ["-c", os.path.join(self.tmp, "none.conf")], ["-x"],
                     ["-n", "Alford", "extra"]):
            with self.subTest(args=args):
                r = herdtest.run_herdd(args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertNotIn("cannot read", r.stderr)

    def test_check_refuses_what_the_start_refuses(self):
        # -t said "configuration OK" for places_url ports the start then refused (the
        # unit's ExecStartPre passed, ExecStart failed and restarted for ever), and ports
        # 0 and "" became 443.
        for url in ("https://127.0.0.1:99999/x", "https://127.0.0.1:0/x",
                    "https://127.0.0.1:/x", "https://h%zz/x", "https://127.0.0.1:?x"):
            with self.subTest(url=url):
                herd = self.make_herd(["Alford"], herd_options={"places_url": url})
                for args in (["-t"], ["--list-nodes"], ["-n", "Alford"]):
                    r = herdtest.run_herdd(["-c", herd.config_path] + args, cwd=herd.dir)
                    self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                    self.assertIn("%s:3: places_url:" % herd.config_path, r.stderr)

    def test_list_nodes_prints_each_node_as_herdd_reads_it(self):
        path = os.path.join(self.tmp, "list.conf")
        ports = [herdtest.free_port() for _ in range(7)]
        with open(path, "w") as f:
            f.write("[herd]   ; the whole herd\n"
                    "places_url = https://127.0.0.1:1/x#frag ; '#' after no space stays\n"
                    "[node Alford]\n"
                    "listen = 127.0.0.1:%d   # client port\n"
                    "peer_listen = 127.0.0.1:%d\n"
                    "admin_listen = 127.0.0.1:%d\n"
                    "peers = Bolden\n"
                    "; [node Ghost]\n"
                    "[node Bolden]\n"
                    "listen = [::1]:%d\n"
                    "peer_listen = [::1]:%d\n"
                    "[node Hamilton]\n"
                    "listen = 127.0.0.1:%d\n"
                    "peer_listen = localhost:%d\n" % tuple(ports))
        r = herdtest.run_herdd(["-c", path, "--list-nodes"], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "Alford 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d Bolden" % tuple(ports[:3]),
            "Bolden [::1]:%d [::1]:%d - Alford" % (ports[3], ports[4]),
            "Hamilton 127.0.0.1:%d localhost:%d - -" % (ports[5], ports[6]),
        ])

    def test_list_nodes_of_a_broken_config_prints_errors_and_no_nodes(self):
        path = os.path.join(self.tmp, "broken.conf")
        with open(path, "w") as f:
            f.write("[herd]\n[node A]\nlisten = 127.0.0.1:%d\n" % herdtest.free_port())
        r = herdtest.run_herdd(["-c", path, "--list-nodes"], cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"(?m)^" + re.escape(path) + r":\d+: \S")

    def test_broken_config_lists_every_error(self):
        path = os.path.join(self.tmp, "broken.conf")
        text = [
            "[herd]",                                     # 1
            "max_line = 4096",                            # 2
            "no_such_key = 1",                            # 3
            "",                                           # 4
            "[node Alford]",                              # 5
            "listen = 127.0.0.1:%d" % herdtest.free_port(),  # 6
            "peer_listen = 127.0.0.1:%d" % herdtest.free_port(),  # 7
            "peers = Nobody",                             # 8
            "colour = blue",                              # 9
            "",                                           # 10
        ]
        with open(path, "w") as f:
            f.write("\n".join(text) + "\n")
        r = herdtest.run_herdd(["-c", path, "-n", "Alford"], cwd=self.tmp)
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        errors = re.findall(r"^" + re.escape(path) + r":(\d+): \S.*$", out, re.M)
        self.assertGreaterEqual(len(errors), 3, out)
        lines = {int(n) for n in errors}
        for want in (3, 8, 9):
            self.assertIn(want, lines, "no error for line %d in:\n%s" % (want, out))

    def test_broken_config_with_check_flag(self):
        path = os.path.join(self.tmp, "broken.conf")
        port = herdtest.free_port()
        with open(path, "w") as f:
            f.write("[herd]\n"
                    "[node A]\nlisten = 127.0.0.1:%d\npeer_listen = 127.0.0.1:%d\n"
                    "[node A]\nlisten = 127.0.0.1:%d\npeer_listen = 127.0.0.1:%d\n"
                    % (port, herdtest.free_port(), herdtest.free_port(), port))
        r = herdtest.run_herdd(["-c", path, "-n", "A", "-t"], cwd=self.tmp)
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertNotIn("configuration OK", out)
        self.assertRegex(out, r"(?m)^" + re.escape(path) + r":\d+: \S")

    def test_fatal_errors_log_level_fatal(self):
        herd = self.make_herd(["Alford"], herd_options={"secret_file": "empty.secret"})
        with open(os.path.join(herd.dir, "empty.secret"), "w"):
            pass
        node = herd["Alford"]
        node.start(wait=False)
        self.assertEqual(node.wait(), 1)
        self.assertRegex(node.log(), r"level=fatal node=Alford event=startup_failed")

    def test_every_missing_file_is_reported_at_its_line(self):
        """-n NAME -t, and a start, look at every file and folder the node would open: all
        that are missing or unusable are reported at once, each as FILE:LINE."""
        herd = self.make_herd(["Alford"], herd_options={
            "secret_file": "missing.secret", "places_key_file": "missing.key",
            "admin_token_file": "/", "places_ca_file": "missing-ca.pem",
            "log_dir": "no-such-logs", "state_dir": "no/such/state"})
        lines = herd.config_text().splitlines()

        def at(key):
            return [i + 1 for i, l in enumerate(lines) if l.startswith(key + " ")][0]
        d = herd.dir
        want = ["%s:%d: secret_file %s/missing.secret: no such file or folder"
                % (herd.config_path, at("secret_file"), d),
                "%s:%d: places_key_file %s/missing.key: no such file or folder"
                % (herd.config_path, at("places_key_file"), d),
                "%s:%d: admin_token_file /: not a regular file"
                % (herd.config_path, at("admin_token_file")),
                "%s:%d: places_ca_file %s/missing-ca.pem: no such file or folder"
                % (herd.config_path, at("places_ca_file"), d),
                "%s:%d: log_dir %s/no-such-logs: no such file or folder"
                % (herd.config_path, at("log_dir"), d),
                "%s:%d: state_dir %s/no/such/state: cannot be made here: its folder: no "
                "such file or folder" % (herd.config_path, at("state_dir"), d)]
        want.sort(key=lambda m: int(m.split(":")[1]))
        for args in (["-t"], []):
            r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford"] + args, cwd=d)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertEqual(r.stderr.splitlines(), want)
            self.assertNotIn("configuration OK", r.stdout)
        # Without -n, the file alone is checked, as before: the files are each node's.
        r = herdtest.run_herdd(["-c", herd.config_path, "-t"], cwd=d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # What the command line gives in their place is what is looked at: -l for log_dir
        # (not used then), --state-dir for state_dir, a folder to make (a trailing /).
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford", "-t", "-l",
                                os.path.join(d, "a.log"), "-s", d + "/new-state/"], cwd=d)
        self.assertEqual(r.stderr.splitlines(), [m for m in want if ": log_dir " not in m
                                                  and ": state_dir " not in m])
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Alford", "-t", "-s",
                                "/no/such/state"], cwd=d)
        self.assertIn("%s:0: --state-dir /no/such/state: cannot be made here: its folder: no "
                      "such file or folder" % herd.config_path, r.stderr.splitlines())
        # The admin token is read by the admin endpoint only: a node without one starts.
        path = os.path.join(d, "no-admin.conf")
        with open(path, "w") as f:
            f.write("[herd]\nadmin_token_file = missing.token\n[node B]\n"
                    "listen = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\n")
        r = herdtest.run_herdd(["-c", path, "-n", "B", "-t"], cwd=d)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "configuration OK"), r.stderr)

    def test_missing_config_file_fails(self):
        r = herdtest.run_herdd(["-c", os.path.join(self.tmp, "none.conf"), "-n", "Alford"],
                               cwd=self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("none.conf", r.stdout + r.stderr)

    def test_unknown_node_name_fails(self):
        herd = self.make_herd(["Alford"])
        r = herdtest.run_herdd(["-c", herd.config_path, "-n", "Nobody"], cwd=herd.dir)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Nobody", r.stdout + r.stderr)

    def test_missing_name_fails(self):
        herd = self.make_herd(["Alford"])
        r = herdtest.run_herdd(["-c", herd.config_path], cwd=herd.dir)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_version_and_help(self):
        r = herdtest.run_herdd(["-V"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"\d+\.\d+")
        r = herdtest.run_herdd(["-h"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("-c", r.stdout + r.stderr)

    def test_port_in_use_fails(self):
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", node.client_port))
            s.listen(1)
            node.start(wait=False)
            rc = node.wait(timeout=5)
        self.assertNotEqual(rc, 0)


class TestBackpressure(ClientTestCase):

    def test_client_that_does_not_read(self):
        """A client pipelining far more than it reads: the node keeps serving others,
        and the slow client either gets every reply in order or is disconnected."""
        count = 20000
        payload = b"".join(iamat("bp%d" % i, "+1-1", "1700000000") + b"\n"
                           for i in range(count))
        c = self.node.client(timeout=30)
        sender_error = []

        def send_all():
            try:
                c.sock.sendall(payload)
            except OSError as e:
                sender_error.append(e)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        try:
            time.sleep(1)
            self.assertAtLine(self.node.request(iamat("meanwhile"), timeout=2),
                              client_id="meanwhile")
            got = 0
            deadline = time.monotonic() + scaled(60)
            while got < count and time.monotonic() < deadline:
                try:
                    line = c.read_line(timeout=10)
                except herdtest.HerdError:
                    if c.eof:
                        break
                    raise
                self.assertAtLine(line, client_id="bp%d" % got)
                got += 1
            self.assertTrue(got == count or c.eof, "%d of %d replies" % (got, count))
            sender.join(10)
        finally:
            c.close()
        self.assertTrue(self.node.running())


class TestLogDestination(HerdTestCase):

    def test_log_to_stderr_without_log_file(self):
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        node.log_flag = False
        node.start()
        node.request(iamat("to-stderr"))
        deadline = time.monotonic() + scaled(3)
        while "to-stderr" not in node.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("to-stderr", node.stderr_text())

    def test_log_dir_gives_name_log(self):
        logs = os.path.join(self.tmp, "logdir")
        os.makedirs(logs)
        herd = self.make_herd(["Bolden"], herd_options={"log_dir": logs})
        node = herd["Bolden"]
        node.log_flag = False
        node.log_path = os.path.join(logs, "Bolden.log")
        node.start()
        node.request(iamat("in-log-dir"))
        self.assertIsNotNone(node.wait_log(lambda l: "in-log-dir" in l),
                             "nothing about the IAMAT in %s" % node.log_path)
        # It holds every client's place: nothing for others, no writing for the group.
        self.assertEqual(os.stat(node.log_path).st_mode & 0o037, 0,
                         oct(os.stat(node.log_path).st_mode))

    def test_verbose_flag_is_accepted(self):
        herd = self.make_herd(["Alford"])
        node = herd["Alford"]
        node.start(args=["-v", "-v"])
        self.assertAtLine(node.request(iamat("verbose")), client_id="verbose")


if __name__ == "__main__":
    herdtest.main()
