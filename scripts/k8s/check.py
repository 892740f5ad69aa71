"""Offline check of k8s/: renders every kustomization (kubectl or kustomize when present,
and always the fallback in render.py, which must agree with them), validates every
rendered object and every file no kustomization uses, then checks the objects against
each other and against the Rust sources. Exit status 1 on any failure.

    python check.py [--repo DIR] [--quiet] [--self-test]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

import consistency
import render
import schemas
from source import Source, SourceError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    parser.add_argument("--self-test", action="store_true",
                        help="also break copies of the manifests and expect each to fail")
    args = parser.parse_args()
    repo = os.path.abspath(args.repo)
    failures = run(repo, os.path.join(repo, "k8s"), args.quiet, out=sys.stdout)
    if args.self_test and failures:
        print("== self-test skipped: the manifests already fail")
    elif args.self_test:
        failures += self_test(repo)
    print(f"check-k8s: {'FAILED, ' + str(failures) + ' problem(s)' if failures else 'all checks passed'}")
    return 1 if failures else 0


def external_renderer():
    """The real kustomize, if this machine has one: (label, argv prefix) or None."""
    choice = os.environ.get("CHECK_K8S_RENDERER", "auto")
    if choice in ("auto", "kubectl") and shutil.which("kubectl"):
        return "kubectl kustomize", ["kubectl", "kustomize"]
    if choice in ("auto", "kustomize") and shutil.which("kustomize"):
        return "kustomize build", ["kustomize", "build"]
    return None


def run(repo, k8s, quiet, out):
    """Checks the manifests under `k8s` against the sources in `repo`; the failure count."""
    found = Report(quiet, out)
    try:
        source = Source(repo)
    except SourceError as err:
        found.expect(False, "read settings and routes from the Rust sources", str(err))
        found.section("sources")
        return 1
    found.expect(True, f"src/config/raw.rs: {len(source.settings)} settings; "
                 f"src/http/health.rs: routes {', '.join(sorted(source.root_routes))}")
    found.section("sources")

    folders = sorted(d for d, _, files in os.walk(k8s) if set(files) & set(render.KUSTOMIZATION_FILES))
    used, bases = set(), set()
    for folder in folders:
        mine = render.referenced(folder)
        used |= mine
        bases |= {os.path.dirname(f) for f in mine if os.path.basename(f) in render.KUSTOMIZATION_FILES
                  and os.path.dirname(f) != os.path.abspath(folder)}
    tool = external_renderer()
    generated = generator_names(folders)
    wanted = set()
    for folder in folders:
        rel = os.path.relpath(folder, repo)
        partial = os.path.abspath(folder) in bases
        objects = render_one(folder, rel, os.path.dirname(k8s), tool, generated, found)
        if objects is not None:
            check_objects(objects, source, partial, found)
            wanted |= consistency.hpa_custom_metrics(objects)
        found.section(f"{rel} ({'base' if partial else 'overlay'}, rendered with "
                      f"{tool[0] + ' and the fallback' if tool else 'the fallback renderer only'})")

    served = check_standalone(repo, k8s, used, found)
    for metric in sorted(wanted):
        found.expect(metric in served, f"HPA metric {metric} is served by a prometheus-adapter rule",
                     f"rules in k8s/ serve {sorted(served) or 'nothing'}")
    found.section("standalone files and custom metrics")
    return len(found.failed)


def check_objects(objects, source, partial, found):
    for obj in objects:
        problems = schemas.check(obj)
        how = ("structural" if obj["kind"] == "ServiceMonitor" else
               f"Kubernetes {' and '.join(schemas.KUBERNETES_VERSIONS)}, strict")
        found.expect(not problems, f"schema {obj['kind']}/{obj['metadata'].get('name')} ({how})",
                     "; ".join(problems))
    try:
        consistency.check_rendering(objects, source, partial, found)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
        found.expect(False, "cross-checks", f"stopped on a malformed object ({type(err).__name__}: {err})")


def check_standalone(repo, k8s, used, found):
    """Validates the YAML files no kustomization uses; the metrics their adapter rules serve."""
    served = set()
    for dirpath, _, files in sorted(os.walk(k8s)):
        for f in sorted(files):
            path = os.path.abspath(os.path.join(dirpath, f))
            if path in used or f in render.KUSTOMIZATION_FILES:
                continue
            rel = os.path.relpath(path, repo)
            if f.endswith(".json") and os.path.basename(dirpath) == "grafana":
                check_dashboard(path, rel, found)
                continue
            if not f.endswith((".yaml", ".yml")):
                found.expect(False, rel, "no kustomization uses this file")
                continue
            try:
                docs = render.load_docs(path)
            except render.RenderError as err:
                found.expect(False, f"{rel} loads", str(err))
                continue
            for obj in docs:
                problems = schemas.check(obj)
                name = (obj.get("metadata") or {}).get("name") if isinstance(obj, dict) else None
                found.expect(not problems, f"{rel}: schema {obj.get('kind')}/{name} (standalone)",
                             "; ".join(problems))
                if not problems and consistency.is_adapter_config(obj):
                    served |= consistency.adapter_metrics(obj, found)
    return served


def check_dashboard(path, rel, found):
    """A Grafana dashboard: JSON with a title and panels that each query PromQL. Whether the
    server exports the metrics it names is tested against a running server
    (tests/api/dashboard.rs)."""
    try:
        with open(path) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as err:
        found.expect(False, f"{rel} is JSON", str(err))
        return
    if not isinstance(dashboard, dict):
        found.expect(False, f"{rel}: Grafana dashboard", "not a JSON object")
        return

    def walk(panels):
        for panel in panels if isinstance(panels, list) else []:
            if isinstance(panel, dict):
                yield panel
                yield from walk(panel.get("panels"))

    graphs = [p for p in walk(dashboard.get("panels")) if p.get("type") != "row"]
    problems = [] if dashboard.get("title") else ["no title"]
    if not graphs:
        problems.append("no panels")
    for panel in graphs:
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets or not all(
                isinstance(t, dict) and isinstance(t.get("expr"), str) and t["expr"].strip()
                for t in targets):
            problems.append(f"panel {panel.get('title')!r} has no PromQL target")
    found.expect(not problems, f"{rel}: Grafana dashboard, {len(graphs)} panels querying PromQL",
                 "; ".join(problems))


class Report(consistency.Findings):
    """Findings printed a section at a time; `quiet` prints failures only."""

    def __init__(self, quiet, out):
        super().__init__()
        self.quiet, self.out, self.printed = quiet, out, 0

    def section(self, header):
        lines, self.printed = self.lines[self.printed:], len(self.lines)
        shown = [line for line in lines if line[0] == "FAIL" or not self.quiet]
        if shown or not self.quiet:
            print(f"== {header}", file=self.out)
        for status, what, why in shown:
            print(f"  {status:4}  {what}" + (f": {why}" if why else ""), file=self.out)


def render_one(folder, rel, root, tool, generated, found):
    """Objects of one kustomization, or None when it does not render."""
    try:
        fallback = render.render(folder)
        found.expect(True, f"fallback render: {len(fallback)} objects, every file and patch target exists")
    except render.RenderError as err:
        found.expect(False, "fallback render", str(err).replace(root + os.sep, ""))
        fallback = None
    if tool is None:
        return fallback
    done = subprocess.run(tool[1] + [folder], capture_output=True, text=True)
    if not found.expect(done.returncode == 0, f"{tool[0]} {rel}",
                        done.stderr.strip().replace(root + os.sep, "")[-800:]):
        return None
    objects = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    if fallback is not None:
        ours, theirs = normalise(fallback, generated), normalise(objects, generated)
        differ = sorted("/".join(filter(None, k)) for k in set(ours) | set(theirs)
                        if ours.get(k) != theirs.get(k))
        found.expect(not differ, f"fallback render equals {tool[0]} (generated names without hash)",
                     f"differ: {differ}")
    return objects


def generator_names(folders):
    names = set()
    for folder in folders:
        try:
            [k] = render.load_docs(render.kustomization_file(folder))
        except (render.RenderError, ValueError):
            continue
        for key in ("configMapGenerator", "secretGenerator"):
            names |= {g.get("name") for g in k.get(key) or [] if isinstance(g, dict)}
    return names


def normalise(objects, generated):
    """Keyed by identity, with kustomize's content hash cut from generated names."""
    def fix(value):
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str):
            for name in generated:
                if re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", value):
                    return name
        return value
    fixed = [fix(o) for o in objects]
    return {render.identity(o): o for o in fixed}


# Each breaks a copy of k8s/ in one way the check must catch.
MUTATIONS = {
    "unknown field in the Deployment (readinesProbe)":
        ("base/deployment.yaml", "readinessProbe:", "readinesProbe:"),
    "readiness probe on a path the gateway does not serve":
        ("base/deployment.yaml", "path: /health/ready", "path: /healthz"),
    "overlay patch aimed at an Ingress that does not exist":
        ("overlays/example/ingress-host.yaml", "name: switchyard\n", "name: switchyard-web\n"),
    "settings file with a key src/config/raw.rs does not know":
        ("base/switchyard.toml", "shutdown_grace_secs = 25", "shutdown_grace_seconds = 25"),
    "termination grace shorter than preStop plus drain":
        ("base/deployment.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30"),
    "ServiceMonitor without endpoints":
        ("base/servicemonitor.yaml", "  endpoints:\n", "  endpoints: []\n  x:\n"),
    "kustomization naming a missing file":
        ("base/kustomization.yaml", "  - pdb.yaml", "  - pdb.yml"),
    "dashboard panel without a query":
        ("grafana/switchyard-dashboard.json", '"expr": "sum by (pod)', '"legend": "sum by (pod)'),
    "HPA metric no adapter rule serves":
        ("base/hpa.yaml", "name: switchyard_connections", "name: switchyard_sockets"),
}


def self_test(repo):
    print("== self-test: each broken copy of k8s/ must fail")
    failures = 0
    for label, (rel, old, new) in MUTATIONS.items():
        with tempfile.TemporaryDirectory() as tmp:
            k8s = os.path.join(tmp, "k8s")
            shutil.copytree(os.path.join(repo, "k8s"), k8s)
            path = os.path.join(k8s, rel)
            with open(path) as f:
                text = f.read()
            if old not in text:
                print(f"  FAIL  {label}: {rel} no longer contains {old!r}; update MUTATIONS")
                failures += 1
                continue
            with open(path, "w") as f:
                f.write(text.replace(old, new, 1))
            log = Capture()
            caught = run(repo, k8s, quiet=True, out=log)
            first = next((l.strip() for l in log.lines if l.lstrip().startswith("FAIL")), "")
            if caught:
                print(f"  ok    {label}: caught ({first[:160]})")
            else:
                print(f"  FAIL  {label}: not caught")
                failures += 1
    return failures


class Capture:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines += text.splitlines()

    def flush(self):
        pass


if __name__ == "__main__":
    sys.exit(main())
