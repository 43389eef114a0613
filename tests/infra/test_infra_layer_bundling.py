"""The layers' local bundlers (no Docker), online and offline.

PynamoDB: pip, or offline the installed copy (pure Python). Powertools: exactly the wheels of its lock for
python3.12/arm64, from the wheelhouse or the index; offline without wheels a placeholder that cannot deploy.
The lock is the project's: same Powertools as requirements.txt, same versions as the venv the tests run in,
and complete (every requirement of a locked distribution is locked).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App, AssetStaging, Stack
from aws_cdk.assertions import Annotations, Match
from packaging.requirements import Requirement

from infra.constructs import layers
from infra.constructs.layers import (
    LAMBDA_PLATFORM_ARGS,
    PLACEHOLDER_FILE,
    POWERTOOLS_LOCK,
    POWERTOOLS_PACKAGE,
    PROJECT_REQUIREMENTS,
    UNUSED_BUNDLING_IMAGE,
    Layers,
    PinnedInstallError,
    PinnedWheelsLocalBundling,
    PipTargetLocalBundling,
    install_pinned,
    installed_distributions,
    normalize,
    powertools_lock,
    project_pin,
    read_lock,
    read_pin,
)

# The Lambda python3.12/arm64 environment, for evaluating requirement markers.
LAMBDA_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
}


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
    # When / Then bundling fails loudly instead of shipping another version
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
    # Given a layer requirements file with two pins
    (tmp_path / "requirements.txt").write_text("# comment\nfoo==1.0\nbar==2.0\n")
    # When / Then the layer refuses to guess
    with pytest.raises(ValueError, match="exactly one"):
        read_pin(tmp_path / "requirements.txt")


# ------------------------------------------------------------------------------------------ Powertools lock


def test_the_powertools_layer_pins_the_powertools_of_requirements_txt():
    # Given the layer's lock and the project's requirements
    pins = powertools_lock()
    # Then the layer holds the Powertools the code is tested with
    assert pins[POWERTOOLS_PACKAGE] == project_pin(POWERTOOLS_PACKAGE)
    # And requirements.txt constrains the venv with the lock (so pydantic & co. are the layer's too)
    assert "-c infra/assets/powertools-layer/requirements.txt" in PROJECT_REQUIREMENTS.read_text().splitlines()


def test_a_lock_that_disagrees_with_requirements_txt_is_refused(tmp_path):
    # Given a lock whose Powertools is not the project's
    lock = tmp_path / "lock.txt"
    lock.write_text(POWERTOOLS_LOCK.read_text().replace(f"{POWERTOOLS_PACKAGE}==", f"{POWERTOOLS_PACKAGE}==0.0.1+"))
    # Then reading it for the layer (as the synth does) fails, naming both versions
    with pytest.raises(ValueError, match=r"0\.0\.1(.|\n)*tested with"):
        powertools_lock(lock, PROJECT_REQUIREMENTS)


def test_a_lock_holds_only_exact_pins(tmp_path):
    # Given lock files with a range, or the same package twice (under two spellings)
    (tmp_path / "range.txt").write_text("pydantic>=2\n")
    (tmp_path / "twice.txt").write_text("typing_extensions==4.0\ntyping-extensions==4.1\n")
    # Then the layer refuses to guess
    with pytest.raises(ValueError, match="exact"):
        read_lock(tmp_path / "range.txt")
    with pytest.raises(ValueError, match="twice"):
        read_lock(tmp_path / "twice.txt")


def test_the_tests_run_with_the_locked_versions():
    # Given the lock and the venv the tests run in
    installed = {name: importlib.metadata.version(name) for name in read_lock(POWERTOOLS_LOCK)}
    # Then every locked distribution is installed at its locked version (`make setup` after a lock change)
    assert installed == read_lock(POWERTOOLS_LOCK)


def test_the_lock_is_complete_for_lambda():
    # Given every locked distribution's requirements (Powertools with its [parser,validation] extras),
    # evaluated for Lambda python3.12 on arm64
    pins = read_lock(POWERTOOLS_LOCK)
    missing = []
    for name in pins:
        extras = ("parser", "validation") if name == POWERTOOLS_PACKAGE else ()
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": extra}) for extra in ("", *extras)
            )
            locked = pins.get(normalize(requirement.name))
            if wanted and (locked is None or not requirement.specifier.contains(locked, prereleases=True)):
                missing.append(f"{name} needs {requirement} (locked: {locked})")
    # Then the lock satisfies all of them: the layer, installed with --no-deps, lacks nothing
    assert missing == []


# ----------------------------------------------------------------------------------- Powertools bundling


def _recording_pip(calls: list[list[str]], fail: set[str]):
    """A pip that records its command lines; sub-commands in `fail` fail, `install` lays out the pins."""

    def pip(command, **_kwargs):
        calls.append(command)
        action = command[3]
        if action in fail:
            raise subprocess.CalledProcessError(1, command, stderr="ERROR: network is unreachable")
        if action == "install":
            target = Path(command[command.index("--target") + 1])
            for name, version in read_lock(POWERTOOLS_LOCK).items():
                info = target / f"{name.replace('-', '_')}-{version}.dist-info"
                info.mkdir(parents=True)
                (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
            (target / "bin").mkdir()
        return subprocess.CompletedProcess(command, 0, "", "")

    return pip


def test_the_wheelhouse_is_used_first_without_the_network(tmp_path, monkeypatch):
    # Given a wheelhouse and a pip that records its commands
    calls: list[list[str]] = []
    monkeypatch.setattr(layers.subprocess, "run", _recording_pip(calls, fail=set()))
    (tmp_path / "wheels").mkdir()
    # When the pins are installed
    source = install_pinned(POWERTOOLS_LOCK, tmp_path / "out", platform_args=LAMBDA_PLATFORM_ARGS,
                            wheels=tmp_path / "wheels")
    # Then one pip install ran, from the wheelhouse only, exactly the pins, for Lambda python3.12/arm64
    assert source == "wheelhouse"
    (command,) = calls
    assert command[3] == "install" and "--no-index" in command
    assert command[command.index("--find-links") + 1] == str(tmp_path / "wheels")
    assert {"--no-deps", "--only-binary=:all:", "--no-compile"} <= set(command)
    assert command[command.index("-r") + 1] == str(POWERTOOLS_LOCK)
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.12"


def test_missing_wheels_are_downloaded_into_the_wheelhouse(tmp_path, monkeypatch):
    # Given an empty wheelhouse: the first install from it fails, then pip downloads
    calls: list[list[str]] = []
    pip = _recording_pip(calls, fail=set())
    state = {"installs": 0}

    def first_install_fails(command, **kwargs):
        if command[3] == "install":
            state["installs"] += 1
            if state["installs"] == 1:
                calls.append(command)
                raise subprocess.CalledProcessError(1, command, stderr="No matching distribution")
        return pip(command, **kwargs)

    monkeypatch.setattr(layers.subprocess, "run", first_install_fails)
    (tmp_path / "wheels").mkdir()
    # When the pins are installed
    source = install_pinned(POWERTOOLS_LOCK, tmp_path / "out", platform_args=LAMBDA_PLATFORM_ARGS,
                            wheels=tmp_path / "wheels")
    # Then the pins (no dependencies, wheels only, Lambda's platform) were downloaded into it, then installed
    assert source == "index"
    assert [c[3] for c in calls] == ["install", "download", "install"]
    download = calls[1]
    assert download[download.index("--dest") + 1] == str(tmp_path / "wheels")
    assert {"--no-deps", "--only-binary=:all:"} <= set(download)
    assert download[download.index("--platform") + 1] == "manylinux2014_aarch64"


def test_offline_without_wheels_the_install_fails_with_pips_reason(tmp_path, monkeypatch):
    # Given no wheelhouse and no network
    monkeypatch.setattr(layers.subprocess, "run", _recording_pip([], fail={"install", "download"}))
    # Then installing the pins fails, saying why
    with pytest.raises(PinnedInstallError, match="network is unreachable"):
        install_pinned(POWERTOOLS_LOCK, tmp_path / "out", wheels=tmp_path / "wheels")


def test_the_bundler_lays_out_exactly_the_pins_under_python(tmp_path, monkeypatch):
    # Given a pip that installs the pins (and a console script)
    monkeypatch.setenv(layers.WHEELHOUSE_ENV, str(tmp_path / "wheelhouse"))
    monkeypatch.setattr(layers.subprocess, "run", _recording_pip([], fail=set()))
    # When the Powertools layer is bundled
    bundling = PinnedWheelsLocalBundling(POWERTOOLS_LOCK, label="test")
    assert bundling.try_bundle(str(tmp_path / "out"), image=UNUSED_BUNDLING_IMAGE)
    # Then python/ holds the pins and no bin/, and the layer is real
    assert installed_distributions(tmp_path / "out" / "python") == read_lock(POWERTOOLS_LOCK)
    assert not (tmp_path / "out" / "python" / "bin").exists()
    assert bundling.placeholder_reason is None


def test_the_bundler_refuses_an_output_that_is_not_the_lock(tmp_path, monkeypatch):
    # Given a pip that installs something else than the pins
    def wrong_pip(command, **_kwargs):
        info = Path(command[command.index("--target") + 1]) / "pydantic-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pydantic\nVersion: 1.0\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setenv(layers.WHEELHOUSE_ENV, str(tmp_path / "wheelhouse"))
    (tmp_path / "wheelhouse" / layers.LAMBDA_WHEELHOUSE_TAG).mkdir(parents=True)
    monkeypatch.setattr(layers.subprocess, "run", wrong_pip)
    # Then bundling fails instead of shipping it
    with pytest.raises(RuntimeError, match="not the pins"):
        PinnedWheelsLocalBundling(POWERTOOLS_LOCK, label="test").try_bundle(str(tmp_path / "out"), image=UNUSED_BUNDLING_IMAGE)


@pytest.fixture
def fresh_asset_cache():
    """CDK caches staged assets per process: each synth of this test bundles anew, and leaves nothing behind."""
    AssetStaging.clear_asset_hash_cache()
    yield
    AssetStaging.clear_asset_hash_cache()


def test_offline_synth_without_wheels_gives_a_layer_that_cannot_be_deployed(tmp_path, monkeypatch, fresh_asset_cache):
    # Given no network (every pip fails) and an empty wheelhouse
    monkeypatch.setenv(layers.WHEELHOUSE_ENV, str(tmp_path / "empty-wheelhouse"))
    monkeypatch.setattr(
        layers.subprocess, "run",
        lambda command, **_: (_ for _ in ()).throw(subprocess.CalledProcessError(1, command, stderr="offline")),
    )
    # When a stack with the layers is synthesized
    app = App(outdir=str(tmp_path / "cdk.out"))
    stack = Stack(app, "Layers")
    built = Layers(stack, "Layers")
    assembly = app.synth()
    template = json.loads(Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path).read_text())
    # Then the synth succeeded, with a placeholder layer that says why
    layer = template["Resources"][stack.get_logical_id(built.powertools.node.default_child)]
    staged = tmp_path / "cdk.out" / f"asset.{layer['Properties']['Content']['S3Key'].removesuffix('.zip')}"
    assert [p.name for p in (staged / "python").iterdir()] == [PLACEHOLDER_FILE]
    assert "offline" in (staged / "python" / PLACEHOLDER_FILE).read_text()
    # And a warning names the problem and the remedy
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("not built"))
    assert warnings and "package index" in json.dumps(warnings[0].entry.data)
    # And CloudFormation will refuse the template: a rule whose assertion can never hold
    (rule,) = [r for name, r in template["Rules"].items() if name != "CheckBootstrapVersion"]
    (assertion,) = rule["Assertions"]
    (parameter,) = [name for name in template["Parameters"] if "PowertoolsLayerNotBuilt" in name]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, {"Ref": parameter}]}]}
    assert "cannot be deployed" in assertion["AssertDescription"]
    # And the PynamoDB layer (pure Python) was still built, from the installed copy
    pynamodb = template["Resources"][stack.get_logical_id(built.pynamodb.node.default_child)]
    staged = tmp_path / "cdk.out" / f"asset.{pynamodb['Properties']['Content']['S3Key'].removesuffix('.zip')}"
    assert (staged / "python" / "pynamodb" / "models.py").is_file()


def test_the_synthesized_powertools_layer_is_the_lock_for_arm64(synth):
    # Given the stack's Powertools layer, as `cdk synth` builds it (with the package index or the wheelhouse)
    layer = synth.resource(synth.stack.layers.powertools)
    manifest = json.loads((synth.outdir / f"{synth.stack.artifact_id}.assets.json").read_text())
    staged = synth.outdir / manifest["files"][layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")]["source"]["path"]
    # Then it holds exactly the locked distributions, pydantic-core compiled for aarch64, under python/
    assert installed_distributions(staged / "python") == read_lock(POWERTOOLS_LOCK)
    compiled = [p.name for p in (staged / "python" / "pydantic_core").glob("*.so")]
    assert compiled and all("aarch64" in name for name in compiled)
    assert not list(staged.rglob("*.pyc"))
    # And it is a layer of this stack for python3.12 on arm64, first in every function's layers
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert f"{POWERTOOLS_PACKAGE}=={project_pin(POWERTOOLS_PACKAGE)}" in layer["Properties"]["Description"]
    for function in synth.resources("AWS::Lambda::Function").values():
        if str(function["Properties"].get("Handler", "")).startswith("mturk_decisions."):
            assert function["Properties"]["Layers"][0] == {"Ref": synth.logical_id(synth.stack.layers.powertools)}
    # And nothing refuses the deployment: no placeholder guard in a real build
    assert not [name for name in synth.json.get("Parameters", {}) if "PowertoolsLayerNotBuilt" in name]
