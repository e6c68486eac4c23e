"""Moves a stage's single-project data into its default project, once and safely.

    scripts/migrate-projects --stage dev --admin <cognito sub> [--admin <sub> ...]
        [--key AIPM] [--name "AIPM"] [--repository owner/name] [--base-branch main]
        [--endpoint-url http://127.0.0.1:4566] [--limit N] [--dry-run]

What it does, each step skipped where it was done before:
1. Creates the default project (id `default`, the key given, reserved forever) in
   `{service}-{stage}-projects`, with every `--admin` as an admin member. Without a project the
   stage answers 404 to everyone; a deployment admin (Cognito group AdminGroup) can always run
   it and then add people in the UI.
2. Stamps `projectId = default` on every story, acceptance test and code task that has none,
   and `rootOf = 0` (the default project's ordinal) on every story without a parent, which
   puts it in the index the tree's first level is read from.
3. Counts each story's children (`childCount`, `doneChildCount`) where the counters are
   missing; from then on every write that adds, removes, moves or finishes a child keeps them.
   Run it before people use the new version, so no child is added between the count and the
   write (a counter present is never overwritten).
   Story numbers and the id counter are not touched: the next story continues the numbering and
   the old story URLs keep working.
4. Gives every acceptance test without one its key (`AT-n`, numbered per project in the order
   the tests were written), from the project's test counter, which new tests then continue.

It is idempotent and resumable: an interrupted run (or `--limit N`, which stops after N item
writes) is finished by running it again, and a run with nothing left to do changes nothing
and says so. Every write is conditional, so two runs at once cannot write anything twice.
"""

import argparse
import datetime
import sys

import boto3
from botocore.config import Config

DEFAULT_PROJECT = "default"
COUNTER_ID = "0"
TABLES = (("stories", "id"), ("acceptance-tests", "storyId"), ("code-tasks", "taskId"))


def log(message):
    print(message, flush=True)


class Budget:
    """How many item writes this run may still make (`--limit`); unlimited by default."""

    def __init__(self, limit):
        self.left = limit

    def take(self):
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def put_once(client, table, item, dry_run):
    """Puts an item unless its key exists; True when it was written."""
    if dry_run:
        return not client.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]},
                                   ConsistentRead=True).get("Item")
    try:
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def create_project(client, args, budget):
    table = f"{args.service}-{args.stage}-projects"
    at = now()
    project = {
        "pk": {"S": f"project#{DEFAULT_PROJECT}"}, "sk": {"S": "project"},
        "id": {"S": DEFAULT_PROJECT}, "key": {"S": args.key}, "name": {"S": args.name},
        "archived": {"BOOL": False}, "adminCount": {"N": str(len(args.admin))},
        "version": {"N": "1"}, "createdAt": {"S": at}, "updatedAt": {"S": at},
        "createdBy": {"S": "migrate-projects"},
    }
    if args.repository:
        owner, _, name = args.repository.partition("/")
        project["repository"] = {"M": {"owner": {"S": owner}, "name": {"S": name},
                                       "baseBranch": {"S": args.base_branch}}}
        # The installation events find projects by their repository's account (linkOwner-index).
        project["linkOwner"] = {"S": owner.lower()}
    items = [
        {"pk": {"S": f"key#{args.key}"}, "sk": {"S": "key"}, "projectId": {"S": DEFAULT_PROJECT}},
        project,
    ]
    for sub in args.admin:
        items.append({
            "pk": {"S": f"project#{DEFAULT_PROJECT}"}, "sk": {"S": f"member#{sub}"},
            "projectId": {"S": DEFAULT_PROJECT}, "memberSub": {"S": sub}, "role": {"S": "admin"},
            "addedAt": {"S": at}, "addedBy": {"S": "migrate-projects"},
        })
    created = 0
    for item in items:
        if not budget.take():
            return created, False
        if put_once(client, table, item, args.dry_run):
            created += 1
    return created, True


def stamp(client, args, budget):
    """Stamps projectId on every item of the three tables that lacks it, and rootOf on every
    story without a parent that lacks it; (stamped, finished)."""
    stamped = {}
    for name, hash_key in TABLES:
        table = f"{args.service}-{args.stage}-{name}"
        stamped[name] = 0
        stories = name == "stories"
        names = {"#h": hash_key}
        if name == "acceptance-tests":
            names["#r"] = "id"
        pages = client.get_paginator("scan").paginate(
            TableName=table, ConsistentRead=True,
            FilterExpression="attribute_not_exists(projectId)" + (
                " OR (attribute_not_exists(parentId) AND attribute_not_exists(rootOf))" if stories else ""),
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
        for page in pages:
            for key in page.get("Items", []):
                if stories and key["id"].get("N") == COUNTER_ID:
                    continue  # the id counter, not a story: the numbering continues from it
                if not budget.take():
                    log(f"{name}: {stamped[name]} stamped; stopped at the limit, run again to go on")
                    return stamped, False
                if not args.dry_run and not stamp_one(client, table, hash_key, key, stories):
                    continue  # deleted or changed meanwhile, or another run stamped it
                stamped[name] += 1
        log(f"{name}: {stamped[name]} stamped")
    return stamped, True


def stamp_one(client, table, hash_key, key, story):
    """One conditional stamp; False when the item changed under it (a later run sees it)."""
    names = {"#h": hash_key}
    values = {":p": {"S": DEFAULT_PROJECT}}
    update = "SET projectId = if_not_exists(projectId, :p)"
    condition = "attribute_exists(#h)"
    if story:
        # Only a story that is still a root joins the root index; a reparented one was stamped
        # by the write that gave it a parent.
        try:
            client.update_item(
                TableName=table, Key=key,
                UpdateExpression=update + ", rootOf = if_not_exists(rootOf, :o)",
                ConditionExpression=condition + " AND attribute_not_exists(parentId)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":o": {"N": "0"}},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            pass
        condition += " AND attribute_not_exists(projectId)"
    else:
        condition += " AND attribute_not_exists(projectId)"
    try:
        client.update_item(
            TableName=table, Key=key, UpdateExpression=update, ConditionExpression=condition,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def count_children(client, args, budget):
    """Writes the child counters of every parent that has none; (counted, finished)."""
    table = f"{args.service}-{args.stage}-stories"
    totals, done, counted_already = {}, {}, set()
    pages = client.get_paginator("scan").paginate(
        TableName=table, ConsistentRead=True,
        ProjectionExpression="id, parentId, #s, childCount", ExpressionAttributeNames={"#s": "status"},
    )
    for page in pages:
        for item in page.get("Items", []):
            if "childCount" in item:
                counted_already.add(item["id"]["N"])
            parent = item.get("parentId", {}).get("N")
            if parent:
                totals[parent] = totals.get(parent, 0) + 1
                done[parent] = done.get(parent, 0) + (item.get("status", {}).get("S") == "Done")
    counted = 0
    for parent, total in sorted(totals.items(), key=lambda entry: int(entry[0])):
        if parent in counted_already:
            continue
        if not budget.take():
            log(f"child counters: {counted} written; stopped at the limit, run again to go on")
            return counted, False
        if not args.dry_run:
            try:
                client.update_item(
                    TableName=table, Key={"id": {"N": parent}},
                    UpdateExpression="SET childCount = :c, doneChildCount = :d",
                    ConditionExpression="attribute_exists(id) AND attribute_not_exists(childCount)",
                    ExpressionAttributeValues={":c": {"N": str(total)}, ":d": {"N": str(done[parent])}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue  # counted by another run, or gone
        counted += 1
    log(f"child counters: {counted} written")
    return counted, True


def key_tests(client, args, budget):
    """Numbers every acceptance test that has no key yet; (keyed, finished)."""
    tests_table = f"{args.service}-{args.stage}-acceptance-tests"
    stories_table = f"{args.service}-{args.stage}-stories"
    unkeyed = []
    pages = client.get_paginator("scan").paginate(
        TableName=tests_table, ConsistentRead=True, FilterExpression="attribute_not_exists(#k)",
        ProjectionExpression="storyId, id, createdAt", ExpressionAttributeNames={"#k": "key"},
    )
    for page in pages:
        unkeyed.extend(page.get("Items", []))
    unkeyed.sort(key=lambda test: (int(test["storyId"]["N"]) >> 32,
                                   test.get("createdAt", {}).get("S", ""), int(test["storyId"]["N"])))
    keyed = 0
    for test in unkeyed:
        # Two writes per test: the counter, then the key.
        if not budget.take() or not budget.take():
            log(f"test keys: {keyed} written; stopped at the limit, run again to go on")
            return keyed, False
        if args.dry_run:
            keyed += 1
            continue
        counter = str(int(test["storyId"]["N"]) >> 32 << 32)
        answer = client.update_item(
            TableName=stories_table, Key={"id": {"N": counter}},
            UpdateExpression="ADD lastTestNumber :one", ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        number = answer["Attributes"]["lastTestNumber"]["N"]
        try:
            client.update_item(
                TableName=tests_table, Key={"storyId": test["storyId"], "id": test["id"]},
                # keyOf (the project's ordinal) puts the test in keyOf-index, where CI uploads
                # find tests by key.
                UpdateExpression="SET #k = :key, keyOf = :ordinal",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
                ExpressionAttributeValues={":key": {"S": f"AT-{number}"},
                                           ":ordinal": {"N": str(int(test["storyId"]["N"]) >> 32)}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            continue  # keyed by another run, or deleted: the number is a gap, nothing more
        keyed += 1
    log(f"test keys: {keyed} written")
    return keyed, True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--service", default="aipm")
    parser.add_argument("--admin", action="append", default=[],
                        help="a Cognito sub to make admin of the default project (repeatable)")
    parser.add_argument("--key", default="AIPM", help="the default project's key (2-10 capital letters)")
    parser.add_argument("--name", default="AIPM")
    parser.add_argument("--repository", help="owner/name of its code repository")
    parser.add_argument("--base-branch", default="main")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--region")
    parser.add_argument("--limit", type=int, help="stop after this many item writes")
    parser.add_argument("--dry-run", action="store_true", help="count what would change, write nothing")
    args = parser.parse_args()
    if not (2 <= len(args.key) <= 10 and args.key.isascii() and args.key.isalpha() and args.key.isupper()):
        parser.error("--key is 2 to 10 capital letters, such as AIPM")
    if not args.admin:
        log("note: no --admin given; only deployment admins (the Cognito admin group) will see the project")

    client = boto3.client("dynamodb", endpoint_url=args.endpoint_url, region_name=args.region,
                          config=Config(retries={"max_attempts": 8, "mode": "standard"}))
    budget = Budget(args.limit)
    created, finished = create_project(client, args, budget)
    log(f"default project {args.key}: {created} item(s) created")
    if not finished:
        log("stopped at the limit; run again to go on")
        return 0
    stamped, finished = stamp(client, args, budget)
    counted = keyed = 0
    if finished:
        counted, finished = count_children(client, args, budget)
    if finished:
        keyed, finished = key_tests(client, args, budget)
    changed = created + sum(stamped.values()) + counted + keyed
    verb = "would change" if args.dry_run else "changed"
    log(f"{verb} {changed} item(s)" + ("" if finished else " (not finished: run again)"))
    if changed == 0 and finished:
        log("nothing left to migrate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
