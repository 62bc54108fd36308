#!/usr/bin/python3
"""The status page (GET /) in a real browser: headless Chromium loads it from a node of
the five-node herd, its DOM has one SVG node per herd node and one edge per link, in the
states /herd reports, whole and with Parker dead; screenshots go to the test log folder
(HERD_TEST_LOG_DIR, meson's meson-logs). With an admin token the page loads with Basic
credentials and never shows the token."""
import html.parser
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import herdtest
from herdtest import HerdTestCase, wait_until
from test_herdview import FAST, LINKS, herd_of, is_whole, links_by_pair, nodes_by_name

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "status-page-token-3f9a1c"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PageParser(html.parser.HTMLParser):
    """The graph's nodes and links, the table's rows, and whether any script is there."""

    def __init__(self):
        super().__init__()
        self.nodes, self.links, self.rows, self.scripts = {}, {}, [], 0
        self.svg = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            self.svg += 1
        elif tag == "g" and "node" in classes:
            self.nodes[a["data-node"]] = (a["data-state"], "node-self" in classes)
        elif tag == "line" and "link" in classes:
            self.links[(a["data-a"], a["data-b"])] = a["data-state"]
        elif tag == "tr" and "data-node" in a:
            self.rows.append(a["data-node"])
        elif tag == "script":
            self.scripts += 1


def log_dir():
    path = os.environ.get("HERD_TEST_LOG_DIR") or os.path.join(tempfile.gettempdir(),
                                                               "herd-test-logs")
    os.makedirs(path, exist_ok=True)
    return path


class StatusPageTest(HerdTestCase):
    def setUp(self):
        if not os.access(CHROMIUM, os.X_OK):
            self.fail("chromium is not installed (./herd test installs it): "
                      "apt-get install chromium")

    def chromium(self, url, *args):
        """Runs headless Chromium on URL with ARGS; its stdout."""
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                "--user-data-dir=" + profile] + list(args) + [url]
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=herdtest.scaled(60))
        if done.returncode != 0:
            raise AssertionError("chromium failed (%d): %s" % (done.returncode,
                                                              done.stderr.decode()[-2000:]))
        return done.stdout

    def dom(self, node, credentials=""):
        url = "http://%s%s:%d/" % (credentials, herdtest.HOST, node.admin_port)
        page = PageParser()
        text = self.chromium(url, "--dump-dom").decode("utf-8")
        page.feed(text)
        return page, text

    def screenshot(self, node, name):
        path = os.path.join(log_dir(), name)
        if os.path.exists(path):
            os.unlink(path)
        self.chromium("http://%s:%d/" % (herdtest.HOST, node.admin_port),
                      "--window-size=1500,1000", "--screenshot=" + path)
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(PNG_MAGIC), path)
        self.assertGreater(len(data), 10000, path)
        return path

    def assertPageIs(self, page, view):
        """The DOM draws VIEW (a /herd answer): every node and link, in its state."""
        self.assertEqual(page.svg, 1)
        self.assertEqual(page.scripts, 0)
        want_nodes = {}
        for n in view["nodes"]:
            state = ("reachable" if n["reachable"] else
                     "unreachable" if n["report"] is not None else "unknown")
            want_nodes[n["name"]] = (state, n["self"])
        self.assertEqual(page.nodes, want_nodes)
        self.assertEqual(page.links, {pair: link["state"]
                                      for pair, link in links_by_pair(view).items()})
        self.assertEqual(page.rows, [n["name"] for n in view["nodes"]])

    def stable_page(self, node):
        """The page's DOM with /herd the same just before and just after it was loaded."""
        def attempt():
            before = herd_of(node)
            page, _ = self.dom(node)
            after = herd_of(node)
            same = (links_by_pair(before) == links_by_pair(after) and
                    [(n["reachable"], n["fresh"]) for n in before["nodes"]] ==
                    [(n["reachable"], n["fresh"]) for n in after["nodes"]])
            return (page, after) if same else None
        return wait_until(attempt, timeout=herdtest.scaled(30), what="a steady view",
                          interval=0.2)

    def test_page_draws_the_herd_whole_and_cut(self):
        herd = self.make_herd(peers=herdtest.DEFAULT_PEERS, herd_options=FAST)
        herd.start()
        hamilton, alford = herd["Hamilton"], herd["Alford"]
        wait_until(lambda: is_whole(herd_of(hamilton)), timeout=herdtest.scaled(10),
                   what="the herd whole at Hamilton")
        page, view = self.stable_page(hamilton)
        self.assertEqual(len(page.nodes), 5)
        self.assertEqual(set(page.links), LINKS)
        self.assertEqual(set(page.links.values()), {"up"})
        self.assertEqual(page.nodes["Hamilton"], ("reachable", True))
        self.assertPageIs(page, view)
        self.screenshot(hamilton, "status_page_whole.png")

        herd["Parker"].kill()
        wait_until(lambda: not nodes_by_name(herd_of(alford))["Parker"]["fresh"] and
                   not nodes_by_name(herd_of(alford))["Hamilton"]["fresh"],
                   timeout=herdtest.scaled(10), what="Parker and Hamilton stale at Alford")
        page, view = self.stable_page(alford)
        self.assertPageIs(page, view)
        self.assertEqual(page.nodes["Parker"], ("unreachable", False))
        self.assertEqual(page.nodes["Hamilton"], ("unreachable", False))
        self.assertEqual(page.nodes["Bolden"], ("reachable", False))
        self.assertEqual(page.links[("Alford", "Powell")], "up")
        self.assertEqual(page.links[("Alford", "Parker")], "down")
        self.assertEqual(page.links[("Hamilton", "Parker")], "unknown")
        self.screenshot(alford, "status_page_parker_down.png")
        page, view = self.stable_page(hamilton)
        self.assertPageIs(page, view)
        self.assertEqual(page.nodes["Hamilton"], ("reachable", True))
        self.assertEqual([n for n, s in page.nodes.items() if s[0] == "reachable"],
                         ["Hamilton"])

    def test_page_with_a_token_never_shows_it(self):
        token_path = os.path.join(self.tmp, "admin.token")
        with open(token_path, "w") as f:
            f.write(TOKEN + "\n")
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"},
                              herd_options=dict(FAST, admin_token_file=token_path))
        herd.start()
        alford = herd["Alford"]
        url = "http://%s:%d/" % (herdtest.HOST, alford.admin_port)
        try:
            urllib.request.urlopen(url, timeout=herdtest.scaled(5))
            self.fail("the page answered without the token")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 401)
            self.assertIn('Basic realm="herd", charset="UTF-8"',
                          e.headers.get_all("WWW-Authenticate"))
        request = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(request, timeout=herdtest.scaled(5)) as r:
            body = r.read().decode("utf-8")
            self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
            self.assertIn("default-src 'none'", r.headers["Content-Security-Policy"])
        self.assertIn("<svg", body)
        self.assertNotIn(TOKEN, body)
        # A browser sends the token as the password of Basic credentials, on every refresh.
        wait_until(lambda: "data-state=\"up\"" in self.dom(alford, "herd:%s@" % TOKEN)[1],
                   timeout=herdtest.scaled(15), what="the link up on the page")
        page, text = self.dom(alford, "herd:%s@" % TOKEN)
        self.assertEqual(set(page.nodes), {"Alford", "Parker"})
        self.assertEqual(page.links, {("Alford", "Parker"): "up"})
        self.assertNotIn(TOKEN, text)
        self.assertNotIn(TOKEN, alford.log())
        # Without credentials the browser gets no page.
        page, text = self.dom(alford)
        self.assertEqual(page.nodes, {})


if __name__ == "__main__":
    unittest.main()
