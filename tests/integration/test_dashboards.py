#!/usr/bin/python3
"""The dashboards of etc/: the Prometheus scrape configuration scrapes every admin
endpoint of etc/herd.conf's herd, labelled with its node, and every metric the Grafana
dashboard names (and every label it groups or names series by) is one a real node's
/metrics has. YAML through Debian's python3-yaml (./herd test installs it)."""
import json
import os
import re
import unittest
import urllib.request

import herdtest
from herdtest import HerdTestCase, run_herdd, wait_until

try:
    import yaml
except ImportError:   # reported by the test that needs it, not at import
    yaml = None

ETC = os.path.join(herdtest.REPO_ROOT, "etc")
METRIC = re.compile(r"\b(herd_[a-z0-9_]+)\b")
BY = re.compile(r"\bby\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s")
# Labels the scrape configuration adds to every series, and Prometheus's own.
TARGET_LABELS = {"node", "job", "herd", "instance"}


def metrics_of(text):
    """{sample name: set of label names} of a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m is None or line.startswith("#"):
            continue
        labels = found.setdefault(m.group(1), set())
        for pair in (m.group(2) or "").split(","):
            if "=" in pair:
                labels.add(pair.split("=", 1)[0].strip())
    return found


def exprs_of(dashboard):
    """(where, PromQL) of every panel target and templating query of DASHBOARD."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append(("panel %r" % panel["title"], target["expr"], target.get("legendFormat",
                                                                              "")))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            out.append(("variable %r" % var["name"], query["query"], ""))
    return out


class DashboardTest(HerdTestCase):
    def setUp(self):
        if yaml is None:
            self.fail("python3-yaml is not installed (./herd test installs it): "
                      "apt-get install python3-yaml")
        with open(os.path.join(ETC, "grafana", "herd.json")) as f:
            self.dashboard = json.load(f)
        with open(os.path.join(ETC, "prometheus", "herd.yml")) as f:
            self.prometheus = yaml.safe_load(f)

    def test_prometheus_scrapes_every_node_of_the_default_herd(self):
        listed = run_herdd(["-c", os.path.join(ETC, "herd.conf"), "--list-nodes"])
        self.assertEqual(listed.returncode, 0, listed.stderr)
        want = {}
        for line in listed.stdout.splitlines():
            name, _, _, admin, _ = line.split()
            want[admin] = name
        self.assertEqual(len(want), 5)
        jobs = [j for j in self.prometheus["scrape_configs"] if j["job_name"] == "herd"]
        self.assertEqual(len(jobs), 1)
        job = jobs[0]
        self.assertEqual(job["metrics_path"], "/metrics")
        self.assertLess(float(job["scrape_timeout"].rstrip("s")),
                        float(job["scrape_interval"].rstrip("s")))
        got = {}
        for group in job["static_configs"]:
            for target in group["targets"]:
                got[target] = group["labels"]["node"]
        self.assertEqual(got, want)

    def test_dashboard_has_the_panels_operators_watch(self):
        panels = {p["title"]: p for p in self.dashboard["panels"]}
        for title in ("Commands/s", "Flooded records/s", "Peer links up", "Peer links",
                      "Places latency", "Clients"):
            self.assertIn(title, panels)
        self.assertEqual(panels["Places latency"]["type"], "heatmap")
        self.assertIn("_bucket", panels["Places latency"]["targets"][0]["expr"])
        ids = [p["id"] for p in self.dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        for where, expr, _ in exprs_of(self.dashboard):
            self.assertEqual(expr.count("("), expr.count(")"), where)
            self.assertEqual(expr.count("{"), expr.count("}"), where)

    def test_every_metric_and_label_named_exists(self):
        herd = self.make_herd(["Alford", "Parker"], peers={"Alford": "Parker"})
        herd.start()
        alford = herd["Alford"]
        url = "http://%s:%d/metrics" % (herdtest.HOST, alford.admin_port)

        def scrape():
            with urllib.request.urlopen(url, timeout=herdtest.scaled(5)) as r:
                return metrics_of(r.read().decode("utf-8"))
        wait_until(lambda: 'herd_peer_up' in scrape(), timeout=herdtest.scaled(5),
                   what="per-peer metrics")
        exposed = scrape()
        named = 0
        for where, expr, legend in exprs_of(self.dashboard):
            metrics = set(METRIC.findall(expr))
            for metric in metrics:
                self.assertIn(metric, exposed, "%s names %s, which /metrics lacks"
                              % (where, metric))
                named += 1
            labels = set(LEGEND_LABEL.findall(legend))
            for group in BY.findall(expr):
                labels |= {name.strip() for name in group.split(",") if name.strip()}
            for label in labels - TARGET_LABELS:
                self.assertTrue(any(label in exposed.get(m, ()) for m in metrics),
                                "%s groups by %r, which none of %s has" % (where, label,
                                                                         sorted(metrics)))
        self.assertGreater(named, 10)


if __name__ == "__main__":
    unittest.main()
