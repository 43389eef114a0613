"""Where the CLI's settings come from, in this order: the flag, the environment, the config file, a default.

- API URL: `--api-url` > `MTURK_DECISIONS_API_URL` > `apiUrl` in the config file. No default: a clear error.
- Region (what requests are signed for): `--region` > the region in an `execute-api` URL
  (`https://ID.execute-api.REGION.amazonaws.com/...`, signing for another region can only fail) >
  `AWS_REGION` > `AWS_DEFAULT_REGION` > `region` in the config file > the profile's region > us-east-1.
- Profile: `--profile` > `AWS_PROFILE` (boto3 reads it) > `profile` in the config file.
- Config file: `MTURK_DECISIONS_CONFIG` if set, else `$XDG_CONFIG_HOME/mturk-decisions/config.json`,
  else `~/.config/mturk-decisions/config.json`. A JSON object: `{"apiUrl": "...", "region"?: "...", "profile"?: "..."}`.
- Credentials: the standard AWS chain (`boto3.Session(profile_name=...).get_credentials()`): environment,
  shared config and credentials files, SSO, process credentials, container and instance roles.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mturk_decisions_cli.errors import ConfigError

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.credentials import Credentials

DEFAULT_REGION = "us-east-1"
DEFAULT_TIMEOUT = 30.0
API_URL_ENV = "MTURK_DECISIONS_API_URL"
CONFIG_PATH_ENV = "MTURK_DECISIONS_CONFIG"
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class Resolved:
    value: Any
    source: str


def config_file_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_PATH_ENV):
        return Path(environ[CONFIG_PATH_ENV]).expanduser()
    base = Path(environ["XDG_CONFIG_HOME"]).expanduser() if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "mturk-decisions" / "config.json"


def load_config_file(path: Path) -> dict[str, Any]:
    """The config file as a dict; {} if it does not exist; ConfigError if it is not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"Cannot read the config file {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"The config file {path} is not valid JSON: {error.msg} (line {error.lineno}).",
                          hint='It should look like {"apiUrl": "https://ID.execute-api.REGION.amazonaws.com/v1"}.') from None
    if not isinstance(data, dict):
        raise ConfigError(f"The config file {path} must hold a JSON object, e.g. {{\"apiUrl\": \"...\"}}.")
    return data


def normalize_api_url(url: str, source: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"The API URL {url!r} (from {source}) is not an http(s) URL.",
                          hint="Use the stack's ApiUrl output, e.g. https://ID.execute-api.REGION.amazonaws.com/v1 "
                               "(or http://127.0.0.1:8787/v1 for `make demo`).")
    if parts.query or parts.fragment:
        raise ConfigError(f"The API URL {url!r} (from {source}) must not have a query or fragment.")
    return url.rstrip("/")


def resolve_api_url(flag: str | None, environ: Mapping[str, str], file_config: Mapping[str, Any],
                    file_path: Path | None = None) -> Resolved:
    if flag:
        return Resolved(normalize_api_url(flag, "--api-url"), "--api-url")
    if environ.get(API_URL_ENV):
        return Resolved(normalize_api_url(environ[API_URL_ENV], API_URL_ENV), API_URL_ENV)
    value = file_config.get("apiUrl")
    if value:
        if not isinstance(value, str):
            raise ConfigError(f"apiUrl in the config file {file_path} must be a string.")
        return Resolved(normalize_api_url(value, f"the config file {file_path}"), f"config file {file_path}")
    raise ConfigError(
        "No API URL configured.",
        hint=(f"Pass --api-url, set {API_URL_ENV}, or put {{\"apiUrl\": \"...\"}} in {file_path or 'the config file'}. "
              "For a deployed stack it is the ApiUrl output of its CloudFormation stack "
              "(https://ID.execute-api.REGION.amazonaws.com/v1); for `make demo` it is printed at start "
              "(http://127.0.0.1:8787/v1)."),
    )


def region_of_url(api_url: str | None) -> str | None:
    """The region of an `execute-api` URL, or None for another host (custom domain, local gateway)."""
    if not api_url:
        return None
    match = _EXECUTE_API_HOST.match((urlsplit(api_url).hostname or "").lower())
    return match.group(1) if match else None


def resolve_region(flag: str | None, api_url: str | None, environ: Mapping[str, str],
                   file_config: Mapping[str, Any], profile_region: str | None = None) -> Resolved:
    if flag:
        return Resolved(flag, "--region")
    from_url = region_of_url(api_url)
    if from_url:
        return Resolved(from_url, "the API URL")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return Resolved(environ[name], name)
    if isinstance(file_config.get("region"), str) and file_config["region"]:
        return Resolved(file_config["region"], "config file")
    if profile_region:
        return Resolved(profile_region, "AWS profile")
    return Resolved(DEFAULT_REGION, "default")


def resolve_profile(flag: str | None, file_config: Mapping[str, Any]) -> str | None:
    """`--profile`, else None (boto3 then honours AWS_PROFILE), else the config file's `profile`."""
    if flag:
        return flag
    if os.environ.get("AWS_PROFILE"):
        return None
    value = file_config.get("profile")
    return value if isinstance(value, str) and value else None


def aws_session(profile: str | None) -> Session:
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        return boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise ConfigError(f"The AWS profile {profile!r} was not found.",
                          hint="List your profiles with `aws configure list-profiles`, or pass another --profile.") from None
    except BotoCoreError as error:
        raise ConfigError(f"Could not load the AWS configuration: {error}") from None


def load_credentials(session: Session, profile: str | None = None) -> Credentials:
    """The caller's AWS credentials from the standard chain, or a ConfigError saying how to provide them."""
    from botocore.exceptions import BotoCoreError

    try:
        credentials = session.get_credentials()
        access_key = getattr(credentials, "access_key", None) if credentials is not None else None
    except BotoCoreError as error:
        raise ConfigError(f"Could not load your AWS credentials: {error}",
                          hint="Refresh them (e.g. `aws sso login --profile NAME`) or pass another --profile.") from None
    if not access_key:
        where = f" for the profile {profile!r}" if profile else ""
        raise ConfigError(
            f"No AWS credentials found{where}.",
            hint=("Configure them with `aws configure` or `aws sso login`, pass --profile NAME, or set "
                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. They must be allowed to call execute-api:Invoke "
                  "on the API (for `make demo`: the demo caller key it prints)."),
        )
    return credentials
