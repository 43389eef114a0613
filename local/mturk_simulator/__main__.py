"""Run the simulator as a process: ``python -m local.mturk_simulator --port 8799 [--sqs-endpoint URL]``.

Prints its URL on the first line of stdout, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import SimulatorServer
from .simulator import MTurkSimulator


def _requester(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise argparse.ArgumentTypeError("expected ACCESS_KEY_ID:SECRET[:BALANCE]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else "100.00"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.mturk_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799, help="0 picks a free port")
    parser.add_argument("--region", default="us-east-1", help='region credentials must be scoped to ("any" for any)')
    parser.add_argument("--requester", action="append", type=_requester, default=[], metavar="KEY:SECRET[:BALANCE]",
                        help="seed a requester (repeatable); more can be added through /_admin/requesters")
    parser.add_argument("--sqs-endpoint", metavar="URL", default=None,
                        help="SQS endpoint notifications are sent to, e.g. moto server's URL "
                             "(default: the host of each destination queue URL)")
    args = parser.parse_args(argv)

    try:
        sim = MTurkSimulator(sqs_endpoint_url=args.sqs_endpoint)
    except ValueError as exc:
        parser.error(f"--sqs-endpoint: {exc}")
    for key, secret, balance in args.requester:
        sim.add_requester(key, secret, balance=balance)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    server = SimulatorServer(sim, host=args.host, port=args.port,
                             region=None if args.region == "any" else args.region).start()
    print(server.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("MTurk simulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
