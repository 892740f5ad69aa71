"""A small kustomize for the subset k8s/ uses, for machines without kubectl or kustomize.

It resolves `resources` (files and kustomization folders), `configMapGenerator` and
`secretGenerator` (no name hash), `namespace`, `images` and `patches` (strategic merge
with the usual list merge keys, or JSON 6902 add/replace/remove). Everything else is an
error, and so is a file that does not exist or a patch that matches no object: its job is
to prove that every referenced file exists and every patch lands, and to give the
validators the objects a real kustomize would produce. Where kubectl is present,
check.py compares the two renderings.
"""

import base64
import copy
import os
import re

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = {
    "apiVersion", "kind", "resources", "namespace", "images", "patches",
    "configMapGenerator", "secretGenerator",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass", "APIService",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Node",
}
# Strategic merge: lists of objects merged by this field instead of replaced.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    pass


def kustomization_file(folder):
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def load_docs(path):
    if not os.path.isfile(path):
        raise RenderError(f"{path}: no such file")
    with open(path) as f:
        try:
            return [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as err:
            raise RenderError(f"{path}: not YAML: {err}") from None


def render(folder):
    """The objects the kustomization in `folder` produces."""
    kfile = kustomization_file(folder)
    if kfile is None:
        raise RenderError(f"{folder}: no kustomization.yaml")
    [k] = load_docs(kfile)
    unsupported = set(k) - SUPPORTED_KEYS
    if unsupported:
        raise RenderError(f"{kfile}: the fallback renderer does not handle "
                          f"{sorted(unsupported)}; install kubectl or kustomize")
    objects = []
    for entry in k.get("resources") or []:
        path = os.path.normpath(os.path.join(folder, entry))
        if "://" in entry:
            raise RenderError(f"{kfile}: remote resource {entry} is not supported")
        if os.path.isdir(path):
            objects += render(path)
        else:
            objects += load_docs(path)
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in k.get(key) or []:
            add_generated(objects, generate(kind, gen, folder, kfile), gen.get("behavior"), kfile)
    for patch in k.get("patches") or []:
        apply_patch(objects, patch, folder, kfile)
    if k.get("namespace"):
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = k["namespace"]
    for image in k.get("images") or []:
        set_image(objects, image)
    check_unique(objects, kfile)
    return objects


def referenced(folder):
    """Every file the kustomization in `folder` names, through its bases, whether or not it
    exists or renders: which files are part of a rendering, and which folders are bases."""
    kfile = kustomization_file(folder)
    if kfile is None:
        return set()
    files = {os.path.abspath(kfile)}
    try:
        [k] = load_docs(kfile)
    except (RenderError, ValueError):
        return files
    for entry in k.get("resources") or []:
        path = os.path.normpath(os.path.join(folder, str(entry)))
        files |= referenced(path) if os.path.isdir(path) else {os.path.abspath(path)}
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in k.get(key) or []:
            for spec in gen.get("files") or []:
                files.add(os.path.abspath(os.path.join(folder, str(spec).rpartition("=")[2])))
    for patch in k.get("patches") or []:
        if "path" in patch:
            files.add(os.path.abspath(os.path.join(folder, patch["path"])))
    return files


def generate(kind, gen, folder, kfile):
    if "name" not in gen:
        raise RenderError(f"{kfile}: a {kind} generator without a name")
    unsupported = set(gen) - {"name", "files", "literals", "type", "options", "behavior"}
    if unsupported:
        raise RenderError(f"{kfile}: generator {gen['name']}: unsupported {sorted(unsupported)}")
    data = {}
    for spec in gen.get("files") or []:
        key, _, rel = spec.rpartition("=")
        path = os.path.normpath(os.path.join(folder, rel))
        if not os.path.isfile(path):
            raise RenderError(f"{kfile}: generator {gen['name']}: {path}: no such file")
        with open(path) as f:
            data[key or os.path.basename(rel)] = f.read()
    for literal in gen.get("literals") or []:
        key, sep, value = literal.partition("=")
        if not sep:
            raise RenderError(f"{kfile}: generator {gen['name']}: literal {literal!r} lacks '='")
        data[key] = value
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
    if kind == "Secret":
        obj["type"] = gen.get("type", "Opaque")
        data = {key: base64.b64encode(v.encode()).decode() for key, v in data.items()}
    obj["data"] = data
    return obj


def add_generated(objects, obj, behavior, kfile):
    """`behavior`: create (the default) adds; replace and merge change a base's object."""
    if behavior in (None, "create"):
        objects.append(obj)
        return
    if behavior not in ("replace", "merge"):
        raise RenderError(f"{kfile}: generator behavior {behavior!r} is not supported")
    at = [o for o in objects if o.get("kind") == obj["kind"]
          and o["metadata"].get("name") == obj["metadata"]["name"]]
    if not at:
        raise RenderError(f"{kfile}: {obj['kind']} {obj['metadata']['name']} to {behavior} "
                          "is not in the resources")
    if behavior == "replace":
        at[0]["data"] = obj["data"]
    else:
        at[0]["data"] = {**at[0].get("data", {}), **obj["data"]}


def apply_patch(objects, entry, folder, kfile):
    if "path" in entry:
        path = os.path.normpath(os.path.join(folder, entry["path"]))
        docs = load_docs(path)
        where = path
    elif "patch" in entry:
        docs = [d for d in yaml.safe_load_all(entry["patch"]) if d is not None]
        where = f"{kfile} (inline patch)"
    else:
        raise RenderError(f"{kfile}: a patch needs `path` or `patch`")
    if set(entry) - {"path", "patch", "target"}:
        raise RenderError(f"{kfile}: patch options {sorted(set(entry) - {'path', 'patch', 'target'})} "
                          "are not supported by the fallback renderer")
    if len(docs) != 1:
        raise RenderError(f"{where}: one patch per file, found {len(docs)}")
    patch = docs[0]
    if isinstance(patch, list):
        if "target" not in entry:
            raise RenderError(f"{where}: a JSON 6902 patch needs a target")
        selector = entry["target"]
    else:
        selector = entry.get("target") or {
            "kind": patch.get("kind"), "name": (patch.get("metadata") or {}).get("name"),
            "namespace": (patch.get("metadata") or {}).get("namespace"),
        }
    hits = [i for i, obj in enumerate(objects) if selects(selector, obj, where)]
    if not hits:
        raise RenderError(f"{where}: the patch matches no object (wanted {describe(selector)})")
    for i in hits:
        if isinstance(patch, list):
            objects[i] = json6902(objects[i], patch, where)
        else:
            objects[i] = strategic_merge(objects[i], patch)  # None: `$patch: delete`
    objects[:] = [o for o in objects if o is not None]


def selects(selector, obj, where):
    unsupported = set(selector) - {"kind", "name", "namespace", "group", "version"}
    if unsupported:
        raise RenderError(f"{where}: target fields {sorted(unsupported)} are not supported")
    meta = obj.get("metadata") or {}
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    actual = {"kind": obj.get("kind"), "name": meta.get("name"),
              "namespace": meta.get("namespace"), "group": group, "version": version}
    for key, want in selector.items():
        if want is None:
            continue
        if not re.fullmatch(str(want), str(actual[key] or "")):
            return False
    return True


def describe(selector):
    return ", ".join(f"{k}={v}" for k, v in selector.items() if v is not None)


def strategic_merge(base, patch, key=None):
    """Merges `patch` into `base`; None means the object is deleted."""
    if isinstance(patch, dict):
        directive = patch.get("$patch")
        if directive == "delete":
            return None
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        others = [k for k in patch if k.startswith("$") and k != "$patch"]
        if others or directive not in (None, "merge"):
            raise RenderError(f"strategic merge directive {others or directive} is not supported")
        out = copy.deepcopy(base) if isinstance(base, dict) else {}
        for k, v in patch.items():
            if k == "$patch":
                continue
            if v is None:
                out.pop(k, None)
            elif k in out:
                merged = strategic_merge(out[k], v, k)
                if merged is None:
                    out.pop(k)
                else:
                    out[k] = merged
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(patch, list) and isinstance(base, list):
        merge_key = MERGE_KEYS.get(key)
        if key == "ports" and patch and isinstance(patch[0], dict):
            merge_key = "containerPort" if "containerPort" in patch[0] else "port"
        if merge_key and all(isinstance(p, dict) and merge_key in p for p in patch):
            out = copy.deepcopy(base)
            for item in patch:
                at = [i for i, b in enumerate(out) if isinstance(b, dict)
                      and b.get(merge_key) == item[merge_key]]
                if at:
                    merged = strategic_merge(out[at[0]], item)
                    if merged is None:
                        out.pop(at[0])
                    else:
                        out[at[0]] = merged
                elif item.get("$patch") != "delete":
                    out.append(copy.deepcopy(item))
            return out
    return copy.deepcopy(patch)


def json6902(obj, ops, where):
    obj = copy.deepcopy(obj)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts or kind not in ("add", "replace", "remove"):
            raise RenderError(f"{where}: unsupported JSON patch operation {op}")
        parent = obj
        try:
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            last = parts[-1]
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op["value"])
                elif kind == "replace":
                    parent[index] = op["value"]
                else:
                    parent.pop(index)
            else:
                if kind != "add" and last not in parent:
                    raise KeyError(last)
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = op["value"]
        except (KeyError, IndexError, ValueError, TypeError):
            raise RenderError(f"{where}: JSON patch path {path} does not exist") from None
    return obj


def set_image(objects, image):
    for obj in objects:
        if obj.get("kind") not in POD_TEMPLATE_KINDS:
            continue
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            repo, tag = split_image(container.get("image", ""))
            if repo != image["name"]:
                continue
            repo = image.get("newName", repo)
            if "digest" in image:
                container["image"] = f"{repo}@{image['digest']}"
            else:
                tag = image.get("newTag", tag)
                container["image"] = f"{repo}:{tag}" if tag else repo


def split_image(ref):
    """`repo[:tag][@digest]` -> (repo, tag); a registry port is not a tag."""
    ref = ref.split("@")[0]
    if ":" in ref.rsplit("/", 1)[-1]:
        repo, tag = ref.rsplit(":", 1)
        return repo, tag
    return ref, None


def check_unique(objects, kfile):
    seen = set()
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "metadata" not in obj:
            raise RenderError(f"{kfile}: a resource without kind or metadata: {str(obj)[:80]}")
        key = identity(obj)
        if key in seen:
            raise RenderError(f"{kfile}: {'/'.join(filter(None, key))} is defined twice")
        seen.add(key)


def identity(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("namespace"), meta.get("name"))
