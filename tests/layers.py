#!/usr/bin/python3
"""Checks that the includes of common/, admin/ and server/ keep to README "Layout".

    /usr/bin/python3 tests/layers.py [SOURCE_ROOT]

Each quoted #include names a header of one folder (headers have unique names across
the three). The rules:

  common/       only common/ headers
  server core   (proto, table, peerproto, statefmt, digest, pendset, recon, lsa, herdmap)
                only the core
                and common/
  admin/        admin/, common/, and of server/ only the core's proto.h, table.h,
                herdmap.h and lsa.h
  server/       server/, common/, and of admin/ only admin.h and node.h
  private       config_parser.h, places_stream.h and places_flight.h only in their family

and no include circle between server/ modules (a module is NAME.c with NAME.h; the
command files cmd-*.c belong to cmd, places_call.c and places_flight.h to places). Prints every breach; exits 1 if there is one.
"""
import os
import re
import sys

FOLDERS = ("common", "admin", "server")
CORE = {"proto", "table", "peerproto", "statefmt", "digest", "pendset", "recon", "lsa",
        "herdmap"}
ADMIN_MAY_USE_FROM_SERVER = {"proto.h", "table.h", "herdmap.h", "lsa.h"}
SERVER_MAY_USE_FROM_ADMIN = {"admin.h", "node.h"}
PRIVATE = {
    "config_parser.h": re.compile(r"^config(_\w+)?\.c$"),
    "places_stream.h": re.compile(r"^places_(filter|legacy|new)\.c$"),
    "places_flight.h": re.compile(r"^places(_call|_pool)?\.c$"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


# Files that are one module with another: the Places client's call and private header.
SAME_MODULE = {"places_call": "places", "places_pool": "places", "places_flight": "places"}


def module_of(filename):
    base = os.path.splitext(filename)[0]
    return "cmd" if base.startswith("cmd-") else SAME_MODULE.get(base, base)


def read_tree(root):
    """{folder: {filename: [included header, ...]}} and {header: folder}."""
    files, owner = {}, {}
    for folder in FOLDERS:
        files[folder] = {}
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(root, folder, name), encoding="utf-8") as f:
                files[folder][name] = INCLUDE.findall(f.read())
            if name.endswith(".h"):
                if name in owner:
                    raise SystemExit("layers: %s is in both %s/ and %s/"
                                     % (name, owner[name], folder))
                owner[name] = folder
    return files, owner


def breaches(files, owner):
    out = []
    for folder, names in files.items():
        for name, includes in names.items():
            where = "%s/%s" % (folder, name)
            core = folder == "server" and module_of(name) in CORE
            for header in includes:
                home = owner.get(header)
                if home is None:
                    out.append("%s includes \"%s\", which is in none of %s"
                               % (where, header, ", ".join(FOLDERS)))
                    continue
                private = PRIVATE.get(header)
                if private is not None and not private.match(name) and name != header:
                    out.append("%s includes the private %s/%s" % (where, home, header))
                if folder == "common":
                    ok = home == "common"
                elif core:
                    ok = home == "common" or (home == "server"
                                              and module_of(header) in CORE)
                elif folder == "admin":
                    ok = home in ("admin", "common") or header in ADMIN_MAY_USE_FROM_SERVER
                else:
                    ok = home in ("server", "common") or header in SERVER_MAY_USE_FROM_ADMIN
                if not ok:
                    out.append("%s includes %s/%s: %s may not use it"
                               % (where, home, header, "the core" if core else folder + "/"))
    return out


def circles(files, owner):
    """Include circles between server/ modules, each as 'a -> b -> a'."""
    graph = {}
    for name, includes in files["server"].items():
        mod = module_of(name)
        deps = graph.setdefault(mod, set())
        for header in includes:
            if owner.get(header) == "server" and module_of(header) != mod:
                deps.add(module_of(header))
    found, state, stack = [], {}, []

    def visit(mod):
        state[mod] = "open"
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if state.get(dep) == "open":
                found.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[mod] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    files, owner = read_tree(root)
    problems = breaches(files, owner)
    problems += ["include circle in server/: " + c for c in circles(files, owner)]
    for p in problems:
        print("layers: " + p)
    count = sum(len(n) for n in files.values())
    print("layers: %d files, %d problem(s)" % (count, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
