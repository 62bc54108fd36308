#!/usr/bin/python3
"""Installs the build into a scratch DESTDIR and checks what lands where.

    /usr/bin/python3 tests/install/install_check.py --meson MESON --build-root BUILD
        --source-root SRC --bindir DIR --mandir DIR --docdir DIR --unitdir DIR

The folders are the absolute install folders meson.build computed. `meson install
--no-rebuild --destdir` runs in a scratch build folder that holds a copy of the build's
install plan (meson-private/install.dat) and sees everything else of the build through
symlinks, so neither the install nor its log (meson-logs/install-log.txt) writes
anything outside the scratch folder, and nothing is built. Then: exactly herdd, the two
man pages, herd.conf, README.md, the dashboards and the unit are installed; the pages and the docs
are the sources; the unit's ExecStartPre= and ExecStart= run the installed herdd, and its
Documentation= names the man page and the installed README; the installed herdd checks
the installed herd.conf. HERD_KEEP_TMP=1 keeps the scratch folder.
"""
import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile


def installed_files(root):
    """Every file (and symlink) under ROOT, as the absolute path it stands for."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found.add("/" + os.path.relpath(os.path.join(folder, name), root))
    return found


def unit_values(text, key):
    """The values of KEY= in the unit TEXT, in order."""
    return re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)


def check(args, scratch, problems):
    build = os.path.join(scratch, "build")
    destdir = os.path.join(scratch, "root")
    # The plan names built targets relative to the build folder: the scratch one sees
    # them through a symlink per entry; only its plan and its logs are its own.
    os.makedirs(os.path.join(build, "meson-private"))
    os.makedirs(os.path.join(build, "meson-logs"))
    for entry in os.listdir(args.build_root):
        if entry not in ("meson-private", "meson-logs"):
            os.symlink(os.path.join(args.build_root, entry), os.path.join(build, entry))
    shutil.copy(os.path.join(args.build_root, "meson-private", "install.dat"),
                os.path.join(build, "meson-private", "install.dat"))
    result = subprocess.run([args.meson, "install", "-C", build, "--no-rebuild",
                             "--destdir", destdir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=60)
    print(result.stdout)
    if result.returncode != 0:
        problems.append("meson install exited %d" % result.returncode)
        return

    herdd = os.path.join(args.bindir, "herdd")
    unit = os.path.join(args.unitdir, "herdd@.service")
    sources = {
        os.path.join(args.mandir, "man8", "herdd.8"): "etc/man/herdd.8",
        os.path.join(args.mandir, "man5", "herd.conf.5"): "etc/man/herd.conf.5",
        os.path.join(args.docdir, "herd.conf"): "etc/herd.conf",
        os.path.join(args.docdir, "README.md"): "README.md",
        os.path.join(args.docdir, "prometheus", "herd.yml"): "etc/prometheus/herd.yml",
        os.path.join(args.docdir, "grafana", "herd.json"): "etc/grafana/herd.json",
    }
    expected = {herdd, unit} | set(sources)
    found = installed_files(destdir)
    for path in sorted(expected - found):
        problems.append("not installed: %s" % path)
    for path in sorted(found - expected):
        problems.append("installed but not expected: %s" % path)
    if problems:
        return

    def staged(path):
        return destdir + path

    for path, source in sorted(sources.items()):
        if not filecmp.cmp(staged(path), os.path.join(args.source_root, source),
                           shallow=False):
            problems.append("%s differs from %s" % (path, source))
    if not os.access(staged(herdd), os.X_OK):
        problems.append("%s is not executable" % herdd)

    with open(staged(unit), encoding="utf-8") as f:
        text = f.read()
    if re.search(r"@\w+@", text):
        problems.append("%s: a template variable is left: %s"
                        % (unit, re.search(r"@\w+@", text).group(0)))
    for key in ("ExecStartPre", "ExecStart"):
        values = unit_values(text, key)
        if len(values) != 1 or values[0].split()[0] != herdd:
            problems.append("%s: %s= should run %s: %r" % (unit, key, herdd, values))
    documentation = " ".join(unit_values(text, "Documentation")).split()
    for want in ("man:herdd(8)", "man:herd.conf(5)",
                 "file:" + os.path.join(args.docdir, "README.md")):
        if want not in documentation:
            problems.append("%s: Documentation= lacks %s: %r" % (unit, want, documentation))

    result = subprocess.run([staged(herdd), "-c", staged(os.path.join(args.docdir,
                            "herd.conf")), "-t"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=30)
    if result.returncode != 0 or result.stdout.strip() != "configuration OK":
        problems.append("installed herdd -t on the installed herd.conf: exit %d, %r"
                        % (result.returncode, result.stdout))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("meson", "build-root", "source-root", "bindir", "mandir", "docdir",
                 "unitdir"):
        parser.add_argument("--" + name, required=True)
    args = parser.parse_args()
    for name in ("bindir", "mandir", "docdir", "unitdir"):
        if not os.path.isabs(getattr(args, name)):
            sys.exit("--%s must be absolute: %s" % (name, getattr(args, name)))

    build_log = os.path.join(args.build_root, "meson-logs", "install-log.txt")
    log_before = os.stat(build_log).st_mtime_ns if os.path.exists(build_log) else None
    scratch = tempfile.mkdtemp(prefix="herd-install-")
    problems = []
    try:
        check(args, scratch, problems)
    finally:
        if os.environ.get("HERD_KEEP_TMP"):
            print("kept %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    log_after = os.stat(build_log).st_mtime_ns if os.path.exists(build_log) else None
    if log_after != log_before:
        problems.append("the install wrote %s" % build_log)

    for p in problems:
        print(p)
    if problems:
        return 1
    print("installed: herdd, herdd.8, herd.conf.5, herd.conf, README.md, herdd@.service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
