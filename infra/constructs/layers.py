"""Lambda layers, both built by CDK *local bundling* (no Docker) for python3.12 on arm64.

- Powertools: exactly the wheels pinned in `infra/assets/powertools-layer/requirements.txt`
  (aws-lambda-powertools with pydantic, pydantic-core, ... every dependency pinned), installed with
  `pip install --no-deps --only-binary=:all: --platform manylinux2014_aarch64 --implementation cp
  --python-version 3.12 --target <out>/python`. The Powertools pin must equal the one in the project's
  `requirements.txt` (refused at synth otherwise), and `requirements.txt` constrains the venv with the
  same file, so the code is tested with the Powertools and pydantic that Lambda gets.
  Wheels come from a local wheelhouse first (`~/.cache/mturk-decisions/wheels/<platform>`, or
  `$MTURK_DECISIONS_WHEELHOUSE`), with no network; missing ones are downloaded into it from the index.
  Offline with an empty wheelhouse there is no honest way to build the layer (pydantic-core is compiled
  for arm64; the interpreter running `cdk synth` has its own platform's build), so synth still succeeds
  but the layer is a placeholder: a warning says so and the template carries a rule that makes
  CloudFormation refuse to deploy it. Synthesize once with network access (or fill the wheelhouse) to
  get a deployable assembly. The asset is hashed by its *output*, so a placeholder never stands in for
  a real build in a later synth.
- PynamoDB: `pip install --target <out>/python --no-deps` of the pin in `infra/assets/pynamodb-layer/
  requirements.txt` (pure Python; botocore comes with the Lambda runtime). Without network access pip
  fails fast and the bundler copies the same pinned version from the interpreter running `cdk synth`
  instead (valid: the package is pure Python).

The bundling `image` is required by the CDK API and is never pulled.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Annotations,
    AssetHashType,
    BundlingOptions,
    CfnParameter,
    CfnRule,
    CfnRuleAssertion,
    DockerImage,
    Fn,
    ILocalBundling,
)
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
PYNAMODB_LAYER_SOURCE = ASSETS_DIR / "pynamodb-layer"
POWERTOOLS_LAYER_SOURCE = ASSETS_DIR / "powertools-layer"
POWERTOOLS_LOCK = POWERTOOLS_LAYER_SOURCE / "requirements.txt"
PROJECT_REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
POWERTOOLS_PACKAGE = "aws-lambda-powertools"
UNUSED_BUNDLING_IMAGE = DockerImage.from_registry("unused-local-bundling-only")
# pip's options for wheels that run on Lambda python3.12/arm64, whatever machine synthesizes.
LAMBDA_PLATFORM_ARGS = (
    "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12",
)
LAMBDA_WHEELHOUSE_TAG = "cp312-manylinux2014_aarch64"
PLACEHOLDER_FILE = "POWERTOOLS_LAYER_NOT_BUILT.txt"
WHEELHOUSE_ENV = "MTURK_DECISIONS_WHEELHOUSE"
_PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([A-Za-z0-9_.+-]+)\s*$")
_PROJECT_PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*==\s*([A-Za-z0-9_.+-]+)\s*(?:#.*)?$")


def read_pin(requirements_file: Path) -> tuple[str, str]:
    """The single `name==version` line of a layer's requirements file."""
    pins = [m.groups() for line in requirements_file.read_text().splitlines() if (m := _PIN.match(line))]
    if len(pins) != 1:
        raise ValueError(f"{requirements_file} must contain exactly one 'name==version' line")
    return pins[0][0], pins[0][1]


def normalize(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503): `Typing_Extensions` == `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(lock_file: Path) -> dict[str, str]:
    """{normalized name: version} of a lock file: only `name==version` lines, comments and blank lines."""
    pins: dict[str, str] = {}
    for number, line in enumerate(lock_file.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _PIN.match(text)
        if match is None:
            raise ValueError(f"{lock_file}:{number}: {line.strip()!r} is not an exact 'name==version' pin")
        name = normalize(match.group(1))
        if name in pins:
            raise ValueError(f"{lock_file}:{number}: {name} is pinned twice")
        pins[name] = match.group(2)
    if not pins:
        raise ValueError(f"{lock_file} pins nothing")
    return pins


def project_pin(package: str, requirements_file: Path = PROJECT_REQUIREMENTS) -> str:
    """The version `requirements.txt` pins `package` to (`name[extras]==version`)."""
    found = [
        m.group(2)
        for line in requirements_file.read_text().splitlines()
        if (m := _PROJECT_PIN.match(line)) and normalize(m.group(1)) == normalize(package)
    ]
    if len(found) != 1:
        raise ValueError(f"{requirements_file} must pin {package} exactly once ('{package}==<version>')")
    return found[0]


def powertools_lock(lock_file: Path = POWERTOOLS_LOCK, requirements_file: Path = PROJECT_REQUIREMENTS) -> dict[str, str]:
    """The Powertools layer's pins, refused when its Powertools is not the project's."""
    pins = read_lock(lock_file)
    wanted = project_pin(POWERTOOLS_PACKAGE, requirements_file)
    if pins.get(POWERTOOLS_PACKAGE) != wanted:
        raise ValueError(
            f"{lock_file} pins {POWERTOOLS_PACKAGE}=={pins.get(POWERTOOLS_PACKAGE)} but {requirements_file} "
            f"pins {wanted}: the layer must hold the Powertools the code is tested with (update both, and "
            f"the other pins of {lock_file.name} from `pip install '{POWERTOOLS_PACKAGE}[parser,validation]=="
            f"{wanted}'` in a clean venv)"
        )
    return pins


def wheelhouse(tag: str) -> Path:
    """Where the wheels of `tag` (a platform) are kept between builds: `$MTURK_DECISIONS_WHEELHOUSE/<tag>`,
    by default `~/.cache/mturk-decisions/wheels/<tag>`."""
    root = os.environ.get(WHEELHOUSE_ENV)
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(cache) / "mturk-decisions" / "wheels")
    return Path(root) / tag


class PinnedInstallError(RuntimeError):
    """The pinned wheels could be found neither in the wheelhouse nor on the index."""


def _pip(arguments: Sequence[str], timeout: int) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check", "--no-input", "--quiet"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _last_line(exc: BaseException) -> str:
    detail = _ANSI.sub("", getattr(exc, "stderr", None) or str(exc)).strip().splitlines()
    return detail[-1] if detail else type(exc).__name__


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it: messages (and a placeholder's template) stay the same
    on every machine."""
    try:
        return str(path.resolve().relative_to(PROJECT_REQUIREMENTS.parent))
    except ValueError:
        return str(path)


def install_pinned(
    lock_file: Path,
    target: Path,
    *,
    platform_args: Sequence[str] = (),
    wheels: Path,
    timeout: int = 300,
) -> str:
    """Install exactly the pins of `lock_file` into `target`: wheels only, `--no-deps` (no resolver),
    for the platform of `platform_args` (empty: this interpreter's). From the wheelhouse `wheels` alone
    first (no network); when a wheel is missing there, the pins are downloaded into it from the index and
    installed from it. Returns "wheelhouse" or "index"; raises PinnedInstallError when neither works."""
    common = ["--no-deps", "--only-binary=:all:", *platform_args, "-r", str(lock_file)]
    install = ["install", "--no-index", "--find-links", str(wheels), "--no-compile", "--target", str(target), *common]

    def from_wheelhouse() -> bool:
        if not wheels.is_dir():
            return False
        try:
            _pip(install, timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
            return False
        return True

    if from_wheelhouse():
        return "wheelhouse"
    try:
        wheels.mkdir(parents=True, exist_ok=True)
        _pip(["download", "--dest", str(wheels), "--retries", "0", "--timeout", "10", *common], timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise PinnedInstallError(f"pip could not download the pins of {_shown(lock_file)}: {_last_line(exc)}") from exc
    if from_wheelhouse():
        return "index"
    raise PinnedInstallError(f"pip downloaded the pins of {_shown(lock_file)} into {wheels} but could not install them")


def installed_distributions(site_dir: Path) -> dict[str, str]:
    """{normalized name: version} of the distributions installed in `site_dir` (its *.dist-info)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        found[normalize(dist.metadata["Name"])] = dist.version
    return found


@jsii.implements(ILocalBundling)
class PinnedWheelsLocalBundling:
    """`<out>/python` = exactly the pinned wheels for Lambda python3.12/arm64 (see the module docstring).

    After `try_bundle`, `placeholder_reason` is None for a real build, or why the output is a placeholder.
    """

    def __init__(self, lock_file: Path, *, label: str, pip_timeout_seconds: int = 300) -> None:
        self.lock_file = lock_file
        self.label = label
        self.pip_timeout_seconds = pip_timeout_seconds
        self.placeholder_reason: str | None = None
        self.source: str | None = None

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        pins = read_lock(self.lock_file)
        try:
            self.source = install_pinned(
                self.lock_file,
                target,
                platform_args=LAMBDA_PLATFORM_ARGS,
                wheels=wheelhouse(LAMBDA_WHEELHOUSE_TAG),
                timeout=self.pip_timeout_seconds,
            )
        except PinnedInstallError as exc:
            self._placeholder(target, str(exc))
            return True
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts (jmespath's jp.py): not for Lambda
        built = installed_distributions(target)
        if built != pins:
            raise RuntimeError(f"the {self.label} holds {built}, not the pins of {self.lock_file}: {pins}")
        print(f"[{self.label}] {len(pins)} pinned wheels for python3.12/arm64 (from the {self.source})", file=sys.stderr)
        return True

    def _placeholder(self, target: Path, reason: str) -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        self.placeholder_reason = reason
        (target / PLACEHOLDER_FILE).write_text(
            f"This layer was synthesized without its wheels and must not be deployed.\n{reason}\n"
            "Synthesize again with access to the package index (or fill the wheelhouse).\n"
        )
        print(
            f"[{self.label}] NOT BUILT: {reason}. The layer is a placeholder and the template refuses to deploy; "
            "synthesize with network access once (the wheels are then kept in the wheelhouse).",
            file=sys.stderr,
        )


@jsii.implements(ILocalBundling)
class PipTargetLocalBundling:
    """`pip install --target <out>/python`; offline fallback: copy the installed package."""

    def __init__(self, package: str, version: str, *, pip_timeout_seconds: int = 120) -> None:
        self.package = package
        self.version = version
        self.pip_timeout_seconds = pip_timeout_seconds

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        if self._pip_install(target):
            return True
        self._copy_installed(target)
        return True

    def _pip_install(self, target: Path) -> bool:
        command = [
            sys.executable, "-m", "pip", "install",
            "--target", str(target),
            "--no-deps", "--no-compile", "--only-binary=:all:",
            *LAMBDA_PLATFORM_ARGS,
            "--disable-pip-version-check", "--no-input", "--quiet",
            "--retries", "0", "--timeout", "10",
            self.requirement,
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=self.pip_timeout_seconds)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            print(
                f"[pynamodb-layer] pip could not install {self.requirement} ({detail.strip().splitlines()[-1:]}); "
                "falling back to the installed copy",
                file=sys.stderr,
            )
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
            return False
        return True

    def _copy_installed(self, target: Path) -> None:
        try:
            dist = importlib.metadata.distribution(self.package)
        except importlib.metadata.PackageNotFoundError as exc:
            raise RuntimeError(
                f"cannot build the {self.package} layer: pip is offline and {self.package} is not installed "
                f"in {sys.executable} (install requirements.txt into the venv)"
            ) from exc
        if dist.version != self.version:
            raise RuntimeError(
                f"cannot build the {self.package} layer offline: installed {self.package} is {dist.version}, "
                f"the layer pins {self.version}"
            )
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        files = dist.files or []
        top_levels = {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].endswith(".dist-info")}
        dist_infos = {f.parts[0] for f in files if f.parts[0].endswith(".dist-info")}
        for name in sorted(top_levels | dist_infos):
            source = Path(str(dist.locate_file(name)))
            if source.is_dir() and not name.startswith(".."):
                shutil.copytree(source, target / name, ignore=ignore, dirs_exist_ok=True)
        print(f"[pynamodb-layer] copied installed {self.requirement} into the layer", file=sys.stderr)


class Layers(Construct):
    """`powertools` and `pynamodb` (both local bundling); `all` in function order."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        pins = powertools_lock()
        self.powertools_pins = pins
        self.powertools_requirement = f"{POWERTOOLS_PACKAGE}=={pins[POWERTOOLS_PACKAGE]}"
        self.powertools_bundling = PinnedWheelsLocalBundling(POWERTOOLS_LOCK, label="powertools-layer")
        self.powertools = lambda_.LayerVersion(
            self,
            "Powertools",
            description=(
                f"{self.powertools_requirement} with pydantic=={pins.get('pydantic', '?')} "
                f"(python3.12 arm64; pins in infra/assets/powertools-layer/requirements.txt)"
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            code=lambda_.Code.from_asset(
                str(POWERTOOLS_LAYER_SOURCE),
                # Hashed by what was built: a placeholder never passes for the real layer in a later synth.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(image=UNUSED_BUNDLING_IMAGE, local=self.powertools_bundling),
            ),
        )
        if self.powertools_bundling.placeholder_reason is not None:
            self._refuse_deployment(self.powertools_bundling.placeholder_reason)

        package, version = read_pin(PYNAMODB_LAYER_SOURCE / "requirements.txt")
        self.pynamodb_requirement = f"{package}=={version}"
        self.pynamodb = lambda_.LayerVersion(
            self,
            "PynamoDB",
            description=f"{self.pynamodb_requirement} (pure Python, no dependencies; botocore is in the runtime)",
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            code=lambda_.Code.from_asset(
                str(PYNAMODB_LAYER_SOURCE),
                bundling=BundlingOptions(
                    image=UNUSED_BUNDLING_IMAGE,
                    local=PipTargetLocalBundling(package, version),
                ),
            ),
        )

    def _refuse_deployment(self, reason: str) -> None:
        """A placeholder layer: warn at synth, and make CloudFormation refuse the template (a rule whose
        assertion can never hold, whatever value the parameter is given)."""
        message = (
            f"The Powertools layer was not built ({reason}); it is a placeholder and this template cannot be "
            "deployed. Synthesize with access to the package index, or fill the wheelhouse "
            f"(${WHEELHOUSE_ENV} or ~/.cache/mturk-decisions/wheels/{LAMBDA_WHEELHOUSE_TAG})."
        )
        Annotations.of(self.powertools).add_warning_v2("mturk-decisions:powertoolsLayerNotBuilt", message)
        marker = CfnParameter(
            self,
            "PowertoolsLayerNotBuilt",
            type="String",
            default="placeholder",
            description="Set because the Powertools layer of this template is a placeholder (synthesized offline).",
        )
        CfnRule(
            self,
            "PowertoolsLayerBuilt",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_not(Fn.condition_equals(marker.value_as_string, marker.value_as_string)),
                    assert_description=message[:1000],
                )
            ],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.powertools, self.pynamodb]
