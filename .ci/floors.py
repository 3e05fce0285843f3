"""Pin every declared dependency floor, or check an environment against the floors.

``python .ci/floors.py constraints EXTRA...`` prints a pip constraints file with
``name==floor`` for each requirement of ``[project] dependencies`` and of the named
optional-dependency groups in ``pyproject.toml``. Every such requirement must state
a floor with ``>=``. ``--pin NAME==VERSION`` replaces one floor (torch and torchvision
are installed from the builds on the machine's disk).

``python .ci/floors.py check EXTRA...`` compares the installed versions with the same
pins and exits non-zero on any difference, so that a job that installs the floors
fails when pip resolved something else.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    sys.exit("floors.py reads pyproject.toml with tomllib: run it with Python 3.11+")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> str:
    """Return the release without a local tag or trailing zeros: 2.1.0+cpu -> 2.1."""
    return re.sub(r"(\.0)+$", "", version.split("+")[0])


def floors(extras: list[str], pins: dict[str, str]) -> dict[str, str]:
    """Return ``{name: version}`` for the project's dependencies and ``extras``."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        if extra not in project["optional-dependencies"]:
            sys.exit(f"{extra!r} is not an optional-dependency group of the project")
        requirements += project["optional-dependencies"][extra]
    result: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        name, spec = _normalise(match.group(1)), match.group(3).strip()
        floor = re.fullmatch(r">=\s*([0-9][0-9A-Za-z.]*)", spec)
        if floor is None:
            sys.exit(f"{requirement!r}: state the dependency floor as 'name>=version'")
        if result.get(name, floor.group(1)) != floor.group(1):
            sys.exit(f"{name}: two different floors in pyproject.toml")
        result[name] = floor.group(1)
    for name, version in pins.items():
        if _normalise(name) not in result:
            sys.exit(f"--pin {name}: not a requirement of the project")
        result[_normalise(name)] = version
    return result


def main() -> None:
    """Print the constraints or check the environment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["constraints", "check"])
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--pin", action="append", default=[], metavar="NAME==VER")
    args = parser.parse_args()
    pins = dict(pin.split("==", 1) for pin in args.pin)
    pinned = floors(args.extras, pins)
    if args.command == "constraints":
        for name, version in sorted(pinned.items()):
            print(f"{name}=={version}")
        return
    wrong = []
    for name, version in sorted(pinned.items()):
        installed = metadata.version(name)
        if _release(installed) != _release(version):
            wrong.append(f"{name}: floor {version}, installed {installed}")
    if wrong:
        sys.exit("Installed versions differ from the floors:\n" + "\n".join(wrong))
    print(f"{len(pinned)} requirements installed at their floors")


if __name__ == "__main__":
    main()
