"""One booted container for the system suite: an overlay of the cached tree (tree.py),
systemd-nspawn --boot in it, and the ways in (nsenter, its network namespace).

A run lives in TREE.runs/NAME: upper/ and work/ of the overlay, root/ (the container's
root, where `meson install --destdir` puts the build), the nspawn log and what
terminate() needs to find again (owner, nspawn, leader, cgroups). terminate() stops the
container and removes the mount, the cgroups and the folder, whatever state the run is
in; a run that was itself killed is cleaned up by the next one (clean_stale), which also
holds the tree's lock, so nothing of a live run is touched.

The host needs no systemd: nspawn runs with --register=no --keep-unit (no machined,
no scope unit) and --private-network (the container has its own loopback, so no port
of the host is used). When the host's own cgroup is the root one (no service manager
placed this process), nspawn is started in a cgroup of its own, so that the cgroups it
and the container's systemd create are found and removed afterwards.
"""

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

# What commands run inside the container see.
CONTAINER_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
    "TERM": "dumb",
}

_libc = ctypes.CDLL(None, use_errno=True)


class ContainerError(Exception):
    """The container could not be set up or used; the message says what and why."""


def _start_time(pid):
    """The start time of process PID (field 22 of /proc/PID/stat), or None if it is gone
    or a zombie (nspawn is our child: it stays one until it is waited for)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _process_id(pid):
    """PID and its start time as one string: a process, never a later one of that PID."""
    return "%d %s" % (pid, _start_time(pid))


def _alive(process_id):
    """True while the process written by _process_id is still the same process."""
    try:
        pid, start = process_id.split()
        return _start_time(int(pid)) == start
    except ValueError:
        return False


def _mounted(path):
    """True if PATH is a mount point (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _cgroup_homes():
    """The cgroup hierarchies nspawn uses (the unified one, name=systemd) in which this
    process sits in the root cgroup, as their mount points."""
    at_root = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if path != "/":
                continue
            if hid == "0":
                at_root.add("unified")
            elif controllers == "name=systemd":
                at_root.add("name=systemd")
    homes = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], fields[sep + 3].split(",")
            if fstype == "cgroup2" and "unified" in at_root:
                homes.append(fields[4])
            elif fstype == "cgroup" and "name=systemd" in options and "name=systemd" in at_root:
                homes.append(fields[4])
    return homes


def _remove_cgroup(path):
    """Kills whatever is left in cgroup PATH and its children, then removes them."""
    if not os.path.isdir(path):
        return
    for top, dirs, _ in os.walk(path, topdown=False):
        with contextlib.suppress(OSError):
            with open(os.path.join(top, "cgroup.procs")) as f:
                for pid in f.read().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for _ in range(50):
            try:
                os.rmdir(top)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def _write(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")


def runs_dir(tree):
    return tree.rstrip("/") + ".runs"


def _kill_and_wait(process_id, sig, timeout):
    """Sends SIG to the process if it is still that process; True once it is gone."""
    if not _alive(process_id):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(process_id.split()[0]), sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(process_id):
            return True
        time.sleep(0.05)
    return not _alive(process_id)


def _tear_down(run_dir, nspawn=None, log=None):
    """Stops what RUN_DIR's files name and removes the run; NSPAWN is our Popen, if any."""
    nspawn_id = _read(os.path.join(run_dir, "nspawn"))
    leader_id = _read(os.path.join(run_dir, "leader"))
    if nspawn_id and _alive(nspawn_id):
        # nspawn asks the container's systemd to shut down on the first SIGTERM.
        if not _kill_and_wait(nspawn_id, signal.SIGTERM, 15.0):
            if log:
                print("system: the container did not halt in 15 s; killing it", file=log)
            if leader_id:
                _kill_and_wait(leader_id, signal.SIGKILL, 5.0)
            _kill_and_wait(nspawn_id, signal.SIGKILL, 5.0)
    elif leader_id:
        _kill_and_wait(leader_id, signal.SIGKILL, 5.0)
    if nspawn is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            nspawn.wait(timeout=5)
    root = os.path.join(run_dir, "root")
    if os.path.isdir(root) and _mounted(root):
        if subprocess.run(["umount", root], stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["umount", "-l", root], check=False)
    for path in _read(os.path.join(run_dir, "cgroups")).split():
        _remove_cgroup(path)
    if os.path.isdir(root) and _mounted(root):
        raise ContainerError("%s is still mounted after umount" % root)
    shutil.rmtree(run_dir, ignore_errors=True)


def clean_stale(tree, log=None):
    """Removes the runs of TREE whose owner process is gone (a run killed outright)."""
    base = runs_dir(tree)
    if not os.path.isdir(base):
        return
    for name in sorted(os.listdir(base)):
        run_dir = os.path.join(base, name)
        if _alive(_read(os.path.join(run_dir, "owner"))):
            continue
        if log:
            print("system: removing the stale run %s" % run_dir, file=log, flush=True)
        _tear_down(run_dir, log=log)


class Container:
    """An overlay of TREE booted with systemd-nspawn; terminate() undoes all of it."""

    def __init__(self, tree, name=None, log=None):
        self.tree = tree.rstrip("/")
        self.name = name or "herd-system-%d" % os.getpid()
        self.dir = os.path.join(runs_dir(self.tree), self.name)
        self.root = os.path.join(self.dir, "root")
        self.log = log
        self.nspawn = None
        self.leader = None
        self.netns_fd = None

    # -- life cycle ------------------------------------------------------------------

    def create(self):
        """Mounts the overlay: the cached tree, read-only underneath, and this run's
        changes (the installed build, /etc/herd, the journal) in upper/."""
        if os.path.exists(self.dir):
            _tear_down(self.dir, log=self.log)
        for sub in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.dir, sub))
        _write(os.path.join(self.dir, "owner"), _process_id(os.getpid()))
        options = "lowerdir=%s,upperdir=%s,workdir=%s" % (
            self.tree, os.path.join(self.dir, "upper"), os.path.join(self.dir, "work"))
        result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, self.root],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise ContainerError("cannot mount the overlay of %s on %s: %s"
                                 % (self.tree, self.root, result.stdout.strip()))

    def boot(self, timeout=60.0):
        """Starts systemd-nspawn --boot on the overlay and waits until the container's
        systemd reports the system running."""
        cgroups = [os.path.join(home, self.name) for home in _cgroup_homes()]
        for path in cgroups:
            os.makedirs(path, exist_ok=True)
        _write(os.path.join(self.dir, "cgroups"), " ".join(cgroups))

        def preexec():
            # nspawn halts the container when this process dies without terminate().
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            for path in cgroups:
                with open(os.path.join(path, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        argv = ["systemd-nspawn", "--boot", "--register=no", "--keep-unit",
                "--private-network", "--link-journal=no", "--console=pipe",
                "--machine=" + self.name, "--directory=" + self.root]
        log_path = os.path.join(self.dir, "nspawn.log")
        with open(log_path, "w") as out:
            self.nspawn = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, preexec_fn=preexec)
        _write(os.path.join(self.dir, "nspawn"), _process_id(self.nspawn.pid))
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.nspawn.poll() is not None:
                raise ContainerError("systemd-nspawn exited with status %d: %s"
                                     % (self.nspawn.returncode, self.nspawn_log()))
            if time.monotonic() > deadline:
                raise ContainerError("no container init after %.0f s: %s"
                                     % (timeout, self.nspawn_log()))
            self.leader = self._find_leader()
            time.sleep(0.02)
        _write(os.path.join(self.dir, "leader"), _process_id(self.leader))
        self.netns_fd = os.open("/proc/%d/ns/net" % self.leader, os.O_RDONLY | os.O_CLOEXEC)
        state = ""
        while time.monotonic() < deadline:
            result = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                              timeout=max(1.0, deadline - time.monotonic()))
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.1)
        else:
            raise ContainerError("the container's systemd is %r after %.0f s: %s"
                                 % (state, timeout, self.nspawn_log()))
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            print("system: the container booted degraded:\n" + failed, file=self.log,
                  flush=True)

    def _find_leader(self):
        """The container's PID 1: the child of nspawn that is PID 1 of its namespace."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/status" % entry) as f:
                    status = dict(line.rstrip("\n").split(":\t", 1) for line in f
                                  if ":\t" in line)
            except OSError:
                continue
            if (status.get("PPid") == str(self.nspawn.pid)
                    and status.get("NSpid", "").split()[-1:] == ["1"]):
                return int(entry)
        return None

    def nspawn_log(self, lines=30):
        text = _read(os.path.join(self.dir, "nspawn.log"))
        return "\n".join(text.splitlines()[-lines:]) or "(nspawn printed nothing)"

    def terminate(self):
        """Halts the container and removes the overlay, the cgroups and the run folder."""
        if self.netns_fd is not None:
            os.close(self.netns_fd)
            self.netns_fd = None
        _tear_down(self.dir, self.nspawn, self.log)
        self.nspawn = None
        self.leader = None

    # -- the ways in -----------------------------------------------------------------

    def path(self, path):
        """The host's name for PATH of the container (inside the overlay)."""
        return os.path.join(self.root, path.lstrip("/"))

    def run(self, argv, check=True, timeout=60.0, input=None):
        """Runs ARGV in every namespace of the container (nsenter -a); stdout and stderr
        are captured apart, as text. With CHECK a non-zero exit raises ContainerError."""
        if self.leader is None:
            raise ContainerError("the container is not running")
        try:
            result = subprocess.run(["nsenter", "-t", str(self.leader), "-a"] + list(argv),
                                    input=input, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, timeout=timeout,
                                    env=CONTAINER_ENV)
        except subprocess.TimeoutExpired as e:
            raise ContainerError("%s: no answer in %.0f s" % (" ".join(argv), timeout)) from e
        if check and result.returncode != 0:
            raise ContainerError("%s: exit status %d\n%s%s" % (
                " ".join(argv), result.returncode, result.stdout, result.stderr))
        return result

    @contextlib.contextmanager
    def network(self):
        """This thread in the container's network namespace: sockets made meanwhile
        belong to it (and stay in it afterwards)."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(self.netns_fd, CLONE_NEWNET) != 0:
                raise ContainerError("setns into the container's network: %s"
                                     % os.strerror(ctypes.get_errno()))
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise ContainerError("setns back to the host's network: %s"
                                         % os.strerror(ctypes.get_errno()))
        finally:
            os.close(own)
