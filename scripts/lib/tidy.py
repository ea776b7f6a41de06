#!/usr/bin/env python3
"""clang-tidy over the repository's translation units, with a cache shared by every checkout.

A unit is analysed again only when one of its inputs changed since its last clean run: its
compile command, the contents of the source and of every header it includes (the list that
ninja recorded when it compiled the unit), the .clang-tidy files, and the clang-tidy version.
Paths inside the checkout enter the key relative to it, so a fresh clone reuses the results of
another one. Clean results are kept in $BASTION_TIDY_CACHE (default ~/.cache/bastion/tidy);
units with findings are never cached. Without a dependency list (the unit was not built yet)
the unit is always analysed.

usage: tidy.py BUILDDIR UNIT...
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time


def dependencies(build, obj):
    """The files ninja recorded for `obj`, or None if it has no valid record."""
    out = subprocess.run(["ninja", "-C", build, "-t", "deps", obj], capture_output=True,
                         text=True, check=False).stdout
    lines = out.splitlines()
    if not lines or "(VALID)" not in lines[0]:
        return None
    return [os.path.join(build, l.strip()) for l in lines[1:] if l.strip()]


def unit_key(build, entry, salt, digests, root):
    args = shlex.split(entry["command"])
    obj = args[args.index("-o") + 1] if "-o" in args else None
    deps = dependencies(build, obj) if obj else None
    if deps is None:
        return None

    def portable(text):
        return text.replace(root + os.sep, "@ROOT@/")

    h = hashlib.sha256(salt)
    h.update(portable(entry["command"]).encode())
    h.update(portable(os.path.abspath(entry["directory"])).encode())
    for path in sorted(set(os.path.abspath(d) for d in deps)):
        if path not in digests:
            try:
                with open(path, "rb") as f:
                    digests[path] = hashlib.sha256(f.read()).digest()
            except OSError:
                return None
        h.update(portable(path).encode() + b"\0" + digests[path])
    return h.hexdigest()


running = set()  # clang-tidy processes, ended with this one on SIGTERM
lock = threading.Lock()


def tidy(build, unit):
    p = subprocess.Popen(["clang-tidy", "-p", build, "--quiet",
                          "--extra-arg=-Wno-unknown-warning-option", unit],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with lock:
        running.add(p)
    out, _ = p.communicate()
    with lock:
        running.discard(p)
    findings = [l for l in out.splitlines() if re.search(r"(warning|error):", l)]
    return unit, findings, out


def on_term(signo, _frame):
    with lock:
        for p in running:
            p.kill()
    os._exit(128 + signo)


def main():
    signal.signal(signal.SIGTERM, on_term)
    build, units = sys.argv[1], sys.argv[2:]
    root = os.getcwd()
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = {os.path.relpath(e["file"], root): e for e in json.load(f)}
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True,
                             check=True).stdout
    salt = version
    for config in (".clang-tidy", "tests/.clang-tidy", "bench/.clang-tidy"):
        with open(config, "rb") as f:
            salt += f.read()
    cache = os.environ.get("BASTION_TIDY_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "bastion", "tidy")
    os.makedirs(cache, exist_ok=True)
    digests, todo, keys, cached = {}, [], {}, 0
    for unit in units:
        if unit not in entries:
            continue  # not compiled in this tree (e.g. a fuzz target of another build)
        key = unit_key(build, entries[unit], salt, digests, root)
        if key and os.path.exists(os.path.join(cache, key)):
            cached += 1
            continue
        keys[unit] = key
        todo.append(unit)
    print(f"tidy: {len(todo)} unit(s) to analyse, {cached} unchanged since a clean run",
          file=sys.stderr)
    failed = 0
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for n, (unit, findings, out) in enumerate(
                pool.map(lambda u: tidy(build, u), todo), start=1):
            if findings:
                failed += 1
                print(out, end="")
            elif keys[unit]:
                open(os.path.join(cache, keys[unit]), "w").close()
            print(f"tidy: [{n}/{len(todo)}] {unit}{' FAILED' if findings else ''} "
                  f"({time.monotonic() - start:.0f}s)", file=sys.stderr)
    if failed:
        print(f"tidy: {failed} unit(s) with findings", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
