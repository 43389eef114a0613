"""The synthesized CloudFormation template, as `cdk synth` builds it from cdk.json's context.

Synthesis (jsii) takes seconds, so the suite runs it in a child process (`python -m
tests.least_privilege.template OUT.json`) while the offline stack starts, and reads the JSON when it
needs it (`BackgroundTemplate`). Asset bundling is skipped: IAM does not depend on it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROJECT_NODE = ROOT / "node_modules" / ".bin"
SYNTH_TIMEOUT_SECONDS = 240


def context() -> dict[str, Any]:
    """cdk.json's context (the defaults a plain `cdk synth` uses), asset bundling off."""
    return {**json.loads((ROOT / "cdk.json").read_text())["context"], "aws:cdk:bundling-stacks": []}


def synthesize(outdir: Path) -> dict[str, Any]:
    """The stack's template (in this process: jsii starts a node runtime here)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import assertions

    from infra.application import build_app

    app, stack = build_app(context=context(), outdir=str(outdir), environ={})
    app.synth()
    return assertions.Template.from_stack(stack).to_json()


class BackgroundTemplate:
    """The template, synthesized by a child process started now; `get()` waits for it."""

    def __init__(self, workdir: Path) -> None:
        self._out = workdir / "template.json"
        self._log = workdir / "synth.log"
        env = dict(os.environ)
        if (PROJECT_NODE / "node").exists():  # the project's Node (package.json), as `make` puts it first
            env["PATH"] = f"{PROJECT_NODE}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen([sys.executable, "-m", "tests.least_privilege.template", str(self._out)],
                                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._lock = threading.Lock()
        self._template: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._template is None:
                try:
                    code = self._process.wait(timeout=SYNTH_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                    raise RuntimeError(f"synth did not finish within {SYNTH_TIMEOUT_SECONDS} s") from None
                if code != 0 or not self._out.exists():
                    raise RuntimeError(f"synth failed (exit {code}):\n{self._log.read_text()[-4000:]}")
                self._template = json.loads(self._out.read_text())
            return self._template

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    template = synthesize(target.parent / "cdk.out")
    target.write_text(json.dumps(template, indent=1, sort_keys=True))
