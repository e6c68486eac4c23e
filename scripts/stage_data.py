"""Copies a stage's stories and acceptance tests: mirror one stage into another (prod -> dev),
export a stage to a JSON Lines file, import such a file into an empty stage.

    scripts/stage-data mirror --from prod --to dev [--dry-run]
    scripts/stage-data export --stage prod --out prod.jsonl
    scripts/stage-data import --stage dev --in prod.jsonl [--dry-run]

Ids are kept, so children keep pointing at their parents and tests at their stories; the target's
id counter is moved past the highest id. Code tasks are not copied, and a copied story is not
tied to a task (`activeTaskId` is dropped). Mirror clears the target first and refuses a
production stage as its target; re-running it after an interruption starts it over and ends in
the same state. Import refuses a stage that holds any story, and a file whose last line does not
confirm its counts (an export cut short).

Tables are `{service}-{stage}-stories` and `{service}-{stage}-acceptance-tests`, as template.yaml
names them. AWS credentials and Region come from the usual places (environment, profile, role);
`--endpoint-url` points at an emulator.

The file format: one JSON object per line. The first is a header
`{"format": "aipm-stage-data", "version": 1, "stage": ..., "exportedAt": ...}`; then one line per
item, `{"table": "stories" | "acceptance-tests", "Item": {...}}` with the item in DynamoDB JSON
(the attribute-value form DynamoDB's own export to S3 writes, so nothing is lost in a round
trip); the last line is `{"end": true, "stories": N, "acceptanceTests": M, "lastStoryId": K}` (the id
counter, so that a restored stage never hands out an id it had used).
"""

import argparse
import datetime
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

FORMAT = "aipm-stage-data"
VERSION = 1
COUNTER_ID = "0"
PROTECTED_STAGES = {"prod", "production"}
BATCH = 25
TABLES = ("stories", "acceptance-tests")


class Refused(Exception):
    """The command will not do this; the message says why and what to do instead."""


def log(message):
    print(message, file=sys.stderr, flush=True)


class Progress:
    """One line per tenth of the work (and at the end), so that long copies show they move."""

    def __init__(self, verb, total):
        self.verb = verb
        self.total = total
        self.done = 0
        # Tests interrupt a copy part-way with this, as Ctrl-C or a lost connection would.
        self.stop_after = int(os.environ.get("AIPM_STAGE_DATA_STOP_AFTER", "0") or 0)
        self.next_report = max(total // 10, 1)
        self.started = time.monotonic()

    def add(self, count):
        self.done += count
        if self.done >= self.next_report or self.done == self.total:
            took = time.monotonic() - self.started
            log(f"  {self.verb} {self.done}/{self.total} items ({took:.1f} s)")
            self.next_report = self.done + max(self.total // 10, 1)
        if self.stop_after and self.done >= self.stop_after:
            raise KeyboardInterrupt


class StageTables:
    """One stage's two tables through the low-level client (items stay in DynamoDB JSON)."""

    def __init__(self, client, service, stage):
        self.client = client
        self.stage = stage
        self.names = {table: f"{service}-{stage}-{table}" for table in TABLES}

    def check_exists(self):
        for name in self.names.values():
            try:
                self.client.describe_table(TableName=name)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ResourceNotFoundException":
                    raise Refused(f"table {name} does not exist: is stage {self.stage} deployed?")
                raise

    def scan(self, table, keys_only=False):
        arguments = {"TableName": self.names[table], "ConsistentRead": True}
        if keys_only:
            arguments["ProjectionExpression"] = (
                "id" if table == "stories" else "storyId, id"
            )
        while True:
            page = self.client.scan(**arguments)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def stories_and_tests(self):
        """Every story (the counter item apart) and test, and the counter's value."""
        stories, counter = [], 0
        for item in self.scan("stories"):
            if item["id"]["N"] == COUNTER_ID:
                counter = int(item.get("lastStoryId", {}).get("N", "0"))
            else:
                stories.append(item)
        return stories, list(self.scan("acceptance-tests")), counter

    def story_count(self):
        return sum(1 for item in self.scan("stories", keys_only=True) if item["id"]["N"] != COUNTER_ID)

    def write(self, table, requests, progress):
        """Sends put or delete requests 25 at a time, again until none is left unprocessed."""
        name = self.names[table]
        for start in range(0, len(requests), BATCH):
            pending = requests[start:start + BATCH]
            attempt = 0
            while pending:
                answer = self.client.batch_write_item(RequestItems={name: pending})
                pending = answer.get("UnprocessedItems", {}).get(name, [])
                if pending:
                    attempt += 1
                    time.sleep(min(0.05 * 2 ** attempt, 2.0))
            progress.add(min(BATCH, len(requests) - start))

    def clear(self):
        keys = {table: list(self.scan(table, keys_only=True)) for table in TABLES}
        total = sum(len(found) for found in keys.values())
        progress = Progress("deleted", total)
        for table in TABLES:
            self.write(table, [{"DeleteRequest": {"Key": key}} for key in keys[table]], progress)
        return total

    def load(self, stories, tests, counter):
        """Writes stories and tests as they are (minus any tie to a code task), then the counter."""
        progress = Progress("copied", len(stories) + len(tests))
        copied = [without_task(story) for story in stories]
        self.write("stories", [{"PutRequest": {"Item": item}} for item in copied], progress)
        self.write("acceptance-tests", [{"PutRequest": {"Item": item}} for item in tests], progress)
        highest = max([int(story["id"]["N"]) for story in stories] + [counter, 0])
        # Acceptance-test keys (AT-n) go on from the highest copied, so a new test never takes
        # a copied test's key.
        highest_test = max([test_number(test) for test in tests] + [0])
        # The counter goes last: a run cut short leaves it where the next run resets it anyway.
        counter_item = {"id": {"N": COUNTER_ID}, "lastStoryId": {"N": str(highest)}}
        if highest_test:
            counter_item["lastTestNumber"] = {"N": str(highest_test)}
        self.client.put_item(TableName=self.names["stories"], Item=counter_item)
        return highest


def test_number(test):
    """n of a test's AT-n key, 0 when it has none."""
    key = test.get("key", {}).get("S", "")
    return int(key[3:]) if key.startswith("AT-") and key[3:].isdigit() else 0


def without_task(story):
    """A copied story has no code task in its stage: it is not tied to one."""
    return {name: value for name, value in story.items() if name != "activeTaskId"}


def dynamodb_client(arguments):
    config = Config(retries={"max_attempts": 8, "mode": "adaptive"})
    return boto3.client(
        "dynamodb",
        endpoint_url=arguments.endpoint_url or None,
        region_name=arguments.region or None,
        config=config,
    )


def check_parents(stories):
    """Every parent a story names is among the stories: a copy never has dangling links."""
    ids = {story["id"]["N"] for story in stories}
    dangling = [
        story["id"]["N"]
        for story in stories
        if "parentId" in story and story["parentId"].get("N") not in ids
    ]
    if dangling:
        raise Refused(
            f"stories {', '.join(dangling[:10])} name parents that are not in the source; "
            "the source changed during the read, run it again"
        )


def mirror(arguments):
    source_stage, target_stage = arguments.source, arguments.target
    if target_stage.lower() in PROTECTED_STAGES:
        raise Refused(f"refusing to overwrite {target_stage}: mirroring never writes to production")
    if source_stage == target_stage:
        raise Refused("the source and the target are the same stage")
    client = dynamodb_client(arguments)
    source = StageTables(client, arguments.service, source_stage)
    target = StageTables(client, arguments.service, target_stage)
    source.check_exists()
    target.check_exists()
    log(f"reading {source_stage}")
    stories, tests, counter = source.stories_and_tests()
    check_parents(stories)
    present = target.story_count()
    log(
        f"{source_stage}: {len(stories)} stories, {len(tests)} acceptance tests; "
        f"{target_stage} holds {present} stories, which will be deleted"
    )
    if arguments.dry_run:
        log("dry run: nothing was changed")
        return 0
    log(f"clearing {target_stage}")
    target.clear()
    log(f"copying into {target_stage}")
    highest = target.load(stories, tests, counter)
    log(
        f"mirrored {len(stories)} stories and {len(tests)} acceptance tests from "
        f"{source_stage} to {target_stage}; new stories start after {highest}"
    )
    return 0


def export(arguments):
    client = dynamodb_client(arguments)
    source = StageTables(client, arguments.service, arguments.stage)
    source.check_exists()
    log(f"reading {arguments.stage}")
    stories, tests, counter = source.stories_and_tests()
    check_parents(stories)
    partial = arguments.out + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "stage": arguments.stage,
            "exportedAt": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        out.write(json.dumps(header) + "\n")
        for story in stories:
            out.write(json.dumps({"table": "stories", "Item": story}) + "\n")
        for test in tests:
            out.write(json.dumps({"table": "acceptance-tests", "Item": test}) + "\n")
        end = {"end": True, "stories": len(stories), "acceptanceTests": len(tests),
               "lastStoryId": counter}
        out.write(json.dumps(end) + "\n")
    # Only a complete file takes the name asked for.
    os.replace(partial, arguments.out)
    log(f"exported {len(stories)} stories and {len(tests)} acceptance tests to {arguments.out}")
    return 0


def read_export(path):
    stories, tests, end = [], [], None
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise Refused(f"{path}:{number} is not JSON")
            if number == 1:
                if record.get("format") != FORMAT or record.get("version") != VERSION:
                    raise Refused(f"{path} is not an AIPM stage export (version {VERSION})")
                continue
            if end is not None:
                raise Refused(f"{path}:{number} follows the end line")
            if record.get("end") is True:
                end = record
            elif record.get("table") == "stories" and "id" in record.get("Item", {}):
                stories.append(record["Item"])
            elif record.get("table") == "acceptance-tests" and "storyId" in record.get("Item", {}):
                tests.append(record["Item"])
            else:
                raise Refused(f"{path}:{number} is neither a story nor an acceptance test")
    if end is None or end.get("stories") != len(stories) or end.get("acceptanceTests") != len(tests):
        raise Refused(f"{path} is incomplete (no end line, or its counts differ): export it again")
    return stories, tests, int(end.get("lastStoryId", 0))


def import_file(arguments):
    stories, tests, counter = read_export(arguments.input)
    check_parents(stories)
    client = dynamodb_client(arguments)
    target = StageTables(client, arguments.service, arguments.stage)
    target.check_exists()
    present = target.story_count()
    if present:
        raise Refused(
            f"{arguments.stage} holds {present} stories: import restores into an empty stage only"
        )
    log(f"{arguments.input}: {len(stories)} stories, {len(tests)} acceptance tests")
    if arguments.dry_run:
        log("dry run: nothing was changed")
        return 0
    highest = target.load(stories, tests, counter)
    log(
        f"imported {len(stories)} stories and {len(tests)} acceptance tests into "
        f"{arguments.stage}; new stories start after {highest}"
    )
    return 0


def main():
    parser = argparse.ArgumentParser(
        prog="scripts/stage-data", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--service", default="aipm", help="the stack's Service parameter")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", ""))
    parser.add_argument("--endpoint-url", default="", help="an emulator's URL")
    commands = parser.add_subparsers(dest="command", required=True)
    mirror_command = commands.add_parser("mirror", help="copy one stage into another")
    mirror_command.add_argument("--from", dest="source", required=True)
    mirror_command.add_argument("--to", dest="target", required=True)
    mirror_command.add_argument("--dry-run", action="store_true")
    export_command = commands.add_parser("export", help="write a stage to a JSON Lines file")
    export_command.add_argument("--stage", required=True)
    export_command.add_argument("--out", required=True)
    import_command = commands.add_parser("import", help="load an export into an empty stage")
    import_command.add_argument("--stage", required=True)
    import_command.add_argument("--in", dest="input", required=True)
    import_command.add_argument("--dry-run", action="store_true")
    arguments = parser.parse_args()
    run = {"mirror": mirror, "export": export, "import": import_file}[arguments.command]
    try:
        return run(arguments)
    except Refused as refusal:
        log(f"refused: {refusal}")
        return 2
    except (BotoCoreError, ClientError) as error:
        log(f"AWS said: {error}")
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: run the same command again to finish")
        sys.exit(130)
