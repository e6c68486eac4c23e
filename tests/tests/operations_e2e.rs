//! Operating AIPM: `scripts/smoke` against the local stack (and its clean-up when a check fails
//! half-way), and `scripts/stage-data` mirroring, exporting and importing between emulated
//! stages (ids, parent links, tests, the id counter, an interrupted copy, prod refused).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Output;

use aipm::adapters::dynamodb::{DynamoAcceptanceTestRepository, DynamoStoryRepository};
use aipm::model::NewStory;
use aipm::ports::{AcceptanceTestRepository, StoryRepository};
use aipm_tests::{Emulator, LocalUp, config_from, repo_root, sample_test, temp_dir};
use aws_sdk_dynamodb::types::AttributeValue;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn smoke(url: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(repo_root().join("scripts/smoke"))
        .arg(url)
        .args(extra)
        .output()
        .await
        .expect("scripts/smoke runs")
}

#[tokio::test]
async fn the_smoke_check_passes_on_the_local_stack_and_cleans_up_after_a_failed_check() {
    let mut stack = LocalUp::start_with("smoke", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let passed = smoke(&stack.url, &[]).await;
    let report = text(&passed);
    assert_eq!(passed.status.code(), Some(0), "{report}");
    assert!(report.contains("\n11 passed, 0 failed"), "{report}");
    assert_eq!(report.matches("PASS ").count(), 11, "{report}");

    let broken = smoke(&stack.url, &["--break-check", "update test"]).await;
    let report = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL update test"), "{report}");
    assert!(report.contains("SKIP delete story"), "{report}");
    assert!(report.contains("8 passed, 3 failed"), "{report}");
    let story: u64 = report
        .lines()
        .find_map(|line| line.strip_prefix("cleaned up story "))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no clean-up line in {report}"));

    let http = reqwest::Client::new();
    let gone = http
        .get(format!("{}/stories/{story}", stack.url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "the half-done run's story is gone");
    let listed: serde_json::Value = http
        .get(format!("{}/stories?limit=500", stack.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["stories"].as_array().map(Vec::len),
        Some(0),
        "smoke runs leave nothing behind: {listed}"
    );

    let unreachable = smoke("http://127.0.0.1:9", &[]).await;
    assert_eq!(unreachable.status.code(), Some(2), "{}", text(&unreachable));
    stack.stop().await;
}

/// One emulated stage's tables and repositories.
struct Stage {
    config: aipm::config::Config,
    client: aws_sdk_dynamodb::Client,
}

impl Stage {
    async fn create(emulator: &Emulator, sdk: &aws_config::SdkConfig, name: &str) -> Self {
        let environment = emulator.create_resources(name).await;
        Stage {
            config: config_from(&environment),
            client: aws_sdk_dynamodb::Client::new(sdk),
        }
    }

    fn stories(&self) -> DynamoStoryRepository {
        DynamoStoryRepository::new(self.client.clone(), &self.config.stories_table)
    }

    fn tests(&self) -> DynamoAcceptanceTestRepository {
        DynamoAcceptanceTestRepository::new(
            self.client.clone(),
            &self.config.acceptance_tests_table,
            &self.config.stories_table,
        )
    }

    /// Every item of a table by its key (`id`, or `storyId/id`).
    async fn items(&self, table: &str) -> BTreeMap<String, HashMap<String, AttributeValue>> {
        let mut items = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items.unwrap_or_default() {
                let number = |name: &str| match item.get(name) {
                    Some(AttributeValue::N(n)) => n.clone(),
                    Some(AttributeValue::S(s)) => s.clone(),
                    _ => String::new(),
                };
                let key = if item.contains_key("storyId") {
                    format!("{}/{}", number("storyId"), number("id"))
                } else {
                    number("id")
                };
                items.insert(key, item);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    async fn counter(&self) -> u64 {
        match self.items(&self.config.stories_table).await.get("0") {
            Some(counter) => match counter.get("lastStoryId") {
                Some(AttributeValue::N(n)) => n.parse().unwrap(),
                _ => 0,
            },
            None => 0,
        }
    }
}

fn new_story(title: &str, parent_id: Option<u64>) -> NewStory {
    NewStory {
        parent_id,
        title: title.into(),
        as_a: "product manager".into(),
        i_want: "to see the tree".into(),
        so_that: "planning is quick".into(),
        description: String::new(),
        components: vec![],
        story_point: Some(2),
        assignee_email: None,
        created_by: None,
    }
}

async fn stage_data(emulator: &Emulator, arguments: &[&str], stop_after: Option<u32>) -> Output {
    let mut command = tokio::process::Command::new(repo_root().join("scripts/stage-data"));
    command
        .args([
            "--endpoint-url",
            &emulator.endpoint,
            "--region",
            "us-east-1",
        ])
        .args(arguments)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local");
    if let Some(count) = stop_after {
        command.env("AIPM_STAGE_DATA_STOP_AFTER", count.to_string());
    }
    command.output().await.expect("scripts/stage-data runs")
}

/// Stories and tests as the source holds them, minus what a copy drops (the tie to a task).
fn comparable(
    mut items: BTreeMap<String, HashMap<String, AttributeValue>>,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    for item in items.values_mut() {
        item.remove("activeTaskId");
    }
    items
}

#[tokio::test]
async fn mirror_export_and_import_keep_ids_parents_tests_and_the_counter() {
    let mut emulator = Emulator::start().await;
    let sdk = emulator.sdk_config().await;
    let prod = Stage::create(&emulator, &sdk, "prod").await;
    let dev = Stage::create(&emulator, &sdk, "dev").await;
    let restored = Stage::create(&emulator, &sdk, "restore").await;
    let now = chrono::Utc::now();

    // prod: 60 epics with two children each, a test on every child, and a deleted story (so the
    // counter is past the highest id); one story is tied to a code task.
    let mut children = Vec::new();
    for epic in 0..60 {
        let parent = prod
            .stories()
            .create(
                Default::default(),
                new_story(&format!("Epic {epic}"), None),
                now,
            )
            .await
            .unwrap();
        for child in 0..2 {
            let story = prod
                .stories()
                .create(
                    Default::default(),
                    new_story(&format!("Story {epic}.{child}"), Some(parent.id)),
                    now,
                )
                .await
                .unwrap();
            prod.tests()
                .create(
                    &sample_test(story.id, &format!("t{epic}-{child}")),
                    &aipm::history::Author::new("tester", None),
                )
                .await
                .unwrap();
            children.push(story.id);
        }
    }
    let doomed = prod
        .stories()
        .create(Default::default(), new_story("Deleted", None), now)
        .await
        .unwrap();
    prod.client
        .delete_item()
        .table_name(&prod.config.stories_table)
        .key("id", AttributeValue::N(doomed.id.to_string()))
        .send()
        .await
        .unwrap();
    prod.client
        .update_item()
        .table_name(&prod.config.stories_table)
        .key("id", AttributeValue::N(children[0].to_string()))
        .update_expression("SET activeTaskId = :task")
        .expression_attribute_values(":task", AttributeValue::S("0123abcd".into()))
        .send()
        .await
        .unwrap();
    prod.client
        .put_item()
        .table_name(&prod.config.code_tasks_table)
        .item("taskId", AttributeValue::S("0123abcd".into()))
        .item("storyId", AttributeValue::N(children[0].to_string()))
        .send()
        .await
        .unwrap();
    // dev holds stories of its own, which the mirror replaces.
    for n in 0..5 {
        dev.stories()
            .create(
                Default::default(),
                new_story(&format!("Dev only {n}"), None),
                now,
            )
            .await
            .unwrap();
    }
    let prod_stories = prod.items(&prod.config.stories_table).await;
    let prod_tests = prod.items(&prod.config.acceptance_tests_table).await;
    assert_eq!(prod_stories.len(), 181, "180 stories and the counter");
    assert_eq!(prod_tests.len(), 120);

    let refused = stage_data(
        &emulator,
        &["mirror", "--from", "dev", "--to", "prod"],
        None,
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("never writes to production"));
    assert_eq!(prod.items(&prod.config.stories_table).await, prod_stories);

    let dry = stage_data(
        &emulator,
        &["mirror", "--from", "prod", "--to", "dev", "--dry-run"],
        None,
    )
    .await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(
        text(&dry).contains("prod: 180 stories, 120 acceptance tests; dev holds 5 stories"),
        "{}",
        text(&dry)
    );
    assert_eq!(dev.items(&dev.config.stories_table).await.len(), 6);

    // Interrupted after 100 of 300 items: dev is half-copied; the same command again finishes.
    let interrupted = stage_data(
        &emulator,
        &["mirror", "--from", "prod", "--to", "dev"],
        Some(100),
    )
    .await;
    assert_eq!(
        interrupted.status.code(),
        Some(130),
        "{}",
        text(&interrupted)
    );
    assert!(text(&interrupted).contains("run the same command again"));
    let half = dev.items(&dev.config.stories_table).await.len();
    assert!(
        (50..181).contains(&half),
        "{half} items after the interruption"
    );
    let mirrored = stage_data(
        &emulator,
        &["mirror", "--from", "prod", "--to", "dev"],
        None,
    )
    .await;
    assert_eq!(mirrored.status.code(), Some(0), "{}", text(&mirrored));
    assert!(
        text(&mirrored).contains("copied 300/300 items"),
        "{}",
        text(&mirrored)
    );

    let mut expected = comparable(prod_stories.clone());
    expected.insert(
        "0".into(),
        HashMap::from([
            ("id".to_owned(), AttributeValue::N("0".into())),
            (
                "lastStoryId".to_owned(),
                AttributeValue::N(doomed.id.to_string()),
            ),
        ]),
    );
    let dev_stories = dev.items(&dev.config.stories_table).await;
    assert_eq!(dev_stories, expected, "ids, parents and fields as in prod");
    assert_eq!(
        dev.items(&dev.config.acceptance_tests_table).await,
        prod_tests
    );
    assert!(
        dev.items(&dev.config.code_tasks_table).await.is_empty(),
        "code tasks are not copied"
    );
    assert_eq!(dev.counter().await, doomed.id);
    let child = dev.stories().get(children[3]).await.unwrap().unwrap();
    assert_eq!(child.title, "Story 1.1");
    assert!(
        dev.stories()
            .get(child.parent_id.unwrap())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(dev.tests().list(children[3]).await.unwrap().len(), 1);
    let next = dev
        .stories()
        .create(Default::default(), new_story("New in dev", None), now)
        .await
        .unwrap();
    assert_eq!(
        next.id,
        doomed.id + 1,
        "new dev stories start past every prod id"
    );

    // The restore drill: export prod, import into an empty stage.
    let scratch = temp_dir("stage-data");
    let file = scratch.join("prod.jsonl");
    let file_name = file.display().to_string();
    let exported = stage_data(
        &emulator,
        &["export", "--stage", "prod", "--out", &file_name],
        None,
    )
    .await;
    assert_eq!(exported.status.code(), Some(0), "{}", text(&exported));
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 1 + 180 + 120 + 1);

    let cut = scratch.join("cut.jsonl");
    let all: Vec<&str> = lines.lines().collect();
    std::fs::write(&cut, all[..all.len() - 1].join("\n")).unwrap();
    let incomplete = import(&emulator, "restore", &cut).await;
    assert_eq!(incomplete.status.code(), Some(2), "{}", text(&incomplete));
    assert!(text(&incomplete).contains("incomplete"));

    let imported = import(&emulator, "restore", &file).await;
    assert_eq!(imported.status.code(), Some(0), "{}", text(&imported));
    assert_eq!(
        restored.items(&restored.config.stories_table).await,
        expected,
        "the restore has prod's stories and its counter (past the deleted story)"
    );
    assert_eq!(
        restored
            .items(&restored.config.acceptance_tests_table)
            .await,
        prod_tests
    );
    let again = import(&emulator, "restore", &file).await;
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("empty stage only"));
    emulator.stop().await;
}

async fn import(emulator: &Emulator, stage: &str, file: &Path) -> Output {
    stage_data(
        emulator,
        &[
            "import",
            "--stage",
            stage,
            "--in",
            &file.display().to_string(),
        ],
        None,
    )
    .await
}
