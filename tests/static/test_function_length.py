"""House rule: every function and method of the product reads on one screen (at most 60 lines)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("lambdas", "infra", "local", "mturk_decisions_cli")
MAX_LINES = 60


def long_functions(roots: tuple[str, ...] = PRODUCT, limit: int = MAX_LINES) -> list[tuple[str, int, str, int]]:
    """(file, line, name, length) of every function or method longer than `limit` lines (decorators excluded)."""
    found = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            if any(part in {"cdk.out", "node_modules", "__pycache__"} for part in path.parts):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > limit:
                        found.append((str(path.relative_to(ROOT)), node.lineno, node.name, length))
    return found


def test_given_the_product_code_then_no_function_is_longer_than_one_screen():
    # Given every function and method of the Lambda code, the CDK app, the offline stack and the CLI
    # When their lengths are measured
    too_long = long_functions()
    # Then none is over 60 lines
    assert not too_long, "\n".join(f"{f}:{line} {name}() is {n} lines" for f, line, name, n in too_long)


def test_given_a_long_function_then_the_rule_finds_it(tmp_path):
    # Given a module with a 61-line function under a product folder
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n" + "    x = 1\n" * 60)
    # When the rule measures it
    import tests.static.test_function_length as rule

    saved, rule.ROOT = rule.ROOT, tmp_path
    try:
        found = rule.long_functions(("pkg",))
    finally:
        rule.ROOT = saved
    # Then it is reported with its length
    assert found == [("pkg/m.py", 1, "f", 61)]
