"""What every command shares: the global options, the renderer, and the API client (built on first use).

Tests give the CLI a fake API through the public seam `App(client_factory=...)`, passed as click's `obj`:
`CliRunner().invoke(cli, args, obj=App(client_factory=lambda app: fake))`.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from mturk_decisions_cli import config
from mturk_decisions_cli.client import ApiClient, ApiResponse, Requester
from mturk_decisions_cli.render import Output, Renderer


@dataclass
class App:
    """The options of one run, its renderer, and its API client."""

    api_url: str | None = None
    region: str | None = None
    profile: str | None = None
    json_mode: bool = False
    timeout: float = config.DEFAULT_TIMEOUT
    retries: int = 2
    renderer: Renderer = field(default_factory=Renderer)
    sleep: Callable[[float], None] = time.sleep
    #: The Idempotency-Key of the single decision this run sends (for the hint after a failure).
    idempotency_key: str | None = None
    #: Builds the client; None: the real one, configured from the options, environment and config file.
    client_factory: Callable[[App], Requester] | None = None
    _client: Requester | None = field(default=None, repr=False)

    @property
    def client(self) -> Requester:
        if self._client is None:
            self._client = self.client_factory(self) if self.client_factory else self.build_client()
        return self._client

    def build_client(self) -> ApiClient:
        path = config.config_file_path()
        file_config = config.load_config_file(path)
        api_url = config.resolve_api_url(self.api_url, os.environ, file_config, path).value
        profile = config.resolve_profile(self.profile, file_config)
        session = config.aws_session(profile)
        region = config.resolve_region(self.region, api_url, os.environ, file_config,
                                       profile_region=session.region_name).value
        credentials = config.load_credentials(session, profile)
        return ApiClient(api_url, credentials, region, timeout=self.timeout, retries=self.retries)

    def call(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        """One API call; an error answer raises ApiError (exit code from its status)."""
        return self.client.request(method, path, **kwargs).raise_for_error()

    def emit(self, output: Output) -> None:
        """A command's answer: JSON with --json, else text for people (`Renderer.emit`)."""
        self.renderer.emit(output)


pass_app = click.make_pass_decorator(App)
