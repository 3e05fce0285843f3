"""The developer guide's module map matches the package tree."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_module_map_lists_every_module_and_no_other():
    page = (ROOT / "docs" / "developer.rst").read_text()
    listed = set(re.findall(r"``(skdamerge/[\w/]+\.py)``", page))
    tree = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "skdamerge").rglob("*.py")
    }
    assert listed == tree, {
        "missing from the map": sorted(tree - listed),
        "in the map but not in the tree": sorted(listed - tree),
    }


def test_no_module_is_longer_than_600_lines():
    long = {
        path.relative_to(ROOT).as_posix(): n
        for path in (ROOT / "skdamerge").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 600
    }
    assert not long
