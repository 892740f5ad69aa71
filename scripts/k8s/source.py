"""What the manifests must agree with in the Rust sources, read (not compiled) from them:
the setting names and defaults of the settings as written (`RawSettings`, src/config/raw.rs:
the flat table of TOML keys and `SWITCHYARD_*` variables) and the routes the health
module serves at the root (src/http/health.rs, merged by src/http/mod.rs).
"""

import os
import re


# Where the settings are named as users write them.
CONFIG = "src/config/raw.rs"


class SourceError(Exception):
    pass


class Source:
    def __init__(self, repo):
        config = read(repo, CONFIG)
        struct = re.search(r"pub(?:\([^)]*\))? struct RawSettings \{(.*?)\n\}", config, re.S)
        if not struct:
            raise SourceError(f"{CONFIG}: `struct RawSettings {{ ... }}` not found")
        self.settings = set(re.findall(r"^\s*pub (\w+):", struct.group(1), re.M))
        if not self.settings:
            raise SourceError(f"{CONFIG}: no `pub field:` in RawSettings")
        grace = re.search(r"shutdown_grace_secs:\s*(\d+)", config)
        self.default_shutdown_grace_secs = int(grace.group(1)) if grace else None
        bind = re.search(r"bind: SocketAddr::from\(\(\[[^\]]*\],\s*(\d+)\)\)", config)
        self.default_port = int(bind.group(1)) if bind else None

        health = read(repo, "src/http/health.rs")
        routes = read(repo, "src/http/mod.rs")
        if "merge(health::routes())" not in routes:
            raise SourceError("src/http/mod.rs no longer merges health::routes() at the root")
        self.root_routes = set(re.findall(r'\.route\(\s*"([^"]+)"', health))
        if not self.root_routes:
            raise SourceError("src/http/health.rs: no .route(\"...\") found")

    def env_setting(self, name):
        """The setting an environment variable sets, or None for a non-setting variable."""
        if name.startswith("SWITCHYARD_"):
            return name[len("SWITCHYARD_"):].lower()
        return None


def read(repo, rel):
    path = os.path.join(repo, rel)
    try:
        with open(path) as f:
            return f.read()
    except OSError as err:
        raise SourceError(f"{rel}: {err}") from None
