#!/usr/bin/env python3
"""Checks that cask's #include lines follow its architecture.

    scripts/check-includes.py [SOURCE_DIR]

Folders are layers and dependencies point one way (DESIGN.md, "Processes
and folders"). Every quoted include is checked against the table below, and
the module graph (x/y.c and x/y.h are one module, x/y) is checked for
cycles. Prints one line per violation and exits 1; prints nothing and exits
0 when the tree is clean. SOURCE_DIR defaults to the tree this script is in.
Files are the tracked *.c/*.h when SOURCE_DIR is the top of a git work tree,
otherwise (a release tarball, `make distcheck`) every *.c/*.h under it,
build folders skipped.
"""

import os
import re
import subprocess
import sys

ANY = "*"

# The architecture, lowest layer first. Each row: a layer (a folder, or a
# single module such as "volume/main" when one file needs a rule of its
# own), and what its files may include besides their own layer. A use is a
# layer, or one header ("master/state/lmdbenv.h") when a layer may see only
# that interface of another. A file belongs to the longest matching row.
LAYERS = [
    # The ground: neither uses the other.
    ("raft", []),
    ("common", []),
    # Programs and the state machine, over the ground.
    ("volume", ["common"]),
    ("master/state", ["raft", "common"]),
    ("rebuild", ["common"]),
    ("rebalance", ["common"]),
    ("admin", ["common"]),
    ("thrasher", ["common"]),
    # The replication runtime: it knows the state machine only through the
    # LMDB environment's interface, never its index or commands.
    ("master/repl", ["master/state/lmdbenv.h", "raft", "common"]),
    # Write services, then the HTTP API and admin on top.
    ("master/write", ["master/repl", "master/state", "raft", "common"]),
    ("master/http",
     ["master/write", "master/repl", "master/state", "raft", "common"]),
    # The composition root (master/main.c).
    ("master", ["master/http", "master/write", "master/repl",
                "master/state", "raft", "common"]),
    # The S3 gateway speaks to masters over HTTP only.
    ("s3", ["common"]),
    # Tests may use anything.
    ("tests", [ANY]),
    # The core's own tests: the core alone, as they build it by hand.
    ("raft/tests", ["raft"]),
]

# Modules are files without their extension (x/y.c and x/y.h are x/y). A
# module's private header, x/y_int.h (the internals its own .c files
# share, as volume/bitcask_int.h), is part of x/y in the cycle check.
PRIVATE_SUFFIX = "_int"

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
# Folders that are never sources: VCS data, autotools caches, build trees.
SKIP_DIRS = {".git", "autom4te.cache", "_build", "_inst", ".deps"}
# What configure writes into the top of an in-tree build.
GENERATED = {"config.h"}


def layer_of(path):
    """The row of LAYERS a source path belongs to, or None."""
    module = os.path.splitext(path)[0]
    best = None
    for name, _ in LAYERS:
        if module == name or module.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


USES = dict(LAYERS)


def may_use(layer, header):
    """Whether a file of `layer` may include `header` (a tree path)."""
    target = layer_of(header)
    if target == layer:
        return True
    for use in USES[layer]:
        if use == ANY or use == header or (
                not use.endswith(".h") and use == target):
            return True
    return False


def git_files(root):
    """Tracked *.c/*.h when root is the top of a git work tree, else None."""
    try:
        top = subprocess.run(
            ["git", "-C", root, "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=True).stdout.strip()
        if os.path.realpath(top) != os.path.realpath(root):
            return None
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--", "*.c", "*.h"],
            capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [f for f in out.split("\0")
            if f and os.path.isfile(os.path.join(root, f))]


def walk_files(root):
    files = []
    for d, dirs, names in os.walk(root):
        # A folder with a config.status is a build tree, not sources.
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS
                   and not x.startswith(".")
                   and not os.path.exists(os.path.join(d, x,
                                                       "config.status"))]
        for n in names:
            path = os.path.relpath(os.path.join(d, n), root)
            if n.endswith((".c", ".h")) and path not in GENERATED:
                files.append(path)
    return files


def module_of(path):
    module = os.path.splitext(path)[0]
    if module.endswith(PRIVATE_SUFFIX):
        return module[: -len(PRIVATE_SUFFIX)]
    return module


def resolve(root, src, name):
    """The tree path a quoted include names, as the compiler finds it: next
    to the including file first, then from the top (-I$(top_srcdir)).
    None for a header outside the tree with no folder (config.h)."""
    beside = os.path.normpath(os.path.join(os.path.dirname(src), name))
    if os.path.isfile(os.path.join(root, beside)):
        return beside
    top = os.path.normpath(name)
    if os.path.isfile(os.path.join(root, top)) or "/" in top:
        return top
    return None


def cycles(graph):
    """One cycle through every module of each strongly connected component
    with more than one module (Tarjan, then shortest cycles by BFS)."""
    index, low, on, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def connect(v):
        # Iterative Tarjan: deep include chains must not hit the recursion
        # limit.
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    pushed = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    sccs.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)

    found = []
    for comp in sccs:
        covered = set()
        for start in sorted(comp):
            if start in covered:
                continue
            # Shortest path start -> ... -> start inside the component.
            prev, frontier, done = {}, [start], False
            while frontier and not done:
                nxt = []
                for u in frontier:
                    for w in sorted(graph.get(u, ())):
                        if w not in comp:
                            continue
                        if w == start:
                            path = [u]
                            while path[-1] != start:
                                path.append(prev[path[-1]])
                            path.reverse()
                            path.append(start)
                            found.append(path)
                            covered.update(path)
                            done = True
                            break
                        if w not in prev:
                            prev[w] = u
                            nxt.append(w)
                    if done:
                        break
                frontier = nxt
    # The same cycle may be found from two of its modules.
    unique, seen = [], set()
    for path in found:
        ring = path[:-1]
        i = ring.index(min(ring))
        key = tuple(ring[i:] + ring[:i])
        if key not in seen:
            seen.add(key)
            unique.append(list(key) + [key[0]])
    return sorted(unique)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    files = git_files(root)
    if files is None:
        files = walk_files(root)
    problems = []
    graph = {}
    for src in sorted(files):
        layer = layer_of(src)
        if layer is None:
            problems.append(f"{src}:1: in no layer: add its folder to "
                            "LAYERS in scripts/check-includes.py")
        module = module_of(src)
        graph.setdefault(module, set())
        with open(os.path.join(root, src), encoding="utf-8",
                  errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = resolve(root, src, m.group(1))
                if header is None:
                    continue
                target = module_of(header)
                if target != module:
                    graph[module].add(target)
                if layer is None:
                    continue
                if not may_use(layer, header):
                    to = layer_of(header)
                    what = (f"layer {layer} may not use layer {to}"
                            if to else f"{header} is in no layer")
                    only = [u for u in USES[layer]
                            if u.endswith(".h") and layer_of(u) == to]
                    if only:
                        what += f" (only {', '.join(only)})"
                    problems.append(
                        f"{src}:{lineno}: includes {m.group(1)}: {what}")
    for path in cycles(graph):
        problems.append("cycle: " + " -> ".join(path))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
