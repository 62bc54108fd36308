#!/usr/bin/python3
"""Checks that the man pages keep up with the code.

    /usr/bin/python3 tests/install/man_complete.py SOURCE_ROOT HERDD

herd.conf.5 has an entry (.It Cm KEY) for every key of the key tables of
common/config.c, and no entry for a key that is not there; the entry of a numeric key
gives its range as "from MIN to MAX" and its default (config_parse's initial value) as
"default N". herdd.8 has an item for every option `HERDD -h` lists, short and long,
names no long option that -h does not, and every configuration key it mentions
(.Cm lower_case) is a key. Prints every gap; exits 1 if there is one.
"""
import os
import re
import subprocess
import sys

KEY_TABLES = ("config_herd_keys", "config_node_keys")
# { "name", TYPE, offsetof(struct ..., field) or 0, min, max }
KEY_ENTRY = re.compile(r'\{\s*"(\w+)",\s*(CONFIG_\w+),\s*(?:offsetof\([^)]*\)|0),\s*'
                       r'(\d+),\s*(\d+)\s*\}')
NUMERIC = {"CONFIG_INT", "CONFIG_SIZE"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_keys(root):
    """The keys of config.c's tables: {name: (type, min, max)}, and the [herd] count."""
    source = read(os.path.join(root, "common", "config.c"))
    keys, herd_count = {}, 0
    for table in KEY_TABLES:
        m = re.search(r"\b%s\[[^\]]*\]\s*=\s*\{(.*?)\n\};" % table, source, re.S)
        if m is None:
            raise SystemExit("common/config.c: no table %s" % table)
        entries = KEY_ENTRY.findall(m.group(1))
        if table == "config_herd_keys":
            herd_count = len(entries)
        for name, kind, low, high in entries:
            keys[name] = (kind, int(low), int(high))
    parser_h = read(os.path.join(root, "common", "config_parser.h"))
    nkeys = int(re.search(r"#define CONFIG_HERD_NKEYS (\d+)", parser_h).group(1))
    if herd_count != nkeys:
        raise SystemExit("read %d [herd] keys from common/config.c, CONFIG_HERD_NKEYS is %d: "
                         "this script no longer reads the table right" % (herd_count, nkeys))
    return keys


def config_defaults(root):
    """The numbers config_parse starts each key at (0: computed later, not a default)."""
    source = read(os.path.join(root, "common", "config.c"))
    body = re.search(r"\nstruct herd_config \*config_parse\(.*?\n\}", source, re.S).group(0)
    return {k: int(v) for k, v in re.findall(r"cfg->(\w+) = (\d+);", body) if int(v) != 0}


def page_entries(text, macro):
    """{name: the source lines of its entry} for every `.It MACRO name` of a page."""
    entries, name, lines = {}, None, []
    for line in text.splitlines():
        m = re.match(r"\.It %s (\w+)" % macro, line)
        if m or line.startswith((".It", ".El", ".Sh", ".Ss")):
            if name is not None:
                entries[name] = "\n".join(lines)
            name, lines = (m.group(1), [line]) if m else (None, [])
        elif name is not None:
            lines.append(line)
    return entries


def check_conf_page(root, problems):
    page = read(os.path.join(root, "etc", "man", "herd.conf.5"))
    keys = config_keys(root)
    defaults = config_defaults(root)
    entries = page_entries(page, "Cm")
    for name, (kind, low, high) in keys.items():
        entry = entries.get(name)
        if entry is None:
            problems.append("herd.conf.5: no entry (.It Cm %s) for key %s" % (name, name))
            continue
        flat = " ".join(entry.split())
        if kind in NUMERIC and "from %d to %d" % (low, high) not in flat:
            problems.append("herd.conf.5: %s: the range \"from %d to %d\" is missing"
                            % (name, low, high))
        if name in defaults and not re.search(r"\bdefault %d\b" % defaults[name], flat):
            problems.append("herd.conf.5: %s: \"default %d\" is missing"
                            % (name, defaults[name]))
    for name in entries:
        if name not in keys:
            problems.append("herd.conf.5: entry for %s, which common/config.c does not know"
                            % name)
    return keys


def herdd_options(herdd):
    """(short letters, long names) of `herdd -h`."""
    out = subprocess.run([herdd, "-h"], stdout=subprocess.PIPE, check=True, text=True,
                         timeout=30).stdout
    shorts, longs = set(), set()
    for line in out.splitlines():
        m = re.match(r"\s+(?:-(\w), )?--([\w-]+)", line)
        if m:
            if m.group(1):
                shorts.add(m.group(1))
            longs.add(m.group(2))
    if not longs:
        raise SystemExit("no options in the output of herdd -h:\n" + out)
    return shorts, longs


def check_herdd_page(root, herdd, keys, problems):
    page = read(os.path.join(root, "etc", "man", "herdd.8"))
    shorts, longs = herdd_options(herdd)
    items = [line for line in page.splitlines() if line.startswith(".It Fl ")]
    for letter in sorted(shorts):
        if not any(re.match(r"\.It Fl %s\b" % letter, line) for line in items):
            problems.append("herdd.8: no item (.It Fl %s) for -%s" % (letter, letter))
    for name in sorted(longs):
        if not any(re.search(r"\bFl \\-%s\b(?!-)" % re.escape(name), line) for line in items):
            problems.append("herdd.8: no item with Fl \\-%s for --%s" % (name, name))
    for name in sorted(set(re.findall(r"\bFl \\-([\w-]+)", page)) - longs):
        problems.append("herdd.8: --%s is not an option of herdd -h" % name)
    for name in sorted(set(re.findall(r"\bCm ([a-z]+_[a-z_]+|listen)\b", page)) - set(keys)):
        problems.append("herdd.8: .Cm %s is not a configuration key" % name)


def main(root, herdd):
    problems = []
    keys = check_conf_page(root, problems)
    check_herdd_page(root, herdd, keys, problems)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("herd.conf.5: %d keys; herdd.8: every option of herdd -h" % len(keys))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
