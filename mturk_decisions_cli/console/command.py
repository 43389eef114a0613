"""`mturk-decisions console`: the console's server on 127.0.0.1, until Ctrl-C."""
from __future__ import annotations

import json
import webbrowser
from typing import Any

import click

from mturk_decisions_cli.console.app import Console
from mturk_decisions_cli.errors import ConfigError
from mturk_decisions_cli.local_proxy import LocalSigningProxy, Upstream

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
    try:
        proxy = LocalSigningProxy(upstream, lambda _path, _host: None, port=port, app=site,
                                  security_headers=SECURITY_HEADERS, log=lambda line: click.echo(line, err=True))
    except OSError as error:
        raise ConfigError(f"Cannot serve on 127.0.0.1:{port}: {error.strerror or error}.",
                          hint="Choose another --port, or leave it out for a free one.") from None
    url = proxy.entry_url()
    if getattr(app, "json_mode", False):
        click.echo(json.dumps({"url": url, "port": proxy.port, "apiUrl": client.base_url}))
    else:
        click.echo(url)
    click.echo(f"mturk-decisions console for {client.base_url}: calls are signed on this machine for "
               f"{client.region}. Ctrl-C stops.", err=True)
    if not no_browser and not webbrowser.open(url):
        click.echo("No browser could be opened: open the address above yourself.", err=True)
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        proxy.stop()
