#!/usr/bin/env python3
"""The local DynamoDB + SQS emulator: moto's server, with DynamoDB requests taken one at a time.

Real DynamoDB applies each conditional write atomically; moto's threaded server does not (two
racing `version = :v` updates can both succeed, measured here about 1 race in 40). Serializing
the DynamoDB requests restores the guarantee the code relies on, while SQS requests, which long-poll
for up to 20 s, still run concurrently.

The other changes make the emulator's cost follow DynamoDB's shape, so that the benchmark
(scripts/bench) and the tests measure the code and not moto:
- `GET /_aipm/emulator-stats` reports the DynamoDB requests served and the seconds spent on them,
  so that a measurement can tell the function's own time from the emulator's;
- a Scan no longer re-sorts the whole table (O(n log n) per page, where DynamoDB reads the page);
- attribute values go into responses as stored instead of through moto's shape-by-shape
  serializer (a 50-story Scan: 129 ms before, 20 ms after, byte-for-byte the same JSON);
- a transaction's rollback copy holds only the items it touches, not whole tables (a create on a
  table of 2,400 stories: 232 ms before, 3 ms after).

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


def back_up_only_what_a_transaction_touches():
    """Makes a transaction's rollback copy cost what the transaction touches, not the table.

    Before a TransactWriteItems moto deep-copies every table the transaction names, so that it
    can put the copy back if a condition fails: about 230 ms for a table of 2,400 stories
    (measured), paid by every create. The copy made here shares the items the transaction cannot
    change and deep-copies only those under its keys. Items are changed only through their key
    (put replaces, update changes in place, delete removes), so the shared ones stay as they were.
    """
    import copy
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    touched = threading.local()

    def snapshot(table, keys):
        backup = copy.copy(table)
        items = copy.copy(table.items)
        for key in keys:
            hash_value = DynamoType(key[table.hash_key_attr])
            if hash_value not in items:
                continue
            if table.range_key_attr:
                inner = dict(items[hash_value])
                range_value = DynamoType(key[table.range_key_attr])
                if range_value in inner:
                    inner[range_value] = copy.deepcopy(inner[range_value])
                items[hash_value] = inner
            else:
                items[hash_value] = copy.deepcopy(items[hash_value])
        backup.items = items
        # The sorted list (cache_sorted_items) holds the live items; the backup sorts its own.
        backup._aipm_sorted_items = None
        return backup

    class CopyModule:
        def __getattr__(self, name):
            return getattr(copy, name)

        def deepcopy(self, value, memo=None):
            keys = getattr(touched, "keys", None)
            if keys is not None and isinstance(value, Table):
                return snapshot(value, keys.get(value.name, []))
            return copy.deepcopy(value, memo)

    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        keys = {}
        for entry in transact_items:
            for operation, parameters in entry.items():
                name = parameters.get("TableName")
                table = self.tables.get(name)
                if table is None:
                    continue
                if operation == "Put":
                    attributes = parameters.get("Item", {})
                    key = {
                        attribute: attributes[attribute]
                        for attribute in table.table_key_attrs
                        if attribute in attributes
                    }
                else:
                    key = parameters.get("Key", {})
                if table.hash_key_attr in key and (
                    not table.range_key_attr or table.range_key_attr in key
                ):
                    keys.setdefault(name, []).append(key)
        touched.keys = keys
        try:
            return transact(self, transact_items)
        finally:
            touched.keys = None

    backend_module.copy = CopyModule()
    DynamoDBBackend.transact_write_items = transact_write_items


def pass_attribute_values_through():
    """Writes DynamoDB attribute values into responses as they are stored.

    moto builds every response by walking botocore's shape model, member by member; for an item
    that walk costs about 2.5 ms (measured: 90% of a 50-story Scan). Stored attribute values are
    already in the wire format ({"S": ...}, {"N": ...}, {"L": [...]}, {"M": {...}}), so they are
    copied as they are. Binary values still take the long way, which base64-encodes them.
    """
    from moto.core.serialize import BaseJSONSerializer

    walk = BaseJSONSerializer._serialize_type_structure

    def has_binary(value):
        if isinstance(value, dict):
            return "B" in value or "BS" in value or any(has_binary(v) for v in value.values())
        if isinstance(value, list):
            return any(has_binary(v) for v in value)
        return False

    def serialize_structure(self, serialized, value, shape, key):
        if shape.name == "AttributeValue" and isinstance(value, dict) and not has_binary(value):
            self._default_serialize(serialized, value, shape, key)
            return
        walk(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    cache_sorted_items()
    pass_attribute_values_through()
    back_up_only_what_a_transaction_touches()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
