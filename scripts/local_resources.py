#!/usr/bin/env python3
"""Creates the DynamoDB tables, SQS queues and S3 buckets of template.yaml in a local emulator.

The resource definitions are read from template.yaml itself, so the local stack and AWS can
never disagree on key schemas, indexes or queue settings. Safe to run twice.

    local_resources.py --endpoint http://127.0.0.1:4566 [--stage local] [--env-file PATH]

With --env-file it also writes the functions' environment (template.yaml's Globals, resolved
for this stage and endpoint) for `cargo lambda watch --env-file`.
"""

import argparse
import datetime
import json
import secrets
import os
import sys
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation's short-form intrinsics as {'Fn': value}."""


def _intrinsic(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {("Ref" if name == "Ref" else "Fn::" + name): value}

    return construct


for _tag in ["Ref", "Sub", "GetAtt", "If", "Join", "Select", "Split", "Equals", "Not", "And", "Or",
             "FindInMap", "ImportValue", "Base64", "Condition", "GetAZs", "Cidr"]:
    CfnLoader.add_constructor("!" + _tag, _intrinsic(_tag))


def _is_intrinsic(key):
    return key == "Ref" or key.startswith("Fn::")


class Template:
    def __init__(self, path, service, stage, endpoint):
        self.doc = yaml.load(Path(path).read_text(), Loader=CfnLoader)
        self.resources = self.doc["Resources"]
        self.params = {"Service": service, "Stage": stage, "AWS::Region": REGION,
                       "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
        self.endpoint = endpoint.rstrip("/")
        self.queue_urls = {}

    def of_type(self, kind):
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def name_of(self, logical_id):
        props = self.resources[logical_id]["Properties"]
        if self.resources[logical_id]["Type"] == "AWS::S3::Bucket":
            # CloudFormation names buckets itself; locally the name follows the stage.
            return f"{self.params['Service']}-{self.params['Stage']}-{logical_id.lower()}"
        key = {"AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName",
               "AWS::Events::EventBus": "Name"}[self.resources[logical_id]["Type"]]
        return self.resolve(props[key])

    def queue_url(self, logical_id):
        # The emulator's own answer when known; its usual form otherwise.
        return self.queue_urls.get(logical_id, f"{self.endpoint}/{ACCOUNT}/{self.name_of(logical_id)}")

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1 and _is_intrinsic(next(iter(value))):
            (fn, arg), = value.items()
            if fn == "Ref":
                if arg in self.params:
                    return self.params[arg]
                if arg in self.doc.get("Parameters", {}):
                    return self.doc["Parameters"][arg].get("Default", "")
                kind = self.resources[arg]["Type"]
                return self.queue_url(arg) if kind == "AWS::SQS::Queue" else self.name_of(arg)
            if fn == "Fn::Sub":
                text = arg
                for key, val in self.params.items():
                    text = text.replace("${" + key + "}", str(val))
                if "${" in text:
                    raise ValueError(f"cannot resolve {arg!r} locally")
                return text
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg
                if attribute == "Arn" and self.resources[logical_id]["Type"] == "AWS::SQS::Queue":
                    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name_of(logical_id)}"
                raise ValueError(f"cannot resolve GetAtt {arg!r} locally")
            raise ValueError(f"cannot resolve {fn} locally")
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def function_environment(self):
        variables = self.doc["Globals"]["Function"]["Environment"]["Variables"]
        return {key: str(self.resolve(value)) for key, value in variables.items()}


def create_tables(template, dynamodb):
    existing = set(dynamodb.list_tables()["TableNames"])
    for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(resource["Properties"])
        name = props["TableName"]
        if name in existing:
            print(f"table {name}: exists")
            continue
        # A stream is created with its table (the live channel's broadcaster reads it).
        if "StreamSpecification" in props:
            props["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        args = {key: props[key] for key in
                ["TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes",
                 "StreamSpecification"]
                if key in props}
        dynamodb.create_table(**args)
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        print(f"table {name}: created ({logical_id})")


def create_queues(template, sqs):
    queues = template.of_type("AWS::SQS::Queue")
    # Queues others point at (dead-letter queues) first, so their ARNs exist when referenced.
    ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1]["Properties"])
    for logical_id, resource in ordered:
        props = template.resolve(resource["Properties"])
        attributes = {}
        for key in ["VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                    "ReceiveMessageWaitTimeSeconds"]:
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        created = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)
        template.queue_urls[logical_id] = created["QueueUrl"]
        print(f"queue {props['QueueName']}: ready ({logical_id})")


def create_buckets(template, s3):
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for logical_id in template.of_type("AWS::S3::Bucket"):
        name = template.name_of(logical_id)
        if name not in existing:
            s3.create_bucket(Bucket=name)
        # The page's origin differs per run (the gateway's port): locally any origin may use the
        # signed URLs, which are the credential either way.
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [{
            "AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["*"],
            "AllowedHeaders": ["content-type"], "MaxAgeSeconds": 600}]})
        print(f"bucket {name}: ready ({logical_id})")


def create_event_buses(template, events):
    existing = {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}
    for logical_id in template.of_type("AWS::Events::EventBus"):
        name = template.name_of(logical_id)
        if name not in existing:
            events.create_event_bus(Name=name)
        print(f"event bus {name}: ready ({logical_id})")


LOCAL_PEOPLE = ROOT / "scripts" / "local-people.json"
# What template.yaml can deploy: these get no local people and no seeded project.
DEPLOYABLE_STAGES = ("dev", "prod")


def seed_default_project(template, dynamodb, repository):
    """The default project (key AIPM) with the local people as its members, as
    scripts/local-people.json lists them. Conditional puts: a rerun keeps what people changed."""
    table = template.name_of("ProjectsTable")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    people = json.loads(LOCAL_PEOPLE.read_text())
    admins = sum(1 for person in people if person.get("role") == "admin")
    owner, _, name = repository.partition("/")
    items = [
        {"pk": {"S": "key#AIPM"}, "sk": {"S": "key"}, "projectId": {"S": "default"}},
        {"pk": {"S": "project#default"}, "sk": {"S": "project"}, "id": {"S": "default"},
         "key": {"S": "AIPM"}, "name": {"S": "AIPM (local)"}, "archived": {"BOOL": False},
         "repository": {"M": {"owner": {"S": owner}, "name": {"S": name},
                              "baseBranch": {"S": "main"}}},
         "linkOwner": {"S": owner.lower()},
         "adminCount": {"N": str(admins)}, "version": {"N": "1"},
         "createdAt": {"S": now}, "updatedAt": {"S": now}},
    ]
    for person in people:
        if "role" not in person:
            continue
        items.append({"pk": {"S": "project#default"}, "sk": {"S": "member#" + person["sub"]},
                      "projectId": {"S": "default"}, "memberSub": {"S": person["sub"]},
                      "role": {"S": person["role"]}, "displayName": {"S": person["name"]},
                      "addedAt": {"S": now}})
    created = 0
    for item in items:
        try:
            dynamodb.put_item(TableName=table, Item=item,
                              ConditionExpression="attribute_not_exists(pk)")
            created += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass
    print(f"default project AIPM: {created} of {len(items)} items created")


def init_bare_repository(path):
    """A bare repository with one commit on main, unless it exists: the local code host."""
    if (path / "HEAD").exists():
        return
    import subprocess
    import tempfile
    subprocess.run(["git", "init", "--bare", "--quiet", "--initial-branch", "main", str(path)], check=True)
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "GIT_AUTHOR_NAME": "AIPM", "GIT_AUTHOR_EMAIL": "aipm@localhost",
               "GIT_COMMITTER_NAME": "AIPM", "GIT_COMMITTER_EMAIL": "aipm@localhost"}
        run = lambda *args: subprocess.run(["git", "-C", work, *args], check=True, env=env,
                                           stdout=subprocess.DEVNULL)
        run("init", "--quiet", "--initial-branch", "main")
        Path(work, "README.md").write_text("# Example project\n\nCode generated by AIPM lands here.\n")
        run("add", "README.md")
        run("commit", "--quiet", "-m", "Initial commit")
        run("push", "--quiet", str(path.resolve()), "main")
    print(f"git repository {path}: created")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--service", default="aipm")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--env-file", help="also write the functions' environment here")
    parser.add_argument("--git-repository",
                        help="a bare git repository for the local_git code host (created if missing)")
    args = parser.parse_args()

    template = Template(args.template, args.service, args.stage, args.endpoint)
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name=REGION)
    create_tables(template, session.client("dynamodb", endpoint_url=args.endpoint))
    create_queues(template, session.client("sqs", endpoint_url=args.endpoint))
    create_event_buses(template, session.client("events", endpoint_url=args.endpoint))
    create_buckets(template, session.client("s3", endpoint_url=args.endpoint))
    if args.stage not in DEPLOYABLE_STAGES:
        seed_default_project(template, session.client("dynamodb", endpoint_url=args.endpoint),
                             "local/aipm")

    if args.env_file:
        env = template.function_environment()
        env.update({"AWS_ENDPOINT_URL": args.endpoint, "AWS_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                    # The browser sends reference files to the emulator's S3 directly.
                    "AIPM_DOCUMENTS_ORIGIN": args.endpoint.rstrip("/")})
        if args.git_repository:
            init_bare_repository(Path(args.git_repository))
            env.update({"AIPM_CODE_HOST": "local_git", "AIPM_DEFAULT_BRANCH": "main",
                        "AIPM_LOCAL_GIT_REPOSITORY": str(Path(args.git_repository).resolve())})
        # The webhook needs a repository name and a secret to start; locally nobody signs
        # deliveries with this one unless they read it from the env file.
        env.setdefault("AIPM_GITHUB_REPOSITORY", "local/aipm")
        env.setdefault("AIPM_GITHUB_WEBHOOK_SECRET", secrets.token_hex(16))
        if args.stage not in DEPLOYABLE_STAGES:
            # The local stand-in for sign-in: a person is picked with the x-aipm-person header
            # (the UI's person switcher). The functions refuse this mode on any other stage.
            env["AIPM_AUTH_MODE"] = "local-people"
            env["AIPM_LOCAL_PEOPLE_FILE"] = str(LOCAL_PEOPLE)
        Path(args.env_file).write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
        print(f"environment written to {args.env_file}")


if __name__ == "__main__":
    sys.exit(main())
