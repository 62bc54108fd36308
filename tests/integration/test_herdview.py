#!/usr/bin/python3
"""Link state (README "Link state"): /herd on the five-node herd, whole, cut by a dead
node, and whole again; reports flooded over the peer links and refused when bad."""
import signal
import time
import unittest

import herdpeer
import herdtest
from herdtest import HerdTestCase, wait_until

# Reports every second, stale after three: quick enough for tests, two lost reports.
FAST = {"linkstate_interval": 1, "linkstate_max_age": 3, "peer_backoff_max": 1}
LINKS = {("Alford", "Parker"), ("Alford", "Powell"), ("Bolden", "Parker"),
         ("Bolden", "Powell"), ("Hamilton", "Parker")}


def herd_of(node):
    status, body = node.admin("/herd")
    if status != 200:
        raise AssertionError("/herd answered %d: %r" % (status, body))
    return body


def nodes_by_name(view):
    return {n["name"]: n for n in view["nodes"]}


def links_by_pair(view):
    return {tuple(link["nodes"]): link for link in view["links"]}


def is_whole(view):
    return (view["whole"] and len(view["reachable"]) == 5 and
            all(link["state"] == "up" for link in view["links"]))


class HerdViewTest(HerdTestCase):
    def start_herd(self, options=None):
        herd = self.make_herd(peers=herdtest.DEFAULT_PEERS,
                              herd_options=dict(FAST, **(options or {})))
        herd.start()
        return herd

    def test_whole_herd_then_parker_dies_and_comes_back(self):
        herd = self.start_herd()
        hamilton, alford = herd["Hamilton"], herd["Alford"]
        view = wait_until(lambda: (lambda v: v if is_whole(v) else None)(herd_of(hamilton)),
                          timeout=herdtest.scaled(10), what="Hamilton to see the herd whole")
        self.assertEqual(view["node"], "Hamilton")
        self.assertEqual([n["name"] for n in view["nodes"]], list(herdtest.DEFAULT_NODES))
        self.assertEqual(set(links_by_pair(view)), LINKS)
        self.assertEqual(view["partitions"], [list(herdtest.DEFAULT_NODES)])
        for name, node in nodes_by_name(view).items():
            self.assertTrue(node["reachable"] and node["fresh"], node)
            self.assertEqual(node["self"], name == "Hamilton")
            self.assertEqual(node["report"]["version"], herd_of(alford)["nodes"][0]
                             ["report"]["version"])
        for pair, link in links_by_pair(view).items():
            self.assertEqual(link["views"], {pair[0]: "up", pair[1]: "up"}, link)
        # Counters travel with the reports: an IAMAT at Powell shows in Hamilton's view.
        herd["Powell"].request(herdtest.iamat(b"kiwi.cs.ucla.edu"))
        wait_until(lambda: nodes_by_name(herd_of(hamilton))["Powell"]["report"]
                   ["commands"]["IAMAT"] == 1, timeout=herdtest.scaled(5),
                   what="Powell's IAMAT count at Hamilton")
        self.assertEqual(nodes_by_name(herd_of(hamilton))["Powell"]["report"]["clients"], 1)

        herd["Parker"].kill()
        # Hamilton's one link was to Parker: it sees itself alone at once.
        cut = wait_until(lambda: (lambda v: v if v["reachable"] == ["Hamilton"] else None)(
            herd_of(hamilton)), timeout=herdtest.scaled(3), what="Hamilton cut off")
        self.assertFalse(cut["whole"])
        self.assertEqual(cut["partitions"][0], ["Hamilton"])
        self.assertEqual(links_by_pair(cut)[("Hamilton", "Parker")]["views"]["Hamilton"],
                         "down")
        seen = wait_until(lambda: (lambda v: v if sorted(v["reachable"]) ==
                                   ["Alford", "Bolden", "Powell"] else None)(herd_of(alford)),
                          timeout=herdtest.scaled(3), what="Alford to lose Parker and Hamilton")
        by_name = nodes_by_name(seen)
        self.assertFalse(by_name["Parker"]["reachable"])
        self.assertFalse(by_name["Hamilton"]["reachable"])
        self.assertIsNotNone(by_name["Parker"]["last_heard"])
        # Unheard of for longer than the ageing time, they are stale.
        aged = wait_until(lambda: (lambda v: v if not nodes_by_name(v)["Parker"]["fresh"] and
                                   not nodes_by_name(v)["Hamilton"]["fresh"] else None)(
            herd_of(alford)), timeout=herdtest.scaled(8), what="Parker and Hamilton to age out")
        parker = nodes_by_name(aged)["Parker"]
        self.assertGreaterEqual(parker["age_seconds"], 3)
        self.assertEqual(parker["last_heard"], by_name["Parker"]["last_heard"])
        self.assertEqual(links_by_pair(aged)[("Hamilton", "Parker")]["state"], "unknown")
        self.assertEqual(links_by_pair(aged)[("Alford", "Parker")]["state"], "down")
        # Unheard of, they are in no partition: Alford cannot tell where they are.
        self.assertEqual(aged["partitions"], [["Alford", "Bolden", "Powell"]])
        self.assertEqual(aged["unheard"], ["Hamilton", "Parker"])
        self.assertIsNone(parker["partition"])

        herd["Parker"].start()
        for node in (hamilton, alford):
            wait_until(lambda: is_whole(herd_of(node)), timeout=herdtest.scaled(10),
                       what="%s to see the herd whole again" % node.name)
        self.assertEqual(herd_of(hamilton)["partitions"], [list(herdtest.DEFAULT_NODES)])

    def test_reports_are_counted_and_stale_ones_dropped(self):
        herd = self.start_herd()
        wait_until(lambda: is_whole(herd_of(herd["Hamilton"])), timeout=herdtest.scaled(10),
                   what="the herd whole")
        stats = herd["Powell"].stats()["linkstate"]
        self.assertGreater(stats["sent"], 0)
        self.assertGreater(stats["stored"], 0)
        # Powell hears most reports twice (from Alford and from Bolden); one copy is stale.
        self.assertGreater(stats["stale"], 0)
        self.assertEqual(stats["refused"], 0)
        metrics = urllib_text(herd["Powell"], "/metrics")
        self.assertIn('herd_linkstate_reports_total{kind="stored"}', metrics)


    def test_a_dead_neighbour_redialled_is_no_news(self):
        """Dials to neighbours that are down (connecting, down, connecting...) send no
        reports; only the interval and links going up or down do."""
        herd = self.make_herd(["Alford", "Bolden", "Hamilton", "Parker"],
                              peers={"Alford": ("Bolden", "Hamilton", "Parker")},
                              herd_options={"linkstate_interval": 2, "linkstate_max_age": 6,
                                            "peer_backoff_max": 1})
        herd.start("Alford", "Parker")
        alford = herd["Alford"]
        wait_until(lambda: nodes_by_name(herd_of(alford))["Parker"]["reachable"],
                   timeout=herdtest.scaled(5), what="Alford to reach Parker")
        before = alford.stats()["linkstate"]["sent"]
        time.sleep(6)
        sent = alford.stats()["linkstate"]["sent"] - before
        # Three from the interval (one more at most if the clock lands on the edge);
        # a report per dial would be dozens.
        self.assertLessEqual(sent, 4, "Alford sent %d reports in 6 s" % sent)
        self.assertGreaterEqual(sent, 2)

    def test_reload_changes_the_interval_at_once(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options={"linkstate_interval": 60,
                                            "linkstate_max_age": 120})
        herd.start()
        alford = herd["Alford"]
        wait_until(lambda: nodes_by_name(herd_of(alford))["Parker"]["reachable"],
                   timeout=herdtest.scaled(5), what="Alford to reach Parker")
        herd.options.update(linkstate_interval="1", linkstate_max_age="3")
        herd.write_config()
        before = len(alford.log_lines())
        alford.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any("event=reloaded" in line for line in alford.log_lines()[before:]),
                   timeout=herdtest.scaled(5), what="Alford's reload")
        sent = alford.stats()["linkstate"]["sent"]
        wait_until(lambda: alford.stats()["linkstate"]["sent"] >= sent + 3,
                   timeout=herdtest.scaled(4.5), what="a report every second after the reload")
        self.assertEqual(herd_of(alford)["report_interval_seconds"], 1)


class HerdViewPeerTest(herdpeer.HerdCase):
    """Reports from a fake neighbour speaking the wire format (plaintext links)."""

    def test_bad_and_foreign_reports_are_refused_and_the_link_stays(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options=FAST)
        alford = self.start_for_fakes(herd, "Alford")
        fake = herdpeer.FakePeer.connect(alford.peer_port, "Parker", herdpeer.herd_secret(herd))
        self.addCleanup(fake.close)
        self.assertTrue(fake.handshake())
        # Alford's own report comes first, then its sync.
        mine = fake.read_until(lambda line: line.startswith(b"LSA "))
        self.assertIsNotNone(mine)
        self.assertTrue(mine.startswith(b"LSA Alford "), mine)
        self.assertIn(b" links=Parker:up", mine)
        fake.send_line(b"LSA Parker 1 1 version=9.9 links=Alford:up,Alford:down")
        fake.send_line(b"LSA Nobody 1 1 version=9.9 links=")
        fake.send_line(b"LSA Parker 5 7 version=9.9 clients=42 links=Alford:up future=1")
        wait_until(lambda: nodes_by_name(herd_of(alford))["Parker"]["report"] is not None,
                   timeout=herdtest.scaled(5), what="Parker's report at Alford")
        view = herd_of(alford)
        parker = nodes_by_name(view)["Parker"]
        self.assertEqual(parker["report"]["clients"], 42)
        self.assertEqual(parker["report"]["seq"], 7)
        self.assertEqual(parker["report"]["version"], "9.9")
        self.assertEqual(view["reachable"], ["Alford", "Parker"])
        self.assertTrue(view["whole"])
        # An older report of the same boot does not replace the newer one.
        fake.send_line(b"LSA Parker 5 6 version=9.9 clients=1 links=Alford:up")
        fake.send_line(b"PING")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"PONG"))
        self.assertEqual(nodes_by_name(herd_of(alford))["Parker"]["report"]["clients"], 42)
        stats = alford.stats()["linkstate"]
        self.assertEqual(stats["refused"], 2)
        self.assertEqual(stats["stale"], 1)
        log = alford.log()
        self.assertIn("event=peer_report_refused", log)
        self.assertIn("a link is named twice", log)
        self.assertIn("not a node of the herd", log)
        self.assertFalse(fake.closed_by_node(timeout=0.5))
        # A boot further ahead than max_clock_skew would outrank every true report.
        fake.send_line(b"LSA Parker 99999999999999999 1 version=9.9 clients=7 links=Alford:up")
        fake.send_line(b"PING")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"PONG"))
        self.assertEqual(alford.stats()["linkstate"]["refused"], 3)
        self.assertIn("BOOT is more than max_clock_skew ahead", alford.log())
        # The fake's links stop being believed once it is silent for the ageing time.
        wait_until(lambda: not nodes_by_name(herd_of(alford))["Parker"]["fresh"],
                   timeout=herdtest.scaled(6), what="Parker's report to age out")


class ForgedReportTest(herdpeer.HerdCase):
    """A neighbour that forges reports of other nodes: each node outdoes a report of
    itself newer than its own, so a forgery lasts one round trip."""

    def test_a_forged_report_is_outdone_by_its_node(self):
        alford, powell, fake = self.forging_pair()
        boot = (time.time_ns() // 1000) + 1000000
        fake.send_line(b"LSA Powell %d 1 version=evil clients=12345 links=Alford:down" % boot)
        # Alford passes it on to Powell, which answers with a newer report of its own.
        wait_until(lambda: powell.stats()["linkstate"]["own_newer"] == 1,
                   timeout=herdtest.scaled(5), what="Powell to see the forgery")
        self.assertIn("event=linkstate_own_report_newer", powell.log())
        report = wait_until(lambda: (lambda r: r if r["version"] != "evil" else None)(
            nodes_by_name(herd_of(alford))["Powell"]["report"]), timeout=herdtest.scaled(5),
            what="Powell's true report back at Alford")
        self.assertGreaterEqual(report["seq"], 2)
        self.assertEqual(report["links"], [{"peer": "Alford", "state": "up"}])
        self.assertTrue(nodes_by_name(herd_of(alford))["Powell"]["reachable"])
        # The fake sees it too: the newer report has the forged boot and a later number.
        line = fake.read_until(lambda l: l.startswith(b"LSA Powell %d " % boot) and
                               b"version=evil" not in l)
        self.assertIsNotNone(line)

    def forging_pair(self):
        """Alford linked to Powell and to a fake Parker: (alford, powell, fake)."""
        herd = self.make_herd(["Alford", "Parker", "Powell"],
                              peers={"Alford": ("Parker", "Powell")}, herd_options=FAST)
        alford = self.start_for_fakes(herd, "Alford")
        powell = herd.start("Powell")
        wait_until(lambda: nodes_by_name(herd_of(alford))["Powell"]["reachable"],
                   timeout=herdtest.scaled(5), what="Alford to reach Powell")
        fake = herdpeer.FakePeer.connect(alford.peer_port, "Parker", herdpeer.herd_secret(herd))
        self.addCleanup(fake.close)
        self.assertTrue(fake.handshake())
        return alford, powell, fake

    def test_a_sequence_number_past_the_limit_cannot_silence_a_node(self):
        alford, powell, fake = self.forging_pair()
        boot = (time.time_ns() // 1000) + 1000000
        # Outdone, this would have Powell count past 19 digits, which no node reads.
        fake.send_line(b"LSA Powell %d 9999999999999999999 version=evil links=" % boot)
        fake.send_line(b"PING")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"PONG"))
        self.assertIn("SEQ is over 10^18", alford.log())
        # At the limit itself: Powell outdoes it with a new boot, and is heard on.
        fake.send_line(b"LSA Powell %d 1000000000000000000 version=evil links=" % boot)
        line = fake.read_until(lambda l: l.startswith(b"LSA Powell ") and
                               b"version=evil" not in l and int(l.split()[2]) > boot,
                               timeout=herdtest.scaled(5))
        self.assertIsNotNone(line)
        self.assertLess(int(line.split()[3]), 10)
        time.sleep(herdtest.scaled(FAST["linkstate_max_age"] + 1))
        powell_there = nodes_by_name(herd_of(alford))["Powell"]
        self.assertTrue(powell_there["fresh"], powell_there)
        self.assertNotEqual(powell_there["report"]["version"], "evil")
        self.assertEqual(powell.stats()["linkstate"]["own_newer"], 1)

    def test_a_stream_of_forged_reports_of_a_node_is_one_report_a_hold_down(self):
        alford, powell, fake = self.forging_pair()
        before = alford.stats()["linkstate"]["sent"]
        started = time.monotonic()
        boot = (time.time_ns() // 1000) + 1000000
        fake.sock.sendall(b"".join(b"LSA Alford %d %d version=evil links=\n" % (boot, n)
                                   for n in range(1, 501)))
        fake.send_line(b"PING")
        self.assertIsNotNone(fake.read_until(lambda line: line == b"PONG"))
        time.sleep(0.5)
        stats = alford.stats()["linkstate"]
        self.assertEqual(stats["own_newer"], 500)
        seconds = time.monotonic() - started
        # One report every 200 ms at most, and the interval's, not one for each forgery.
        self.assertLessEqual(stats["sent"] - before, seconds / 0.2 + seconds + 3)
        notes = [line for line in alford.log_lines()
                 if "event=linkstate_own_report_newer" in line]
        self.assertLessEqual(len(notes), 11, notes[-3:])


class AgeingTest(HerdTestCase):
    """A dead node's last report, handed to each neighbour that restarts, stays as old
    as it is: it is not heard of anew wherever it goes."""

    def test_a_dead_node_stays_unheard_while_others_restart(self):
        options = {"linkstate_interval": 1, "linkstate_max_age": 4, "peer_backoff_max": 1}
        herd = self.make_herd(["Alford", "Bolden", "Parker", "Hamilton"],
                              peers={"Alford": ("Bolden", "Hamilton"), "Bolden": "Parker"},
                              herd_options=options)
        herd.start()
        alford = herd["Alford"]
        wait_until(lambda: all(n["fresh"] for n in herd_of(alford)["nodes"]),
                   timeout=herdtest.scaled(10), what="Alford to hear every node")
        herd["Hamilton"].kill()
        killed = time.monotonic()
        # Parker, restarted, hears Hamilton's last report from Bolden's greeting; then
        # Bolden, restarted, would hear it from Parker's and hand it back to Alford.
        time.sleep(2)
        herd["Parker"].kill()
        herd["Parker"].start()
        wait_until(lambda: nodes_by_name(herd_of(herd["Parker"]))["Bolden"]["reachable"],
                   timeout=herdtest.scaled(5), what="Parker to link again")
        time.sleep(max(0.0, killed + 4.5 - time.monotonic()))
        herd["Bolden"].kill()
        herd["Bolden"].start()
        wait_until(lambda: nodes_by_name(herd_of(alford))["Bolden"]["reachable"] and
                   nodes_by_name(herd_of(herd["Bolden"]))["Parker"]["reachable"],
                   timeout=herdtest.scaled(5), what="Bolden to link again")
        time.sleep(1)
        view = herd_of(alford)
        self.assertFalse(nodes_by_name(view)["Hamilton"]["fresh"], view)
        self.assertIn("Hamilton", view["unheard"])
        self.assertEqual(links_by_pair(view)[("Alford", "Hamilton")]["state"], "down")


def urllib_text(node, path):
    import urllib.request
    url = "http://%s:%d%s" % (herdtest.HOST, node.admin_port, path)
    with urllib.request.urlopen(url, timeout=herdtest.scaled(5)) as r:
        return r.read().decode("utf-8")


if __name__ == "__main__":
    unittest.main()
