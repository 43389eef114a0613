"""The PynamoDB layer's local bundler (no Docker), online and offline, without a synth."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.constructs import layers
from infra.constructs.layers import UNUSED_BUNDLING_IMAGE, PipTargetLocalBundling, read_pin


def test_offline_fallback_copies_the_installed_pinned_package(tmp_path, monkeypatch):
    # Given pip cannot reach any index
    def offline_pip(command, **_kwargs):
        raise subprocess.CalledProcessError(1, command, stderr="ERROR: network is unreachable")

    monkeypatch.setattr(layers.subprocess, "run", offline_pip)
    _, version = read_pin(layers.PYNAMODB_LAYER_SOURCE / "requirements.txt")
    # When the layer is bundled
    bundled = PipTargetLocalBundling("pynamodb", version).try_bundle(str(tmp_path), image=UNUSED_BUNDLING_IMAGE)
    # Then the installed copy of the same version is laid out under python/, without bytecode
    assert bundled is True
    assert {p.name for p in (tmp_path / "python").iterdir()} == {"pynamodb", f"pynamodb-{version}.dist-info"}
    assert (tmp_path / "python" / "pynamodb" / "models.py").is_file()
    assert not list(tmp_path.rglob("*.pyc"))


def test_offline_fallback_refuses_a_different_installed_version(tmp_path, monkeypatch):
    # Given pip is offline and the layer pins a version that is not the installed one
    monkeypatch.setattr(
        layers.subprocess, "run", lambda command, **_: (_ for _ in ()).throw(subprocess.TimeoutExpired(command, 1))
    )
    # When bundling, then it fails loudly instead of shipping another version
    with pytest.raises(RuntimeError, match="pins 0.0.1"):
        PipTargetLocalBundling("pynamodb", "0.0.1").try_bundle(str(tmp_path), image=UNUSED_BUNDLING_IMAGE)


def test_pip_installs_for_lambda_arm64_python312_into_python_dir(tmp_path, monkeypatch):
    # Given a pip that records its command line
    calls: list[list[str]] = []

    def recording_pip(command, **_kwargs):
        calls.append(command)
        (Path(command[command.index("--target") + 1]) / "pynamodb").mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(layers.subprocess, "run", recording_pip)
    # When bundling
    assert PipTargetLocalBundling("pynamodb", "6.1.0").try_bundle(str(tmp_path), image=UNUSED_BUNDLING_IMAGE)
    # Then it installs only the pinned package (no deps) for the Lambda platform under python/
    (command,) = calls
    assert command[command.index("--target") + 1] == str(tmp_path / "python")
    assert "pynamodb==6.1.0" in command and "--no-deps" in command
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.12"


def test_read_pin_requires_exactly_one_pin(tmp_path):
    # Given a layer requirements file with two pins, then the layer refuses to guess
    (tmp_path / "requirements.txt").write_text("# comment\nfoo==1.0\nbar==2.0\n")
    with pytest.raises(ValueError, match="exactly one"):
        read_pin(tmp_path / "requirements.txt")
