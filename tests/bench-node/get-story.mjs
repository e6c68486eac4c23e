// The Node.js twin of get-story for scripts/bench: the same four DynamoDB reads (the story, its
// tests, its children, its recent code tasks) and a JSON answer of the same parts, served through
// the Lambda Runtime API the way Node.js functions on Lambda are, with AWS SDK v3.
import {
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const client = new DynamoDBClient({});
const tables = {
  stories: process.env.AIPM_STORIES_TABLE,
  tests: process.env.AIPM_ACCEPTANCE_TESTS_TABLE,
  tasks: process.env.AIPM_CODE_TASKS_TABLE,
};

// DynamoDB's attribute values as plain JSON.
function plain(value) {
  const [kind, inner] = Object.entries(value)[0];
  switch (kind) {
    case "S":
      return inner;
    case "N":
      return Number(inner);
    case "BOOL":
      return inner;
    case "NULL":
      return null;
    case "L":
      return inner.map(plain);
    case "M":
      return item(inner);
    default:
      return inner;
  }
}
const item = (attributes) =>
  Object.fromEntries(Object.entries(attributes ?? {}).map(([k, v]) => [k, plain(v)]));

async function getStory(event) {
  const raw = event.pathParameters?.id ?? "";
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) {
    return { statusCode: 400, body: JSON.stringify({ error: { code: "INVALID_STORY_ID" } }) };
  }
  const id = { N: raw };
  const [story, tests, children, tasks] = await Promise.all([
    client.send(new GetItemCommand({ TableName: tables.stories, Key: { id }, ConsistentRead: true })),
    client.send(new QueryCommand({
      TableName: tables.tests,
      KeyConditionExpression: "storyId = :id",
      ExpressionAttributeValues: { ":id": id },
    })),
    client.send(new QueryCommand({
      TableName: tables.stories,
      IndexName: "parentId-index",
      KeyConditionExpression: "parentId = :id",
      ExpressionAttributeValues: { ":id": id },
    })),
    client.send(new QueryCommand({
      TableName: tables.tasks,
      IndexName: "storyId-createdAt-index",
      KeyConditionExpression: "storyId = :id",
      ExpressionAttributeValues: { ":id": id },
      ScanIndexForward: false,
      Limit: 10,
    })),
  ]);
  if (!story.Item) {
    return { statusCode: 404, body: JSON.stringify({ error: { code: "STORY_NOT_FOUND" } }) };
  }
  const view = {
    ...item(story.Item),
    acceptanceTests: (tests.Items ?? []).map(item),
    children: (children.Items ?? []).map(item),
    codeTasks: (tasks.Items ?? []).map(item),
  };
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(view),
  };
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  let answer;
  try {
    answer = await getStory(event);
  } catch (error) {
    answer = { statusCode: 503, body: JSON.stringify({ error: { code: "DEPENDENCY_UNAVAILABLE" } }) };
  }
  await fetch(`${api}/invocation/${requestId}/response`, {
    method: "POST",
    body: JSON.stringify(answer),
  });
}
