"""Lambda layers: the public Powertools v3 layer (by ARN) and a small PynamoDB layer.

The PynamoDB layer is built by CDK *local bundling* (no Docker): `pip install
--target <out>/python --no-deps` of the pin in `infra/assets/pynamodb-layer/
requirements.txt` (pure Python; botocore comes with the Lambda runtime). Without
network access pip fails fast and the bundler copies the same pinned version from
the interpreter running `cdk synth` instead, so synth works offline. The bundling
`image` is required by the CDK API and is never pulled.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python312-arm64"
PYNAMODB_LAYER_SOURCE = Path(__file__).resolve().parents[1] / "assets" / "pynamodb-layer"
UNUSED_BUNDLING_IMAGE = DockerImage.from_registry("unused-local-bundling-only")
_PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([A-Za-z0-9_.+-]+)\s*$")


def read_pin(requirements_file: Path) -> tuple[str, str]:
    """The single `name==version` line of a layer's requirements file."""
    pins = [m.groups() for line in requirements_file.read_text().splitlines() if (m := _PIN.match(line))]
    if len(pins) != 1:
        raise ValueError(f"{requirements_file} must contain exactly one 'name==version' line")
    return pins[0][0], pins[0][1]


def powertools_layer_arn(region: str, version: int) -> str:
    return f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"


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

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:  # noqa: ARG002
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
            # The layer runs on Lambda python3.12/arm64, whatever machine synthesizes.
            "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12",
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
    """`powertools` (public, by ARN) and `pynamodb` (local bundling); `all` in function order."""

    def __init__(self, scope: Construct, construct_id: str, *, powertools_layer_version: int) -> None:
        super().__init__(scope, construct_id)

        # Stack.region is a token (`AWS::Region`) in an environment-agnostic stack.
        self.powertools_arn = powertools_layer_arn(Stack.of(self).region, powertools_layer_version)
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", self.powertools_arn)

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

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.powertools, self.pynamodb]
