"""How the cost of flooding and of link-up sync grows with the herd (README "Design:
the herd at scale"). A small simulation of the protocol as herdd runs it: a record
newer than what a node holds is stored and sent to every neighbour but the one it came
from; an older or equal one stops. It floods one update from every node of each
topology, counts the messages and the hops, and checks the counts against the closed
form (every node sends to all its neighbours but one, the origin to all: 2L - N + 1
messages for N nodes and L links). Sync costs use the figures measured on this
machine (tests/bench/README.md): an AT line of about RECORD bytes, a digest walk of
about WALK_PER_DIFF bytes per differing record, one hop of about HOP_US.

  /usr/bin/python3 tests/bench/herd_scale.py [--check]

--check (the unit suite runs it so) only verifies the simulation against the closed form.
"""

import collections
import random
import sys

RECORD = 104            # "SYNC " + a typical AT line + LF, bytes (bench_resync)
WALK_PER_DIFF = 357     # digest walk bytes per differing record at 1M clients (bench_resync)
HOP_US = 40             # one hop on loopback, node logs' timestamps (bench_flood_latency)
CLIENTS = 1000000
MOVED = 10000


def default_herd():
    names = ["Alford", "Bolden", "Hamilton", "Parker", "Powell"]
    links = [("Alford", "Parker"), ("Alford", "Powell"), ("Bolden", "Parker"),
             ("Bolden", "Powell"), ("Hamilton", "Parker")]
    index = dict((n, i) for i, n in enumerate(names))
    return len(names), [(index[a], index[b]) for a, b in links]


def ring(n):
    return n, [(i, (i + 1) % n) for i in range(n)] if n > 2 else [(0, 1)]


def tree(n):
    """A binary tree: node i's parent is (i - 1) // 2."""
    return n, [((i - 1) // 2, i) for i in range(1, n)]


def mesh(n):
    return n, [(i, j) for i in range(n) for j in range(i + 1, n)]


def random_regular(n, k, seed=1):
    """A ring plus random chords until every node has about K links: connected, sparse."""
    rng = random.Random(seed)
    links = set(ring(n)[1])
    degree = collections.Counter()
    for a, b in links:
        degree[a] += 1
        degree[b] += 1
    tries = 0
    while min(degree[i] for i in range(n)) < k and tries < 100 * n * k:
        tries += 1
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b and (a, b) not in links and (b, a) not in links and degree[a] < k + 1 \
                and degree[b] < k + 1:
            links.add((a, b))
            degree[a] += 1
            degree[b] += 1
    return n, sorted(links)


def neighbours(n, links):
    adj = [[] for _ in range(n)]
    for a, b in links:
        adj[a].append(b)
        adj[b].append(a)
    return adj


def flood(adj, origin):
    """(messages sent, hops until the last node holds it) for one update from ORIGIN, in
    rounds: what a node receives in round r it stores (if newer) and sends in round r+1."""
    holds = {origin: 0}
    messages = 0
    frontier = [(origin, None)]
    hop = 0
    while frontier:
        hop += 1
        arriving = []
        for node, came_from in frontier:
            for nb in adj[node]:
                if nb != came_from:
                    messages += 1
                    arriving.append((nb, node))
        frontier = []
        for nb, sender in arriving:
            if nb not in holds:           # newer: stored, passed on
                holds[nb] = hop
                frontier.append((nb, sender))
    return messages, max(holds.values()), len(holds)


def partitioned_by(n, links, cut):
    """True when taking link CUT out splits the herd (its two ends then differ)."""
    adj = neighbours(n, [l for l in links if l != cut])
    seen, todo = {cut[0]}, [cut[0]]
    while todo:
        for nb in adj[todo.pop()]:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return cut[1] not in seen


def row(name, n, links):
    adj = neighbours(n, links)
    origins = range(n) if n <= 50 else random.Random(2).sample(range(n), 50)
    results = [flood(adj, o) for o in origins]
    for (messages, _, reached), o in zip(results, origins):
        if messages != 2 * len(links) - n + 1 or reached != n:
            raise AssertionError("%s: %d messages from node %d, closed form %d" % (
                name, messages, o, 2 * len(links) - n + 1))
    hops = [r[1] for r in results]
    cut = links[len(links) // 2]
    split = partitioned_by(n, links, cut)
    degree = max(len(a) for a in adj)
    return {
        "topology": name, "nodes": n, "links": len(links),
        "messages": results[0][0], "bytes": results[0][0] * (RECORD - 5),
        "hops_max": max(hops), "hops_mean": sum(hops) / len(hops),
        "latency_ms": max(hops) * HOP_US / 1000.0,
        "blip_bytes": MOVED * WALK_PER_DIFF if split else 40,
        "empty_node_bytes": degree * CLIENTS * RECORD,
        "degree": degree,
    }


def table():
    rows = [row("default herd", *default_herd())]
    for n in (10, 50, 500):
        rows.append(row("ring", *ring(n)))
        rows.append(row("binary tree", *tree(n)))
        rows.append(row("random, ~4 links", *random_regular(n, 4)))
        rows.append(row("full mesh", *mesh(n)))
    return rows


def main():
    rows = table()
    if "--check" in sys.argv:
        print("herd_scale: flood counts match 2L - N + 1 for %d topologies" % len(rows))
        return 0
    print("One update (AT line ~%d bytes), and link-up sync at %d clients with %d moved "
          "during a blip; hop ~%d us" % (RECORD - 5, CLIENTS, MOVED, HOP_US))
    print("%-17s %5s %6s %9s %10s %5s %6s %8s %12s %14s" % (
        "topology", "nodes", "links", "messages", "bytes", "hops", "mean", "ms", "blip bytes",
        "empty node B"))
    for r in rows:
        print("%-17s %5d %6d %9d %10d %5d %6.1f %8.2f %12d %14d" % (
            r["topology"], r["nodes"], r["links"], r["messages"], r["bytes"], r["hops_max"],
            r["hops_mean"], r["latency_ms"], r["blip_bytes"], r["empty_node_bytes"]))
    print("blip bytes: one link cut and back; 40 (two DIGEST-BEGIN lines) when the rest of "
          "the herd kept its two ends in step, else the walk for the moved clients.")
    print("empty node B: a node restarted empty gets the whole table from each neighbour "
          "(the largest degree shown).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
