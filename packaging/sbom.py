#!/usr/bin/env python3
"""SBOM and licence check for keyceremony, from `cargo metadata`.

    packaging/sbom.py [--manifest-path Cargo.toml] [--target TRIPLE] [--offline]
                      [--check-licenses packaging/licenses-allowed.txt]
                      [--sbom OUT.cdx.json] [--license-texts OUT.txt]

Which crates: everything the `keyceremony` package needs to build for the
target: its normal dependencies and, transitively, theirs and their build
dependencies (build scripts, proc macros). Dev-dependencies (test-only) are
left out: they are in no release artefact. Each crate is marked `runtime`
(in the binary's dependency graph: reached through normal edges only, not a
proc macro) or `build` (runs only at build time: build scripts' dependencies,
proc macros).

--sbom writes CycloneDX 1.5 JSON: name, version, purl, SPDX licence
expression, the SHA-256 of the crate file from Cargo.lock, its role, and the
dependency graph. No time stamp other than SOURCE_DATE_EPOCH (when set) and
sorted throughout, so the same Cargo.lock gives the same file.

--check-licenses fails (exit 1, listing every offender) when a crate's
licence expression cannot be satisfied with the SPDX identifiers in the
allow-list file (one per line, `#` comments; "X WITH Y" for an exception).
`A OR B` needs one side allowed, `A AND B` both; the old `A/B` means `A OR B`.
A crate with no `license` field fails too.

--license-texts gathers the LICENSE/COPYING/NOTICE files of every runtime
crate into one text file, for the package's doc folder.

Only the Python standard library; needs cargo on PATH.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT_NAME = "keyceremony"
LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|UNLICENSE|COPYRIGHT)", re.I)


def cargo_metadata(manifest: Path, target: str, offline: bool) -> dict:
    cmd = [
        "cargo", "metadata", "--format-version", "1", "--locked",
        "--manifest-path", str(manifest), "--filter-platform", target,
    ]
    if offline:
        cmd += ["--offline", "--frozen"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def shipped_crates(meta: dict):
    """(packages by id, {id: role}, {id: [dep ids]}) for the root's build."""
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    if root is None or packages[root]["name"] != ROOT_NAME:
        sys.exit(f"sbom: the manifest's root package is not {ROOT_NAME}")

    def edges(node_id, kinds):
        for dep in nodes[node_id]["deps"]:
            if any(k["kind"] in kinds for k in dep["dep_kinds"]):
                yield dep["pkg"]

    def is_proc_macro(pkg_id):
        return any("proc-macro" in t["kind"] for t in packages[pkg_id]["targets"])

    # Runtime: normal edges from the root, never through a proc macro.
    runtime, todo = set(), [root]
    while todo:
        cur = todo.pop()
        for dep in edges(cur, {None}):
            if dep not in runtime and not is_proc_macro(dep):
                runtime.add(dep)
                todo.append(dep)
    # Everything the build needs: normal and build edges, proc macros included.
    needed, todo = set(), [root]
    graph = {}
    while todo:
        cur = todo.pop()
        deps = sorted(set(edges(cur, {None, "build"})))
        graph[cur] = deps
        for dep in deps:
            if dep not in needed:
                needed.add(dep)
                todo.append(dep)
    roles = {pid: ("runtime" if pid in runtime else "build") for pid in needed}
    return packages, roles, graph, root


# ------------------------------------------------------------- licences

def parse_allow_list(path: Path) -> set:
    allowed = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            allowed.add(" ".join(line.split()))
    return allowed


def licence_satisfied(expr: str, allowed: set) -> bool:
    """Evaluates an SPDX expression: True if it can be met with `allowed`."""
    tokens = re.findall(r"\(|\)|[^\s()/]+|/", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("unexpected end")
        pos += 1
        return tokens[pos - 1]

    def primary():
        tok = take()
        if tok == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError("unbalanced parenthesis")
            return value
        if tok in (")", "AND", "OR", "WITH", "/"):
            raise ValueError(f"unexpected {tok!r}")
        ident = tok.rstrip("+")
        if peek() == "WITH":
            take()
            return f"{ident} WITH {take()}" in allowed
        return ident in allowed

    def conjunction():
        value = primary()
        while peek() == "AND":
            take()
            value = primary() and value
        return value

    def disjunction():
        value = conjunction()
        while peek() in ("OR", "/"):
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"trailing {tokens[pos]!r}")
    return result


def check_licences(packages, roles, allow_path: Path) -> list:
    allowed = parse_allow_list(allow_path)
    problems = []
    for pid in sorted(roles, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        expr = p.get("license")
        name = f"{p['name']} {p['version']}"
        if not expr:
            problems.append(f"{name}: no SPDX licence in its Cargo.toml (license_file: {p.get('license_file')})")
            continue
        try:
            ok = licence_satisfied(expr, allowed)
        except ValueError as e:
            problems.append(f"{name}: cannot read the licence expression {expr!r}: {e}")
            continue
        if not ok:
            problems.append(f"{name}: licence {expr!r} is not covered by {allow_path}")
    return problems


# ----------------------------------------------------------------- SBOM

def purl(p) -> str:
    return f"pkg:cargo/{p['name']}@{p['version']}"


def lock_checksums(lock_path: Path) -> dict:
    lock = tomllib.loads(lock_path.read_text())
    return {
        (pkg["name"], pkg["version"]): pkg["checksum"]
        for pkg in lock.get("package", [])
        if "checksum" in pkg
    }


def cyclonedx(packages, roles, graph, root, checksums) -> dict:
    root_pkg = packages[root]
    metadata = {
        "component": {
            "type": "application",
            "bom-ref": purl(root_pkg),
            "name": root_pkg["name"],
            "version": root_pkg["version"],
            "purl": purl(root_pkg),
            "licenses": [{"expression": root_pkg["license"]}],
        },
        "tools": {"components": [{"type": "application", "name": "packaging/sbom.py"}]},
    }
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde:
        stamp = datetime.datetime.fromtimestamp(int(sde), datetime.timezone.utc)
        metadata["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    components = []
    for pid in sorted(roles, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        comp = {
            "type": "library",
            "bom-ref": purl(p),
            "name": p["name"],
            "version": p["version"],
            "purl": purl(p),
            "licenses": [{"expression": p["license"]}] if p.get("license") else [],
            "properties": [{"name": "keyceremony:role", "value": roles[pid]}],
        }
        checksum = checksums.get((p["name"], p["version"]))
        if checksum:
            comp["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        if p.get("repository"):
            comp["externalReferences"] = [{"type": "vcs", "url": p["repository"]}]
        components.append(comp)
    dependencies = [
        {"ref": purl(packages[pid]), "dependsOn": sorted(purl(packages[d]) for d in deps)}
        for pid, deps in sorted(graph.items(), key=lambda kv: purl(packages[kv[0]]))
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    }


def licence_texts(packages, roles) -> str:
    out = [
        "Licences of the crates linked into keyceremony",
        "==============================================",
        "",
        "Each section: crate, version, SPDX licence expression, then the licence",
        "files the crate ships (LICENSE*, COPYING*, NOTICE*...). A text that is",
        "byte for byte the same as one given earlier is named, not repeated.",
        "",
    ]
    seen = {}
    runtime = [pid for pid in roles if roles[pid] == "runtime"]
    for pid in sorted(runtime, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        crate_dir = Path(p["manifest_path"]).parent
        out.append("-" * 78)
        out.append(f"{p['name']} {p['version']}: {p.get('license')}")
        files = sorted(f for f in crate_dir.iterdir() if f.is_file() and LICENSE_FILE.match(f.name))
        if not files:
            out.append("(the crate ships no licence file; its licence is the expression above)")
        for f in files:
            text = f.read_text(errors="replace").rstrip("\n")
            first = seen.setdefault(text, f"{p['name']} {p['version']} {f.name}")
            if first != f"{p['name']} {p['version']} {f.name}":
                out.append(f"--- {f.name}: the same text as {first}, above")
                continue
            out.append(f"--- {f.name}")
            out.append(text)
        out.append("")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest-path", type=Path, default=Path(__file__).resolve().parent.parent / "Cargo.toml")
    ap.add_argument("--target", default="x86_64-unknown-linux-gnu")
    ap.add_argument("--offline", action="store_true", help="cargo --offline --frozen (vendored source archive)")
    ap.add_argument("--check-licenses", type=Path, metavar="ALLOW_LIST")
    ap.add_argument("--sbom", type=Path, metavar="OUT")
    ap.add_argument("--license-texts", type=Path, metavar="OUT")
    args = ap.parse_args()

    meta = cargo_metadata(args.manifest_path, args.target, args.offline)
    packages, roles, graph, root = shipped_crates(meta)
    runtime = sum(1 for r in roles.values() if r == "runtime")
    print(f"sbom: {len(roles)} crates ({runtime} in the binary's dependency graph, {len(roles) - runtime} build-time only)")

    if args.sbom:
        checksums = lock_checksums(args.manifest_path.parent / "Cargo.lock")
        doc = cyclonedx(packages, roles, graph, root, checksums)
        args.sbom.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"sbom: wrote {args.sbom} (CycloneDX 1.5)")
    if args.license_texts:
        args.license_texts.write_text(licence_texts(packages, roles))
        print(f"sbom: wrote {args.license_texts}")
    if args.check_licenses:
        problems = check_licences(packages, roles, args.check_licenses)
        if problems:
            print(f"licence check FAILED: {len(problems)} crate(s) outside {args.check_licenses}:", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            sys.exit(1)
        print(f"licence check: all {len(roles)} crates are under licences in {args.check_licenses}")


if __name__ == "__main__":
    main()
