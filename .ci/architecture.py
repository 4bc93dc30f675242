#!/usr/bin/env python3
"""The house rules that a compiler does not check (../shared/DESIGN.md, "Crates and folders").

1. No file-level import cycle inside a crate: no two source files import each other,
   directly or round a circle. An edge A -> B is any path in A's non-test code that names
   an item of B (`use crate::x::y`, `super::z`, `self::child::w`, or such a path in an
   expression). A module naming its own submodules (declaring them, re-exporting from them)
   is ownership, not an import, and is not counted; a child naming its parent is.
2. No non-test source file over 800 lines of code (blank lines, comments and `#[cfg(test)]`
   items not counted): such a file is two ideas.

Usage: architecture.py [--graph] [CRATE_DIR ...]   (default: every crate of the workspace)
Exits 1 with a list of what breaks a rule.
"""

import os
import re
import sys

MAX_LINES_OF_CODE = 800
CRATES = ["shared", "host-trainer", "edge-runtime", "tests", "boards/scope-controller"]


def strip_comments_and_strings(text):
    """Blank out comments and string/char literals, keeping newlines (line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 260]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"' or (c == "b" and text.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): only the former is blanked.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def strip_test_items(code):
    """Blank out items under #[cfg(test)] (inline test modules, test-only functions and uses)."""
    while True:
        m = re.search(r"#\[cfg\((?:test|all\(test[^\]]*|any\(test[^\]]*)\)\]", code)
        if not m:
            return code
        # The item runs to its first `;` or to the brace that closes its first `{`.
        j = m.end()
        while j < len(code) and code[j] not in ";{":
            j += 1
        end = matching_brace(code, j) if j < len(code) and code[j] == "{" else j
        code = code[:m.start()] + re.sub(r"[^\n]", " ", code[m.start():end + 1]) + code[end + 1:]


def lines_of_code(code):
    return sum(1 for line in code.splitlines() if line.strip())


def crate_modules(root_file):
    """Module path (tuple) -> file, for every non-test module of the crate rooted at root_file,
    found by following its `mod` declarations."""
    modules = {}

    def visit(module, path, child_dir):
        modules[module] = path
        code = strip_test_items(strip_comments_and_strings(open(path, encoding="utf-8").read()))
        for m in re.finditer(r"(?<![\w:])mod\s+(\w+)\s*;", code):
            name = m.group(1)
            for candidate, grand_dir in ((os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name)),
                                         (os.path.join(child_dir, name, "mod.rs"), os.path.join(child_dir, name))):
                if os.path.isfile(candidate):
                    visit(module + (name,), candidate, grand_dir)
                    break

    visit((), root_file, os.path.dirname(root_file))
    return modules


def crate_roots(crate):
    """The library and binary roots of a package: each is a crate of its own."""
    src = os.path.join(crate, "src")
    roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs") if os.path.isfile(os.path.join(src, f))]
    bin_dir = os.path.join(src, "bin")
    if os.path.isdir(bin_dir):
        roots += sorted(os.path.join(bin_dir, f) for f in os.listdir(bin_dir) if f.endswith(".rs"))
    return roots


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    depth = 0
    for k, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix, inner = tree[:k], tree[k + 1:matching_brace(tree, k)]
                parts, level, start = [], 0, 0
                for q, c2 in enumerate(inner):
                    level += c2 == "{"
                    level -= c2 == "}"
                    if c2 == "," and level == 0:
                        parts.append(inner[start:q])
                        start = q + 1
                parts.append(inner[start:])
                return [p for part in parts if part for p in expand_use_tree(prefix + part)]
            depth += 1
    return [re.sub(r"\bas\b.*$", "", tree)]


def file_edges(module, path, modules):
    """The files whose items this file's non-test code names."""
    code = strip_test_items(strip_comments_and_strings(open(path, encoding="utf-8").read()))
    own_children = {k[len(module)] for k in modules if len(k) > len(module) and k[:len(module)] == module}
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths += [p.replace(" ", "") for p in expand_use_tree(m.group(1))]
    # Paths in expressions and types: crate::a::b, super::c, self::d.
    for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*\w+)+)", code):
        paths.append(re.sub(r"\s+", "", m.group(1)))
    # Expression paths through a child module by its bare name: child::item.
    for m in re.finditer(r"(?<![\w:])(\w+)\s*::\s*\w+", code):
        if m.group(1) in own_children:
            paths.append("self::" + re.sub(r"\s+", "", m.group(0)))
    targets = set()
    for p in paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            base, rest = (), segs[1:]
        elif segs[0] in ("super", "self"):
            base = module
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            rest = segs
        elif segs[0] in own_children:
            base, rest = module, segs
        else:
            continue  # another crate, std, or a name already in scope
        target = base
        for s in rest:
            if target + (s,) in modules:
                target = target + (s,)
            else:
                break
        if target == module or target[:len(module)] == module:
            continue  # itself, or one of its own submodules
        targets.add(target)
    return targets


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    show_graph = "--graph" in argv
    crates = [a for a in argv if not a.startswith("--")] or [c for c in CRATES if os.path.isdir(c)]
    problems = []
    for root in [r for crate in crates for r in crate_roots(crate)]:
        modules = crate_modules(root)
        graph = {}
        for module, path in modules.items():
            graph[module] = file_edges(module, path, modules)
            code = strip_test_items(strip_comments_and_strings(open(path, encoding="utf-8").read()))
            loc = lines_of_code(code)
            if loc > MAX_LINES_OF_CODE:
                problems.append(f"{path}: {loc} lines of code (more than {MAX_LINES_OF_CODE}: split it along its own headings)")
        if show_graph:
            for module in sorted(graph):
                for t in sorted(graph[module]):
                    print(f"{modules[module]} -> {modules[t]}")
        for comp in cycles(graph):
            files = " <-> ".join(modules[m] for m in comp)
            problems.append(f"import cycle: {files}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"architecture: {len(crates)} packages, no import cycle, no file over {MAX_LINES_OF_CODE} lines of code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
