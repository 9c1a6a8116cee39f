"""Print pip constraints that pin each dependency of pyproject.toml to its lower bound.

    python3 scripts/lowest_versions.py [EXTRA ...] > lowest.txt
    pip install -c lowest.txt -e ".[test]"

The lower bounds are claims: .ci/run installs these pins and runs the tests again, so every bound in
pyproject.toml is a version the suite passed on. Requirements without a lower bound are left free; a
requirement this script cannot read is an error (rather than an untested claim).
"""

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# name, optional [extras], then nothing or one lower bound
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?(\s*>=\s*(?P<floor>[^\s,;]+))?$")


def lowest_pins(extras):
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement.strip())
        if match is None:
            raise SystemExit(f"lowest_versions.py: cannot read the requirement {requirement!r} (only NAME or NAME>=X)")
        name, floor = match["name"].lower().replace("_", "-"), match["floor"]
        if floor is not None and pins.get(name, floor) != floor:
            raise SystemExit(f"lowest_versions.py: {name} has two lower bounds ({pins[name]} and {floor})")
        if floor is not None:
            pins[name] = floor
    return pins


def main(argv):
    for name, floor in sorted(lowest_pins(argv).items()):
        print(f"{name}=={floor}")


if __name__ == "__main__":
    main(sys.argv[1:])
