"""Checks across the objects of one rendering, and against the Rust sources: selectors
that select, ports and references that exist, probes on real routes, settings that
src/config/raw.rs knows, and a termination grace that outlasts preStop plus the drain.
"""

import tomllib

import yaml

NON_SETTING_ENV = ("RUST_LOG", "OTEL_")
ADAPTER_LABEL = ("app.kubernetes.io/name", "prometheus-adapter")


class Findings:
    """Collects one line per check: ("ok" | "FAIL", what, why)."""

    def __init__(self):
        self.lines = []

    def expect(self, condition, what, why=""):
        self.lines.append(("ok" if condition else "FAIL", what, "" if condition else why))
        return condition

    @property
    def failed(self):
        return [line for line in self.lines if line[0] == "FAIL"]


def by_kind(objects, kind):
    return [o for o in objects if o.get("kind") == kind]


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def check_rendering(objects, source, partial, found):
    """`partial`: a base, whose Secrets an overlay supplies."""
    deployments = by_kind(objects, "Deployment")
    found.expect(deployments, "a Deployment is rendered", "none found")
    for dep in deployments:
        check_deployment(dep, objects, source, partial, found)
    for svc in by_kind(objects, "Service"):
        check_service(svc, deployments, found)
    for ing in by_kind(objects, "Ingress"):
        check_ingress(ing, objects, found)
    for hpa in by_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        found.expect(any(o.get("kind") == ref["kind"] and o["metadata"]["name"] == ref["name"]
                         for o in objects),
                     f"{name_of(hpa)} scales an existing {ref['kind']}/{ref['name']}", "not rendered")
    for pdb in by_kind(objects, "PodDisruptionBudget"):
        sel = pdb["spec"]["selector"].get("matchLabels", {})
        found.expect(any(matches(sel, d["spec"]["template"]["metadata"]["labels"]) for d in deployments),
                     f"{name_of(pdb)} selects the gateway's pods", f"selector {sel} selects no pods")
    for sm in by_kind(objects, "ServiceMonitor"):
        check_service_monitor(sm, objects, source, found)


def check_deployment(dep, objects, source, partial, found):
    what = name_of(dep)
    spec = pod_spec(dep)
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    found.expect(matches(dep["spec"]["selector"].get("matchLabels"), labels),
                 f"{what}: selector matches its pod labels", f"{dep['spec']['selector']} vs {labels}")
    found.expect(spec.get("enableServiceLinks") is False, f"{what}: enableServiceLinks is false",
                 "Service links would inject SWITCHYARD_* variables, which are settings")
    toml_settings = {}
    for c in spec["containers"]:
        cwhat = f"{what} container {c['name']}"
        sc = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
        found.expect(sc.get("runAsNonRoot") is True, f"{cwhat}: runAsNonRoot", "not set to true")
        found.expect(sc.get("readOnlyRootFilesystem") is True, f"{cwhat}: readOnlyRootFilesystem",
                     "not set to true")
        res = c.get("resources", {})
        found.expect(all(r in res.get(kind, {}) for kind in ("requests", "limits")
                         for r in ("cpu", "memory")),
                     f"{cwhat}: cpu and memory requests and limits", f"resources: {res}")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = (c.get(probe) or {}).get("httpGet")
            if probe != "startupProbe" or get:
                check_probe(get, ports, source, f"{cwhat}: {probe}", found)
        toml_settings.update(check_config_file(c, spec, objects, source, cwhat, found))
        bind = toml_settings.get("bind")
        port = int(bind.rsplit(":", 1)[1]) if bind else source.default_port
        found.expect(port in ports.values(), f"{cwhat}: exposes the bind port {port}",
                     f"container ports {ports}")
        check_env(c, objects, source, partial, cwhat, found)
        check_grace(c, spec, toml_settings, source, cwhat, found)
    for vol in spec.get("volumes", []):
        check_volume(vol, objects, partial, what, found)


def check_probe(get, ports, source, what, found):
    if not found.expect(get is not None, f"{what} is an httpGet", "missing or not httpGet"):
        return
    found.expect(get["path"] in source.root_routes, f"{what} path {get['path']} is a route",
                 f"src/http/health.rs serves {sorted(source.root_routes)}")
    found.expect(get["port"] in ports or get["port"] in ports.values(),
                 f"{what} port {get['port']} is a container port", f"ports {ports}")


def check_config_file(container, spec, objects, source, what, found):
    """The settings file passed with --config: mounted from an existing ConfigMap key,
    valid TOML, every key a setting. Returns its settings."""
    args = (container.get("command") or []) + (container.get("args") or [])
    if "--config" not in args:
        return {}
    path = args[args.index("--config") + 1]
    mounts = [m for m in container.get("volumeMounts", []) if path.startswith(m["mountPath"] + "/")]
    if not found.expect(mounts, f"{what}: --config {path} is on a volume", "no volumeMount holds it"):
        return {}
    mount = mounts[0]
    vol = next((v for v in spec.get("volumes", []) if v["name"] == mount["name"]), {})
    cm_name = (vol.get("configMap") or {}).get("name")
    cm = next((o for o in by_kind(objects, "ConfigMap") if o["metadata"]["name"] == cm_name), None)
    key = path[len(mount["mountPath"]) + 1:]
    text = (cm or {}).get("data", {}).get(key)
    if not found.expect(text is not None, f"{what}: ConfigMap {cm_name} has key {key}",
                        "ConfigMap or key not rendered"):
        return {}
    try:
        settings = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found.expect(False, f"{what}: {key} is TOML", str(err))
        return {}
    unknown = sorted(set(settings) - source.settings)
    found.expect(not unknown, f"{what}: {key} sets only settings src/config/raw.rs knows "
                 f"({len(settings)} keys)", f"unknown keys {unknown}")
    return settings


def check_env(container, objects, source, partial, what, found):
    for env in container.get("env", []):
        setting = source.env_setting(env["name"])
        if setting is not None:
            found.expect(setting in source.settings, f"{what}: env {env['name']} is a setting",
                         "src/config/raw.rs has no such field")
    for ref in container.get("envFrom", []):
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if key not in ref:
                continue
            name = ref[key]["name"]
            obj = next((o for o in by_kind(objects, kind) if o["metadata"]["name"] == name), None)
            if obj is None:
                found.expect(partial or ref[key].get("optional"),
                             f"{what}: envFrom {kind} {name} " + ("comes from the overlay" if partial
                                                                  else "is rendered"),
                             "referenced but not rendered")
                continue
            keys = set(obj.get("data", {})) | set(obj.get("stringData", {}))
            bad = sorted(k for k in keys if not k.startswith(NON_SETTING_ENV)
                         and source.env_setting(k) not in source.settings)
            found.expect(not bad, f"{what}: envFrom {kind} {name} keys are settings "
                         f"({', '.join(sorted(keys))})", f"not settings: {bad}")


def check_grace(container, spec, settings, source, what, found):
    stop = ((container.get("lifecycle") or {}).get("preStop") or {})
    sleep = (stop.get("sleep") or {}).get("seconds")
    if sleep is None and "exec" in stop:
        cmd = stop["exec"].get("command", [])
        sleep = next((int(a) for a in cmd if str(a).isdigit()), None)
    if not found.expect(sleep is not None, f"{what}: preStop sleeps", "no preStop sleep"):
        return
    drain = settings.get("shutdown_grace_secs", source.default_shutdown_grace_secs)
    total = spec.get("terminationGracePeriodSeconds", 30)
    found.expect(total > sleep + drain,
                 f"{what}: terminationGracePeriodSeconds {total} > preStop {sleep} + drain {drain}",
                 "the kubelet would kill the pod mid-drain")


def check_volume(vol, objects, partial, what, found):
    for kind, key, field in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
        if key not in vol or vol[key].get("optional"):
            continue
        name = vol[key][field]
        exists = any(o["metadata"]["name"] == name for o in by_kind(objects, kind))
        found.expect(exists or (partial and kind == "Secret"),
                     f"{what}: volume {vol['name']} {kind} {name} exists", "not rendered")


def check_service(svc, deployments, found):
    what = name_of(svc)
    pods = [d for d in deployments
            if matches(svc["spec"].get("selector"), d["spec"]["template"]["metadata"].get("labels", {}))]
    if not found.expect(pods, f"{what} selects the gateway's pods", "selector selects nothing"):
        return
    names = {p.get("name") for d in pods for c in pod_spec(d)["containers"] for p in c.get("ports", [])}
    numbers = {p["containerPort"] for d in pods for c in pod_spec(d)["containers"] for p in c.get("ports", [])}
    for port in svc["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        found.expect(target in names or target in numbers,
                     f"{what} port {port.get('name', port['port'])} targets container port {target}",
                     f"containers have {sorted(map(str, names | numbers))}")


def check_ingress(ing, objects, found):
    what = name_of(ing)
    ann = ing["metadata"].get("annotations", {})
    if ing["spec"].get("ingressClassName") == "nginx":
        found.expect(ann.get("nginx.ingress.kubernetes.io/affinity") == "cookie",
                     f"{what}: cookie affinity (long-polling sessions live on one pod)",
                     "nginx.ingress.kubernetes.io/affinity is not cookie")
        for t in ("proxy-read-timeout", "proxy-send-timeout"):
            value = ann.get(f"nginx.ingress.kubernetes.io/{t}", "60")
            found.expect(str(value).isdigit() and int(value) > 60, f"{what}: {t} {value} s > 60 s",
                         "WebSockets need more than nginx's default")
    services = {o["metadata"]["name"]: o for o in by_kind(objects, "Service")}
    for rule in ing["spec"].get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            backend = path["backend"]["service"]
            svc = services.get(backend["name"])
            port = backend["port"].get("name", backend["port"].get("number"))
            ok = svc is not None and any(port in (p.get("name"), p["port"]) for p in svc["spec"]["ports"])
            found.expect(ok, f"{what} {rule.get('host', '*')}{path['path']} -> Service "
                         f"{backend['name']} port {port}", "no such Service port")


def check_service_monitor(sm, objects, source, found):
    what = name_of(sm)
    sel = sm["spec"]["selector"].get("matchLabels", {})
    svcs = [s for s in by_kind(objects, "Service") if matches(sel, s["metadata"].get("labels", {}))]
    if not found.expect(svcs, f"{what} selects a Service", f"no Service has labels {sel}"):
        return
    for ep in sm["spec"]["endpoints"]:
        found.expect(any(ep.get("port") == p.get("name") for s in svcs for p in s["spec"]["ports"]),
                     f"{what} endpoint port {ep.get('port')} is a Service port name", "not found")
        path = ep.get("path", "/metrics")
        found.expect(path in source.root_routes, f"{what} scrapes {path}, a route",
                     f"src/http/health.rs serves {sorted(source.root_routes)}")


def hpa_custom_metrics(objects):
    names = set()
    for hpa in by_kind(objects, "HorizontalPodAutoscaler"):
        for m in hpa["spec"].get("metrics", []):
            if m["type"] in ("Pods", "Object"):
                names.add(m[m["type"].lower()]["metric"]["name"])
    return names


def adapter_metrics(obj, found):
    """The custom metric names a prometheus-adapter ConfigMap serves (checked on the way)."""
    what = f"{name_of(obj)} (prometheus-adapter rules)"
    try:
        config = yaml.safe_load(obj.get("data", {}).get("config.yaml", ""))
    except yaml.YAMLError as err:
        found.expect(False, f"{what}: config.yaml is YAML", str(err))
        return set()
    rules = (config or {}).get("rules")
    if not found.expect(isinstance(rules, list) and rules, f"{what}: has rules", "no `rules` list"):
        return set()
    served = set()
    for i, rule in enumerate(rules):
        overrides = (rule.get("resources") or {}).get("overrides") or {}
        ok = (isinstance(rule.get("seriesQuery"), str)
              and "<<.Series>>" in str(rule.get("metricsQuery", ""))
              and "<<.GroupBy>>" in str(rule.get("metricsQuery", ""))
              and {"namespace", "pod"} <= set(overrides))
        name = (rule.get("name") or {}).get("as")
        found.expect(ok and name, f"{what}: rule {i} maps namespace and pod and names its metric",
                     "needs seriesQuery, resources.overrides for namespace and pod, name.as, "
                     "and a metricsQuery using <<.Series>> and <<.GroupBy>>")
        if name:
            served.add(name)
    return served


def is_adapter_config(obj):
    return (obj.get("kind") == "ConfigMap"
            and (obj["metadata"].get("labels") or {}).get(ADAPTER_LABEL[0]) == ADAPTER_LABEL[1])
