#!/usr/bin/env python3
"""The local DynamoDB + SQS emulator: moto's server, with DynamoDB requests taken one at a time.

Real DynamoDB applies each conditional write atomically; moto's threaded server does not (two
racing `version = :v` updates can both succeed, measured here about 1 race in 40). Serializing
the DynamoDB requests restores the guarantee the code relies on, while SQS requests, which long-poll
for up to 20 s, still run concurrently.

Two more changes serve the benchmark (scripts/bench). `GET /_aipm/emulator-stats` reports how many
DynamoDB requests the emulator served and the seconds it spent on them, so that a measurement can
tell the function's own time from the emulator's. And a Scan no longer re-sorts the whole table on
every call: moto does (O(n log n) per page, where DynamoDB reads only the page), which made page
time grow with the table for reasons that have nothing to do with the code under test.

    emulator.py [-H HOST] [-p PORT]
"""

import argparse
import json
import os
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


STATS_PATH = "/_aipm/emulator-stats"


def serialize_dynamodb(app):
    lock = threading.Lock()
    stats = {"dynamodbRequests": 0, "dynamodbSeconds": 0.0}

    def application(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                started = time.perf_counter()
                # Drain the response inside the lock: the write happens while it is produced.
                body = list(app(environ, start_response))
                stats["dynamodbRequests"] += 1
                stats["dynamodbSeconds"] += time.perf_counter() - started
                return body
        if environ.get("PATH_INFO") == STATS_PATH:
            with lock:
                body = json.dumps(stats).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return application


def cache_sorted_items():
    """Keeps each hash-key-only table's sorted item list until an item is added or removed.

    Updates change items in place and never their keys, so the order they sort in holds.
    """
    from moto.dynamodb.models.table import Table

    sort_all = Table.all_items
    put_item = Table.put_item
    delete_item = Table.delete_item

    def changed(table):
        table._aipm_items_version = getattr(table, "_aipm_items_version", 0) + 1

    def all_items(self):
        if self.range_key_attr:
            return sort_all(self)
        version = getattr(self, "_aipm_items_version", 0)
        cached = getattr(self, "_aipm_sorted_items", None)
        if cached is None or cached[0] != version:
            cached = (version, sort_all(self))
            self._aipm_sorted_items = cached
        return list(cached[1])

    def put(self, *args, **kwargs):
        changed(self)
        return put_item(self, *args, **kwargs)

    def delete(self, *args, **kwargs):
        changed(self)
        return delete_item(self, *args, **kwargs)

    Table.all_items = all_items
    Table.put_item = put
    Table.delete_item = delete


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    cache_sorted_items()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
