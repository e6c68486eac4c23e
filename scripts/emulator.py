#!/usr/bin/env python3
"""The local DynamoDB + SQS emulator: moto's server, with DynamoDB requests taken one at a time.

Real DynamoDB applies each conditional write atomically; moto's threaded server does not (two
racing `version = :v` updates can both succeed, measured here about 1 race in 40). Serializing
the DynamoDB requests restores the guarantee the code relies on, while SQS requests, which long-poll
for up to 20 s, still run concurrently.

    emulator.py [-H HOST] [-p PORT]
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialize_dynamodb(app):
    lock = threading.Lock()

    def application(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                # Drain the response inside the lock: the write happens while it is produced.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return application


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
