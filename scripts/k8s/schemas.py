"""Schema checks of single objects: built-in kinds against the Kubernetes OpenAPI schemas
that kubernetes-validate ships (strict: an unknown field is an error), the Prometheus
operator's ServiceMonitor by a structural check of the fields we use, anything else is
an error (a kind nobody checks is a kind nobody notices breaking).
"""

import re

import kubernetes_validate

# Oldest Kubernetes the manifests claim (the preStop `sleep` action is on by default from
# 1.30) and the newest schema the pinned kubernetes-validate carries.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
                      r"(([0-9]+)s)?(([0-9]+)ms)?)$")
SERVICE_MONITOR_SPEC = {
    "selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels",
    "podTargetLabels", "sampleLimit", "targetLimit", "labelLimit", "attachMetadata",
}
ENDPOINT_FIELDS = {
    "port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
    "honorTimestamps", "relabelings", "metricRelabelings", "params", "tlsConfig",
    "authorization", "basicAuth", "bearerTokenSecret", "oauth2", "followRedirects",
    "enableHttp2", "filterRunning", "proxyUrl", "trackTimestampsStaleness",
}


def check(obj):
    """A list of problems with `obj`, empty when it is valid."""
    if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
        return ["not a Kubernetes object (no apiVersion or kind)"]
    if obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "ServiceMonitor":
        return service_monitor(obj)
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as err:
            return [f"no schema and no structural check for {obj['apiVersion']} "
                    f"{obj['kind']} ({err.message})"]
        except kubernetes_validate.ValidationError as err:
            at = ".".join(str(p) for p in err.path) or "(top)"
            problems.append(f"Kubernetes {version}: {at}: {err.message}")
    return problems


def service_monitor(obj):
    problems = []
    meta = obj.get("metadata") or {}
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        problems.append("metadata.name is missing")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return problems + ["spec is missing"]
    unknown = set(spec) - SERVICE_MONITOR_SPEC
    if unknown:
        problems.append(f"spec: unknown fields {sorted(unknown)}")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels")
                                              or selector.get("matchExpressions")):
        problems.append("spec.selector needs matchLabels or matchExpressions")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return problems + ["spec.endpoints must be a non-empty list"]
    for i, ep in enumerate(endpoints):
        where = f"spec.endpoints.{i}"
        if not isinstance(ep, dict):
            problems.append(f"{where}: not an object")
            continue
        unknown = set(ep) - ENDPOINT_FIELDS
        if unknown:
            problems.append(f"{where}: unknown fields {sorted(unknown)}")
        if not isinstance(ep.get("port"), str) and "targetPort" not in ep:
            problems.append(f"{where}: needs a named `port` (or targetPort)")
        if "path" in ep and not str(ep["path"]).startswith("/"):
            problems.append(f"{where}.path must start with /")
        for field in ("interval", "scrapeTimeout"):
            if field in ep and not DURATION.match(str(ep[field])):
                problems.append(f"{where}.{field}: {ep[field]!r} is not a Prometheus duration")
        if ep.get("scheme", "http") not in ("http", "https"):
            problems.append(f"{where}.scheme must be http or https")
    return problems
