#!/usr/bin/env python3
"""Reference pickle scan for `npm run bench` (python3 standard library only).

Does what a Python pickle scanner such as picklescan does at its core, and nothing more:
walk the given paths; for a zip file open each member whose name ends in .pkl or whose first
bytes are a pickle protocol header and run pickletools.genops over it; run genops over every
other file; collect the GLOBAL / INST / STACK_GLOBAL imports. Nothing is ever unpickled.

Usage: python3 bench/reference_scan.py PATH...   (prints one JSON summary on stdout)
"""

import json
import os
import pickletools
import sys
import zipfile

STRING_OPS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}
GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}


class Totals:
    def __init__(self):
        self.files = 0
        self.zip_files = 0
        self.members_seen = 0
        self.pickles = 0
        self.opcodes = 0
        self.globals = {}
        self.errors = []

    def add_global(self, module, name):
        key = f"{module}.{name}"
        self.globals[key] = self.globals.get(key, 0) + 1

    def error(self, where, exc):
        self.errors.append(f"{where}: {type(exc).__name__}: {exc}")


def is_pickle_header(head):
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def scan_pickles(stream, where, totals):
    """genops over one stream, pickle after pickle until the end, as picklescan does."""
    while True:
        totals.pickles += 1
        memo = {}
        recent = []  # what the last two pushing opcodes pushed, for STACK_GLOBAL
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                totals.opcodes += 1
                name = opcode.name
                if name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    totals.add_global(module, attr)
                    recent.append(None)
                elif name == "STACK_GLOBAL":
                    if len(recent) >= 2 and isinstance(recent[-2], str) and isinstance(recent[-1], str):
                        totals.add_global(recent[-2], recent[-1])
                    else:
                        totals.add_global("<unknown>", "<unknown>")
                    recent.append(None)
                elif name in STRING_OPS:
                    recent.append(arg if isinstance(arg, str) else str(arg))
                elif name in GET_OPS:
                    recent.append(memo.get(arg))
                elif name in PUT_OPS:
                    memo[arg] = recent[-1] if recent else None
                    continue
                elif name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                    continue
                else:
                    recent.append(None)
                del recent[:-2]
        except Exception as exc:  # not a pickle, or damaged: picklescan reports and moves on
            totals.error(where, exc)
            return
        if not stream.peek(1)[:1]:
            return


def scan_zip(path, totals):
    totals.zip_files += 1
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            totals.members_seen += 1
            where = f"{path}:{info.filename}"
            with zf.open(info) as member:
                wanted = info.filename.endswith(".pkl") or is_pickle_header(member.read(2))
            if not wanted:
                continue
            with zf.open(info) as member:
                scan_pickles(member, where, totals)


def scan_file(path, totals):
    totals.files += 1
    try:
        if zipfile.is_zipfile(path):
            scan_zip(path, totals)
            return
        with open(path, "rb") as stream:
            scan_pickles(stream, path, totals)
    except Exception as exc:
        totals.error(path, exc)


def walk(paths):
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield os.path.join(folder, name)
        else:
            yield path


def main(argv):
    if not argv:
        sys.exit("usage: reference_scan.py PATH...")
    totals = Totals()
    for path in walk(argv):
        scan_file(path, totals)
    print(
        json.dumps(
            {
                "tool": "reference_scan.py",
                "files": totals.files,
                "zipFiles": totals.zip_files,
                "zipMembers": totals.members_seen,
                "picklesScanned": totals.pickles,
                "opcodes": totals.opcodes,
                "globals": dict(sorted(totals.globals.items())),
                "errorCount": len(totals.errors),
                "errors": totals.errors[:10],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
