"""`mturk-decisions console`: the console's server on 127.0.0.1, until Ctrl-C."""
from __future__ import annotations

from typing import Any

import click

from mturk_decisions_cli.console.app import Console
from mturk_decisions_cli.local_proxy import LocalSigningProxy, Upstream, serve_until_stopped, started

#: The console's forms POST to their own origin: the browser must send that Origin (it sends `null` under
#: the proxy's default `no-referrer`), and nothing else leaves the page but to this server.
SECURITY_HEADERS = {"Referrer-Policy": "same-origin"}


@click.command("console", short_help="A requester console in your browser, signed on this machine.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free port",
              help="Port on 127.0.0.1 to serve on.")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening the browser.")
@click.pass_obj
def console(app: Any, port: int, no_browser: bool) -> None:
    """Serve the requester console on 127.0.0.1 until Ctrl-C.

    Overview, assignments (reject, reverse, approve after a dry run), rejections, automatic reversals,
    batches (CSV upload, plan, apply, progress) and the audit. Every API call is made by this process and
    signed with your AWS credentials (--profile, SSO, environment): your keys never reach the browser, and
    the server answers only the browser that opened the printed address (it carries a secret of this run).
    """
    client = app.client
    upstream = Upstream(client.base_url, client.credentials, client.region, timeout=client.timeout)
    site = Console(client, client.base_url)
    proxy = started(lambda port: LocalSigningProxy(upstream, lambda _path, _host: None, port=port, app=site,
                                                   security_headers=SECURITY_HEADERS,
                                                   log=lambda line: click.echo(line, err=True)), port)
    serve_until_stopped(proxy, json_mode=getattr(app, "json_mode", False), facts={"apiUrl": client.base_url},
                        banner=f"mturk-decisions console for {client.base_url}: calls are signed on this machine "
                               f"for {client.region}. Ctrl-C stops.", open_browser=not no_browser)
