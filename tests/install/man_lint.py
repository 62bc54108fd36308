#!/usr/bin/python3
"""Lints the man pages with mandoc: any warning or error fails.

    /usr/bin/python3 tests/install/man_lint.py PAGE...

Runs `mandoc -T lint -W warning` on each page and prints what it says; exits 1 when it
says anything or fails, 77 (skipped) when mandoc is not installed (./herd installs it).
"""
import shutil
import subprocess
import sys


def main(pages):
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        print("mandoc not installed: skipped")
        return 77
    failed = False
    for page in pages:
        result = subprocess.run([mandoc, "-T", "lint", "-W", "warning", page],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=60)
        if result.returncode != 0 or result.stdout.strip():
            print("%s: mandoc exited %d\n%s" % (page, result.returncode, result.stdout))
            failed = True
        else:
            print("%s: clean" % page)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
