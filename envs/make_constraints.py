"""Write constraints.txt: the installed versions of metpot's runtime dependencies and all of
theirs (and of the `slurm` and `docs` extras), from the environment this runs in.

    python envs/make_constraints.py > constraints.txt

Left out: metpot itself, editable installs, and packages only the `test` extra brings in.
"""

import json
import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("slurm", "docs")


def requirements(dist, extras=()):
    env = default_environment()
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None:
            yield req
            continue
        for extra in ("", *extras):
            if req.marker.evaluate({**env, "extra": extra}):
                yield req
                break


def closure(roots):
    seen = {}
    stack = list(roots)
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue  # an optional dependency that is not installed
        seen[name] = dist
        stack.extend(requirements(dist, req.extras))
    return seen


def editable(dist):
    text = dist.read_text("direct_url.json")
    return bool(text) and json.loads(text).get("dir_info", {}).get("editable", False)


def main():
    metpot = distribution("metpot")
    deps = closure(requirements(metpot, EXTRAS))
    deps.pop("metpot", None)
    lines = [
        "# pip install . -c constraints.txt   (pip install \".[slurm,docs]\" -c constraints.txt)",
        "# The versions metpot is tested with: its dependencies and theirs, pinned.",
        "# Regenerate from a working environment:",
        "#   python envs/make_constraints.py > constraints.txt",
    ]
    for _, dist in sorted(deps.items()):
        if editable(dist):
            continue
        lines.append(f"{dist.metadata['Name']}=={dist.version}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
