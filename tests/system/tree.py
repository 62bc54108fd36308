"""The Debian tree the system suite boots with systemd-nspawn, built once and cached.

A minbase tree from the host's own apt sources (so its suite and libraries are the ones
herdd was built against) with systemd, dbus and herdd's runtime libraries. It is kept in
/var/lib/machines/herd-CODENAME (HERD_SYSTEM_TREE elsewhere) next to a stamp file,
herd-CODENAME.stamp, that records what it was made from: the package list, the suite and
the sources file. It is built again (in TREE.new, swapped in only when whole) when the
stamp differs, or when one of herdd's libraries in it is older than the host's (the host
was upgraded since: herdd, built against the host's headers, may need the newer one).
The tree itself is never changed by a run: each run boots an overlay of it (container.py).

Standalone, to build or refresh the tree ahead of a run:
    /usr/bin/python3 tests/system/tree.py [--force] [TREE]
"""

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

# What the container needs: an init and a bus, the libraries herdd and the Places
# stand-in link (libevent, OpenSSL, yajl; libc and libm are in minbase), libnss-systemd
# so that the dynamic users have names (getent passwd, ps), and procps for /bin/kill,
# which the unit's ExecReload= runs.
PACKAGES = (
    "systemd", "dbus", "libnss-systemd", "procps",
    "libevent-2.1-7", "libevent-core-2.1-7", "libevent-extra-2.1-7",
    "libevent-openssl-2.1-7", "libyajl2", "libssl3",
)
# The packages whose host versions must match the tree's: what herdd links.
RUNTIME_LIBRARIES = PACKAGES[4:]

SOURCES_CANDIDATES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")


class TreeError(Exception):
    """The tree could not be built; the message says why and where the log is."""


def host_codename():
    """The host's Debian suite (VERSION_CODENAME of /etc/os-release), e.g. bookworm."""
    with open("/etc/os-release") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key == "VERSION_CODENAME" and value:
                return value.strip('"')
    raise TreeError("/etc/os-release has no VERSION_CODENAME: not a Debian host?")


def sources_file():
    """The host's apt sources file that mmdebstrap is given."""
    for path in SOURCES_CANDIDATES:
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return path
    raise TreeError("no apt sources file (looked for %s)" % ", ".join(SOURCES_CANDIDATES))


def default_tree():
    """Where the tree is kept: HERD_SYSTEM_TREE, else /var/lib/machines/herd-CODENAME."""
    return os.environ.get("HERD_SYSTEM_TREE") or "/var/lib/machines/herd-" + host_codename()


def versions(packages, admindir="/var/lib/dpkg"):
    """{package: version} installed in the dpkg database ADMINDIR ("" when not)."""
    out = subprocess.run(["dpkg-query", "--admindir=" + admindir, "-W", "-f",
                          "${Package} ${Version}\\n"] + list(packages),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    found = dict.fromkeys(packages, "")
    for line in out.splitlines():
        name, _, version = line.partition(" ")
        found[name] = version
    return found


def older_libraries(tree):
    """The runtime libraries whose version in TREE is older than the host's."""
    host = versions(RUNTIME_LIBRARIES)
    inside = versions(RUNTIME_LIBRARIES, os.path.join(tree, "var/lib/dpkg"))
    return [name for name in RUNTIME_LIBRARIES if host[name] and (
        not inside[name] or subprocess.run(["dpkg", "--compare-versions", inside[name], "lt",
                                            host[name]]).returncode == 0)]


def stamp_text():
    """What the tree is made from, as the text of its stamp file."""
    path = sources_file()
    with open(path) as f:
        sources = f.read()
    return json.dumps({
        "packages": list(PACKAGES),
        "suite": host_codename(),
        "sources_file": path,
        "sources": sources,
    }, indent=1, sort_keys=True) + "\n"


def stamp_path(tree):
    return tree.rstrip("/") + ".stamp"


def is_current(tree):
    """True when TREE is there, its stamp says it was made as it would be now, and none
    of its libraries is older than the host's."""
    try:
        with open(stamp_path(tree)) as f:
            made = f.read()
    except FileNotFoundError:
        return False
    try:
        current = made == stamp_text()
    except (TreeError, OSError):
        return False
    return (current and os.path.isfile(os.path.join(tree, "usr/lib/systemd/systemd"))
            and not older_libraries(tree))


@contextlib.contextmanager
def locked(tree):
    """Holds TREE's lock file exclusively: one build or one run of the suite at a time.

    Runs are serialised too: two containers at once on a small machine would make the
    watchdog timings of both less certain, and a rebuild must not swap a tree out from
    under a running overlay."""
    os.makedirs(os.path.dirname(tree.rstrip("/")) or "/", exist_ok=True)
    with open(tree.rstrip("/") + ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("system: waiting for another run to release %s.lock" % tree, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def build(tree, log=sys.stdout):
    """Builds TREE with mmdebstrap (about 35 s, 215 MB); the caller holds the lock."""
    tree = tree.rstrip("/")
    new, old = tree + ".new", tree + ".old"
    log_path = tree + ".build.log"
    for path in (new, old):
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stamp_path(tree))
    stamp = stamp_text()
    argv = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
            host_codename(), new, sources_file()]
    print("system: building %s: %s" % (tree, " ".join(argv)), file=log, flush=True)
    started = time.monotonic()
    with open(log_path, "w") as out:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        shutil.rmtree(new, ignore_errors=True)
        with open(log_path) as f:
            tail = "".join(f.readlines()[-15:])
        raise TreeError("mmdebstrap failed (exit %d); %s ends:\n%s"
                        % (result.returncode, log_path, tail))
    if os.path.exists(tree):
        os.rename(tree, old)
    os.rename(new, tree)
    shutil.rmtree(old, ignore_errors=True)
    with open(stamp_path(tree) + ".tmp", "w") as f:
        f.write(stamp)
    os.rename(stamp_path(tree) + ".tmp", stamp_path(tree))
    print("system: built %s in %.1f s" % (tree, time.monotonic() - started), file=log,
          flush=True)


def ensure(tree, log=sys.stdout):
    """Builds TREE unless its stamp is current; the caller holds the lock. True if built."""
    if is_current(tree):
        print("system: using the cached tree %s" % tree, file=log, flush=True)
        return False
    if os.path.isdir(tree) and older_libraries(tree):
        print("system: the host has newer %s than %s" % (", ".join(older_libraries(tree)), tree),
              file=log, flush=True)
    build(tree, log)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="build even when current")
    parser.add_argument("tree", nargs="?", help="default: " + default_tree())
    args = parser.parse_args()
    tree = args.tree or default_tree()
    try:
        with locked(tree):
            if args.force:
                build(tree)
            else:
                ensure(tree)
    except TreeError as e:
        print("system: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
