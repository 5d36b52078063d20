"""`python -m liveinsight`: the command line of the local stack and its tools."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import replace

from . import config


def _serve(args: argparse.Namespace) -> int:
    from .server import LocalStack

    stack = LocalStack(host=args.host, port=args.port, dynamodb_endpoint=args.dynamodb_endpoint,
                       api_key=args.api_key)
    try:
        stack.start()
    except OSError as exc:
        print(f"liveinsight: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
              "choose another port with --port", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"LiveInsight API ready at {stack.url}  (store: {stack.settings.dynamodb_endpoint}; "
          f"tracker: {stack.url}/tracker.js)  Ctrl-C stops it.", flush=True)
    try:
        stack.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("LiveInsight stopped.", flush=True)
    return 0


def _create_tables(args: argparse.Namespace) -> int:
    from .store import make_client
    from .tables import create_tables

    settings = config.Settings.from_env()
    if args.endpoint_url:
        settings = replace(settings, dynamodb_endpoint=args.endpoint_url)
    created = create_tables(make_client(settings), settings)
    names = (settings.events_table, settings.sessions_table, settings.stats_table)
    for name in names:
        print(f"{name}: {'created' if name in created else 'already exists'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m liveinsight",
                                     description="LiveInsight: self-hosted real-time web analytics.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API locally (embedded store, aggregation, HTTP gateway)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--dynamodb-endpoint", metavar="URL",
                       help="use this DynamoDB-compatible endpoint instead of the embedded store")
    serve.add_argument("--api-key", metavar="KEY", default=os.environ.get(config.ENV_API_KEY),
                       help=f"require this key on the GET routes (default: ${config.ENV_API_KEY})")
    serve.set_defaults(run=_serve)

    tables = commands.add_parser("create-tables", help="create the DynamoDB tables if they do not exist")
    tables.add_argument("--endpoint-url", metavar="URL",
                        help=f"DynamoDB endpoint (default: ${config.ENV_DYNAMODB_ENDPOINT} or AWS)")
    tables.set_defaults(run=_create_tables)

    from . import package

    pkg = commands.add_parser("package", help="build the Lambda zip for the deployed functions (dist/function.zip)")
    package.add_arguments(pkg)
    pkg.set_defaults(run=package.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
