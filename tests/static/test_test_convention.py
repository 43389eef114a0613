"""House rule: every test reads Given / When / Then (see tests/README.md).

A test function carries a `# Then` comment (or `# When / Then`) and at least one of `# Given` / `# When`.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ("tests",)
_MARKER = re.compile(r"#\s*((?:Given|When|Then|And)(?:\s*/\s*(?:Given|When|Then|And))*)\b")


def _markers_by_line(source: str) -> dict[int, set[str]]:
    """Line number -> the parts (Given, When, Then, And) that line's comment opens with."""
    found: dict[int, set[str]] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (match := _MARKER.match(token.string)):
            found[token.start[0]] = {part.strip() for part in match.group(1).split("/")}
    return found


def _test_functions(tree: ast.Module):
    """Module-level `test_*` functions and `test_*` methods of `Test*` classes, as pytest collects them."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    yield item


def unmarked_tests(roots: tuple[str, ...] = TESTS) -> list[tuple[str, int, str]]:
    """(file, line, name) of every test function lacking `# Then` or lacking both `# Given` and `# When`."""
    found = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("test*.py")):
            if "__pycache__" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            markers = _markers_by_line(source)
            for node in _test_functions(ast.parse(source, filename=str(path))):
                parts = set().union(*(markers.get(n, set()) for n in range(node.lineno, node.end_lineno + 1)))
                if "Then" not in parts or not parts & {"Given", "When"}:
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.name))
    return found


def test_given_the_test_suites_then_every_test_reads_given_when_then():
    # Given every test function under tests/
    # When their comments are read
    unmarked = unmarked_tests()
    # Then each has a `# Then` and a `# Given` or a `# When`
    assert not unmarked, f"{len(unmarked)} tests without # Given / # When / # Then (see tests/README.md):\n" + "\n".join(
        f"{f}:{line} {name}()" for f, line, name in unmarked
    )


def test_given_a_test_without_markers_then_the_rule_finds_it(tmp_path, monkeypatch):
    # Given a test module with one marked test, one without markers and one with a `# Then` only
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_sample.py").write_text(
        "def test_marked():\n"
        "    # Given\n    x = 1\n    # When / Then\n    assert x\n\n"
        "def test_unmarked():\n    assert True\n\n"
        "class TestGroup:\n    def test_then_only(self):\n        # Then\n        assert True\n"
    )
    monkeypatch.setattr("tests.static.test_test_convention.ROOT", tmp_path)
    # When the rule reads it
    found = unmarked_tests(("suite",))
    # Then the two incomplete tests are reported, the marked one is not
    assert found == [("suite/test_sample.py", 7, "test_unmarked"), ("suite/test_sample.py", 11, "test_then_only")]
