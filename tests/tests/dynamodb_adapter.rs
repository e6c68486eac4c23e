//! The DynamoDB and SQS adapters against the moto emulator, over the AWS wire protocol, with
//! tables created from template.yaml.

use std::collections::HashSet;
use std::time::Duration;

use aipm::Error;
use aipm::adapters::dynamodb::DynamoStoryRepository;
use aipm::adapters::health::AwsHealthProbe;
use aipm::config::Config;
use aipm::model::{NewStory, StoryStatus};
use aipm::pagination::{Cursor, StoryListQuery};
use aipm::ports::{HealthProbe, StoryRepository};
use aipm_tests::Emulator;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

const HANG_GUARD: Duration = Duration::from_secs(10);

struct Fixture {
    emulator: Emulator,
    config: Config,
    /// Where history items go.
    projects_table: String,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Fixture {
    async fn start() -> Self {
        let emulator = Emulator::start().await;
        let environment = emulator.create_resources("test").await;
        let config = aipm_tests::config_from(&environment);
        let projects_table = environment
            .iter()
            .find(|(name, _)| name == "AIPM_PROJECTS_TABLE")
            .map(|(_, value)| value.clone())
            .expect("the projects table");
        let sdk = emulator.sdk_config().await;
        Self {
            emulator,
            config,
            projects_table,
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        }
    }

    fn stories(&self) -> DynamoStoryRepository {
        DynamoStoryRepository::new(self.dynamodb.clone(), self.config.stories_table.clone())
            .with_history(&self.projects_table)
    }

    fn history(&self) -> aipm::adapters::dynamodb::DynamoHistory {
        aipm::adapters::dynamodb::DynamoHistory::new(self.dynamodb.clone(), &self.projects_table)
    }
}

fn new_story(title: &str, parent_id: Option<u64>) -> NewStory {
    NewStory {
        created_by: None,
        parent_id,
        title: title.to_owned(),
        as_a: "a product manager".into(),
        i_want: "to export stories".into(),
        so_that: "I can report progress".into(),
        description: String::new(),
        components: vec!["api".into(), "export".into()],
        story_point: Some(5),
        assignee_email: Some("dev@example.com".into()),
    }
}

#[tokio::test]
async fn stories_round_trip_with_one_attribute_name_per_field() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    let parent = stories
        .create(Default::default(), new_story("Parent", None), Utc::now())
        .await
        .unwrap();
    let child = stories
        .create(
            Default::default(),
            new_story("Child", Some(parent.id)),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!((parent.id, child.id), (1, 2));
    assert_eq!(stories.get(2).await.unwrap(), Some(child.clone()));
    assert_eq!(stories.get(3).await.unwrap(), None);

    let raw = fixture
        .dynamodb
        .get_item()
        .table_name(&fixture.config.stories_table)
        .key("id", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = raw.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "asA",
            "assigneeEmail",
            "components",
            "createdAt",
            "description",
            "iWant",
            "id",
            "parentId",
            "soThat",
            "status",
            "storyPoint",
            "title",
            "updatedAt",
            "version"
        ]
    );
    assert_eq!(raw["parentId"], AttributeValue::N("1".into()));
    assert_eq!(raw["status"], AttributeValue::S("Draft".into()));
}

#[tokio::test]
async fn fifty_concurrent_creates_get_fifty_distinct_ids() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    let creates = (0..50).map(|n| {
        let stories = stories.clone();
        tokio::spawn(async move {
            stories
                .create(
                    Default::default(),
                    new_story(&format!("s{n}"), None),
                    Utc::now(),
                )
                .await
        })
    });
    let ids: Vec<u64> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap().id)
        .collect();
    let distinct: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 50, "{ids:?}");
    assert_eq!(distinct, (1..=50).collect::<HashSet<u64>>());
}

#[tokio::test]
async fn a_missing_parent_is_refused_and_nothing_is_written() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    match stories
        .create(
            Default::default(),
            new_story("Orphan", Some(41)),
            Utc::now(),
        )
        .await
    {
        Err(Error::ParentNotFound { id }) => assert_eq!(id, 41),
        other => panic!("expected ParentNotFound, got {other:?}"),
    }
    // In an empty table the next id is 1: a story naming 1 as its parent names itself.
    match stories
        .create(
            Default::default(),
            new_story("Its own parent", Some(1)),
            Utc::now(),
        )
        .await
    {
        Err(Error::ParentNotFound { id }) => assert_eq!(id, 1),
        other => panic!("expected ParentNotFound, got {other:?}"),
    }
    let page = stories.list(&StoryListQuery::default()).await.unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items);
}

/// The emulator keeps a sorted copy of each table between Scans (scripts/emulator.py); a listing
/// must still see every write, delete and rolled-back transaction, and the emulator's request
/// count (which the benchmark reads) must match the calls made.
#[tokio::test]
async fn listings_follow_every_change_and_the_emulator_counts_each_call() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    let ids = |page: aipm::pagination::Page<aipm::model::Story>| {
        page.items.iter().map(|story| story.id).collect::<Vec<_>>()
    };
    for title in ["One", "Two", "Three"] {
        stories
            .create(Default::default(), new_story(title, None), Utc::now())
            .await
            .unwrap();
    }
    let query = StoryListQuery::default();
    assert_eq!(ids(stories.list(&query).await.unwrap()), vec![1, 2, 3]);

    stories.delete(2).await.unwrap();
    stories
        .create(Default::default(), new_story("Four", None), Utc::now())
        .await
        .unwrap();
    assert_eq!(ids(stories.list(&query).await.unwrap()), vec![1, 3, 4]);

    // A transaction cancelled by its parent check restores the table from moto's backup.
    let refused = stories
        .create(Default::default(), new_story("Orphan", Some(2)), Utc::now())
        .await;
    assert!(
        matches!(refused, Err(Error::ParentNotFound { id: 2 })),
        "{refused:?}"
    );
    stories
        .create(Default::default(), new_story("Six", Some(1)), Utc::now())
        .await
        .unwrap();
    assert_eq!(ids(stories.list(&query).await.unwrap()), vec![1, 3, 4, 6]);

    let before = fixture.emulator.dynamodb_stats().await;
    stories.get(1).await.unwrap();
    // The id counter sorts first in the emulator's Scan order; the page still takes one read.
    let page = stories
        .list(&StoryListQuery {
            limit: 2,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    let counted = fixture.emulator.dynamodb_stats().await - before;
    assert_eq!(counted.requests, 2, "one GetItem and one Scan: {counted:?}");
    assert!(counted.busy > Duration::ZERO, "{counted:?}");
    assert_eq!(page.items.len(), 2);
    let rest = stories
        .list(&StoryListQuery {
            limit: 2,
            after: page.next,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(page).into_iter().chain(ids(rest)).collect::<Vec<_>>(),
        vec![1, 3, 4, 6]
    );
}

#[tokio::test]
async fn listing_pages_through_everything_and_filters() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    let root = stories
        .create(Default::default(), new_story("Root", None), Utc::now())
        .await
        .unwrap();
    for n in 0..6 {
        stories
            .create(
                Default::default(),
                new_story(&format!("Child {n}"), Some(root.id)),
                Utc::now(),
            )
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = stories
            .list(&StoryListQuery {
                limit: 3,
                after,
                ..StoryListQuery::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|story| story.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=7).collect::<Vec<u64>>(),
        "the id counter must never be listed"
    );

    let children = stories
        .list(&StoryListQuery {
            parent_id: Some(root.id),
            limit: 4,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        children.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    let rest = stories
        .list(&StoryListQuery {
            parent_id: Some(root.id),
            limit: 4,
            after: children.next,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![6, 7]
    );

    let ready = stories
        .list(&StoryListQuery {
            status: Some(StoryStatus::Ready),
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert!(ready.items.is_empty());
    let drafts = stories
        .list(&StoryListQuery {
            status: Some(StoryStatus::Draft),
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(drafts.items.len(), 7);
}

#[tokio::test]
async fn a_page_stays_under_its_byte_budget_whatever_the_stories_hold() {
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    for n in 0..70 {
        let mut story = new_story(&format!("Big {n}"), None);
        story.description = "d".repeat(19_000);
        stories
            .create(Default::default(), story, Utc::now())
            .await
            .unwrap();
    }
    let page = stories
        .list(&StoryListQuery {
            limit: 500,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    let bytes: usize = page
        .items
        .iter()
        .map(|story| serde_json::to_vec(story).unwrap().len())
        .sum();
    assert!(
        page.items.len() < 70,
        "one page held all {} stories",
        page.items.len()
    );
    assert!(bytes < 2 * 1024 * 1024, "page of {bytes} bytes");
    let next = stories
        .list(&StoryListQuery {
            limit: 500,
            after: page.next,
            ..StoryListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len() + next.items.len(), 70);
}

#[tokio::test]
async fn health_probe_reports_each_dependency_and_a_stopped_emulator_quickly() {
    let mut fixture = Fixture::start().await;
    let probe = AwsHealthProbe::new(
        fixture.dynamodb.clone(),
        fixture.sqs.clone(),
        fixture.config.clone(),
    );
    let checks = probe.check_all().await;
    let names: Vec<&str> = checks.iter().map(|check| check.name).collect();
    assert_eq!(
        names,
        [
            "storiesTable",
            "acceptanceTestsTable",
            "codeTasksTable",
            "codeTasksQueue"
        ]
    );
    assert!(checks.iter().all(|check| check.healthy), "{checks:?}");

    fixture.emulator.stop().await;
    // A guard against hanging, not a speed claim: the SDK's own timeouts must end these calls.
    let checks = tokio::time::timeout(HANG_GUARD, probe.check_all())
        .await
        .expect("the health probe hung on a stopped emulator");
    assert!(checks.iter().all(|check| !check.healthy), "{checks:?}");

    match tokio::time::timeout(HANG_GUARD, fixture.stories().get(1)).await {
        Ok(Err(Error::DependencyUnavailable { .. })) => {}
        other => panic!("expected DependencyUnavailable, got {other:?}"),
    }
}

fn new_test(story_id: u64, id: &str) -> aipm::model::AcceptanceTest {
    aipm_tests::sample_test(story_id, id)
}

impl Fixture {
    fn tests(&self) -> aipm::adapters::dynamodb::DynamoAcceptanceTestRepository {
        aipm::adapters::dynamodb::DynamoAcceptanceTestRepository::new(
            self.dynamodb.clone(),
            self.config.acceptance_tests_table.clone(),
            self.config.stories_table.clone(),
        )
        .with_history(&self.projects_table)
    }
}

#[tokio::test]
async fn acceptance_tests_belong_to_existing_stories_and_go_with_them() {
    use aipm::ports::{AcceptanceTestRepository, TestChanges, TestUpdateOutcome};
    let fixture = Fixture::start().await;
    let (stories, tests) = (fixture.stories(), fixture.tests());
    match tests
        .create(
            &new_test(9, "t1"),
            &aipm::history::Author::new("tester", None),
        )
        .await
    {
        Err(Error::StoryNotFound { id }) => assert_eq!(id, 9),
        other => panic!("expected StoryNotFound, got {other:?}"),
    }
    let story = stories
        .create(Default::default(), new_story("Export", None), Utc::now())
        .await
        .unwrap();
    for id in ["t1", "t2", "t3"] {
        tests
            .create(
                &new_test(story.id, id),
                &aipm::history::Author::new("tester", None),
            )
            .await
            .unwrap();
    }
    assert_eq!(tests.list(story.id).await.unwrap().len(), 3);

    // AT-n keys count per project: another project's counter starts at 1 of its own.
    let other = aipm::project::StoryNumbering { ordinal: 7 }.story_id(1);
    let keys = [
        tests.allocate_test_key(story.id).await.unwrap(),
        tests.allocate_test_key(story.id).await.unwrap(),
        tests.allocate_test_key(other).await.unwrap(),
    ];
    assert_eq!(keys, ["AT-1", "AT-2", "AT-1"]);

    let pass = TestChanges {
        status: Some(aipm::model::TestStatus::Pass),
        ..TestChanges::default()
    };
    match tests
        .update(story.id, "t1", &pass, Some(1), Utc::now())
        .await
        .unwrap()
    {
        TestUpdateOutcome::Updated(test) => assert_eq!(
            (test.version, test.status),
            (2, aipm::model::TestStatus::Pass)
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        tests
            .update(story.id, "t1", &pass, Some(1), Utc::now())
            .await
            .unwrap(),
        TestUpdateOutcome::VersionMismatch(2)
    );
    assert_eq!(
        tests
            .update(story.id, "nope", &pass, None, Utc::now())
            .await
            .unwrap(),
        TestUpdateOutcome::NotFound
    );

    tests.mark_needs_review(story.id, Utc::now()).await.unwrap();
    assert!(
        tests
            .list(story.id)
            .await
            .unwrap()
            .iter()
            .all(|test| test.needs_review)
    );
    // Flagging again only reads: every test is flagged already.
    let before = fixture.emulator.dynamodb_stats().await;
    tests.mark_needs_review(story.id, Utc::now()).await.unwrap();
    let counted = fixture.emulator.dynamodb_stats().await - before;
    assert_eq!(counted.requests, 1, "{counted:?}");

    assert!(
        tests
            .delete(story.id, "t2", &aipm::history::Author::new("tester", None))
            .await
            .unwrap()
    );
    assert!(
        !tests
            .delete(story.id, "t2", &aipm::history::Author::new("tester", None))
            .await
            .unwrap()
    );
    tests.delete_all(story.id).await.unwrap();
    assert!(tests.list(story.id).await.unwrap().is_empty());
}

/// The story counts its tests in the same transaction as each create and delete, so the limit
/// holds even when creates race.
#[tokio::test]
async fn a_story_holds_at_most_twenty_tests_even_under_concurrent_creates() {
    use aipm::ports::{AcceptanceTestRepository, MAX_TESTS_PER_STORY};
    let fixture = Fixture::start().await;
    let (stories, tests) = (fixture.stories(), fixture.tests());
    let story = stories
        .create(Default::default(), new_story("Export", None), Utc::now())
        .await
        .unwrap();
    let attempts = (0..MAX_TESTS_PER_STORY + 10).map(|n| {
        let tests = tests.clone();
        let test = new_test(story.id, &format!("t{n}"));
        async move {
            tests
                .create(&test, &aipm::history::Author::new("tester", None))
                .await
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let stored = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Err(Error::TooManyTests { limit: 20, .. })))
        .count();
    assert_eq!((stored, refused), (20, 10), "{outcomes:?}");
    assert_eq!(tests.list(story.id).await.unwrap().len(), 20);

    // Deleting one frees a place, for one more test only.
    assert!(
        tests
            .delete(story.id, "t0", &aipm::history::Author::new("tester", None))
            .await
            .unwrap()
    );
    tests
        .create(
            &new_test(story.id, "again"),
            &aipm::history::Author::new("tester", None),
        )
        .await
        .unwrap();
    assert!(matches!(
        tests
            .create(
                &new_test(story.id, "one-too-many"),
                &aipm::history::Author::new("tester", None)
            )
            .await,
        Err(Error::TooManyTests { .. })
    ));
    // The count is the story's business only: the story reads back unchanged.
    let read = stories.get(story.id).await.unwrap().unwrap();
    assert_eq!(read, story);
}

#[tokio::test]
async fn a_story_being_deleted_takes_no_new_children_or_tests() {
    use aipm::ports::AcceptanceTestRepository;
    let fixture = Fixture::start().await;
    let (stories, tests) = (fixture.stories(), fixture.tests());
    let parent = stories
        .create(Default::default(), new_story("Parent", None), Utc::now())
        .await
        .unwrap();
    assert!(stories.mark_deleting(parent.id).await.unwrap());
    assert!(matches!(
        stories
            .create(
                Default::default(),
                new_story("Late child", Some(parent.id)),
                Utc::now()
            )
            .await,
        Err(Error::ParentNotFound { .. })
    ));
    assert!(matches!(
        tests
            .create(
                &new_test(parent.id, "t1"),
                &aipm::history::Author::new("tester", None)
            )
            .await,
        Err(Error::StoryNotFound { .. })
    ));
    stories.unmark_deleting(parent.id).await.unwrap();
    let child = stories
        .create(
            Default::default(),
            new_story("Child", Some(parent.id)),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        stories.children(parent.id).await.unwrap(),
        vec![child.summary()]
    );
    assert!(!stories.mark_deleting(999).await.unwrap());
}

/// The update handler on the real adapters, with requests truly in flight together (the local
/// HTTP router runs one invocation of a function at a time, so only this shows the races).
#[tokio::test]
async fn concurrent_patches_race_safely_against_dynamodb() {
    use aipm::handlers::update_story::UpdateStory;
    use aipm::http::respond;
    use lambda_http::{Body, Request, RequestExt};
    use std::sync::Arc;

    let fixture = Fixture::start().await;
    let story = fixture
        .stories()
        .create(Default::default(), new_story("Race", None), Utc::now())
        .await
        .unwrap();
    let operation = Arc::new(UpdateStory::new(
        fixture.stories(),
        fixture.tests(),
        aipm::adapters::memory_projects::local_gate(),
    ));
    let patch = |body: String| {
        let operation = Arc::clone(&operation);
        let request =
            Request::new(Body::from(body)).with_path_parameters(std::collections::HashMap::from([
                ("id".to_owned(), story.id.to_string()),
            ]));
        tokio::spawn(async move { respond(operation.as_ref(), request).await.status().as_u16() })
    };

    let same_version = [
        patch(r#"{"title":"First","version":1}"#.into()),
        patch(r#"{"title":"Second","version":1}"#.into()),
    ];
    let mut statuses: Vec<u16> = futures::future::join_all(same_version)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);

    let fields = ["asA", "iWant", "soThat", "description", "title"];
    let patches = (0..50).map(|n| {
        let field = fields[n % fields.len()];
        patch(format!(r#"{{"{field}":"{field} {n}"}}"#))
    });
    for status in futures::future::join_all(patches).await {
        assert_eq!(status.unwrap(), 200);
    }
    let after = fixture.stories().get(story.id).await.unwrap().unwrap();
    assert_eq!(after.version, 2 + 50, "a PATCH was lost");
    for (field, value) in [
        ("asA", &after.as_a),
        ("iWant", &after.i_want),
        ("soThat", &after.so_that),
        ("description", &after.description),
        ("title", &after.title),
    ] {
        assert!(
            value.starts_with(&format!("{field} ")),
            "{field} = {value:?}"
        );
    }

    // Every landed PATCH has its entry, and each entry's "before" is exactly the previous
    // entry's "after" for that field: the history was written with the change, not guessed.
    use aipm::ports::HistoryLog;
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let page = fixture
            .history()
            .story_history(story.id, 20, cursor.as_ref())
            .await
            .unwrap();
        entries.extend(page.entries);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    entries.reverse();
    assert_eq!(
        entries.len(),
        1 + 1 + 50,
        "created, the winning rename, 50 edits"
    );
    assert_eq!(
        entries[0].action,
        aipm::history::HistoryAction::StoryCreated
    );
    let mut last: std::collections::HashMap<String, serde_json::Value> = Default::default();
    for change in entries[0].changes.iter() {
        last.insert(change.field.clone(), change.after.clone());
    }
    for entry in &entries[1..] {
        assert_eq!(entry.changes.len(), 1, "{entry:?}");
        let change = &entry.changes[0];
        let previous = last
            .get(&change.field)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        assert_eq!(change.before, previous, "{} chained wrongly", change.field);
        last.insert(change.field.clone(), change.after.clone());
    }
}

#[tokio::test]
async fn each_change_writes_its_history_entry_and_a_refused_one_writes_none() {
    use aipm::history::{Author, HistoryAction};
    use aipm::ports::{
        AcceptanceTestRepository, HistoryLog, StoryChanges, TestChanges, UpdateGuard, UpdateOutcome,
    };

    let fixture = Fixture::start().await;
    let (stories, tests, history) = (fixture.stories(), fixture.tests(), fixture.history());
    let story = stories
        .create(Default::default(), new_story("Export", None), Utc::now())
        .await
        .unwrap();
    let ada = Author::new("sub-ada", Some("Ada"));
    let rename = StoryChanges {
        title: Some("Export as CSV".into()),
        note: aipm::history::ChangeNote {
            author: Some(ada.clone()),
            reason: None,
        },
        ..StoryChanges::default()
    };
    let stale = UpdateGuard {
        version: Some(story.version + 7),
        status: None,
    };
    assert_eq!(
        stories
            .update(story.id, &rename, &stale, Utc::now())
            .await
            .unwrap(),
        UpdateOutcome::Conflict
    );
    let UpdateOutcome::Updated(renamed) = stories
        .update(story.id, &rename, &UpdateGuard::default(), Utc::now())
        .await
        .unwrap()
    else {
        panic!("the rename lands");
    };
    assert_eq!(renamed.version, story.version + 1);
    assert_eq!(renamed.title, "Export as CSV");

    let test = new_test(story.id, "t1");
    tests.create(&test, &ada).await.unwrap();
    let pass = TestChanges {
        status: Some(aipm::model::TestStatus::Pass),
        note: aipm::history::ChangeNote {
            author: Some(ada.clone()),
            reason: None,
        },
        ..TestChanges::default()
    };
    tests
        .update(story.id, "t1", &pass, None, Utc::now())
        .await
        .unwrap();
    // A review flag alone is the system's, not a person's change: no entry.
    tests.mark_needs_review(story.id, Utc::now()).await.unwrap();
    assert!(tests.delete(story.id, "t1", &ada).await.unwrap());

    let page = history.story_history(story.id, 10, None).await.unwrap();
    let actions: Vec<HistoryAction> = page.entries.iter().map(|entry| entry.action).collect();
    assert_eq!(
        actions,
        [
            HistoryAction::TestDeleted,
            HistoryAction::TestEdited,
            HistoryAction::TestAdded,
            HistoryAction::StoryEdited,
            HistoryAction::StoryCreated
        ],
        "newest first, and the refused rename left nothing"
    );
    let rename_entry = &page.entries[3];
    assert_eq!(rename_entry.author, ada);
    assert_eq!(rename_entry.changes[0].before, "Export");
    assert_eq!(rename_entry.changes[0].after, "Export as CSV");
    assert_eq!(page.entries[1].changes[0].after, "Pass");

    // Paged, the same entries come in the same order; the project's feed holds them too.
    let first = history.story_history(story.id, 2, None).await.unwrap();
    let rest = history
        .story_history(story.id, 10, first.next.as_ref())
        .await
        .unwrap();
    let paged: Vec<_> = first.entries.iter().chain(&rest.entries).collect();
    assert_eq!(paged, page.entries.iter().collect::<Vec<_>>());
    let feed = history.project_feed(0, 50, None).await.unwrap();
    assert_eq!(feed.entries, page.entries);
    assert!(
        history
            .project_feed(1, 50, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

#[tokio::test]
async fn the_root_index_follows_creates_and_moves_and_keeps_projects_apart() {
    use aipm::ports::{StoryChanges, UpdateGuard};
    use aipm::project::StoryNumbering;
    let mut fixture = Fixture::start().await;
    let stories = fixture.stories();
    let shop = StoryNumbering { ordinal: 3 };
    let first = stories
        .create(Default::default(), new_story("Root one", None), Utc::now())
        .await
        .unwrap();
    let second = stories
        .create(Default::default(), new_story("Root two", None), Utc::now())
        .await
        .unwrap();
    let child = stories
        .create(
            Default::default(),
            new_story("Child", Some(first.id)),
            Utc::now(),
        )
        .await
        .unwrap();
    let elsewhere = stories
        .create(shop, new_story("Shop root", None), Utc::now())
        .await
        .unwrap();
    assert_eq!(elsewhere.id, shop.story_id(1));
    let roots = |numbering: StoryNumbering, after: Option<Cursor>| {
        let stories = stories.clone();
        async move {
            let page = stories
                .list(&StoryListQuery {
                    numbering,
                    roots: true,
                    limit: 1,
                    after,
                    ..Default::default()
                })
                .await
                .unwrap();
            (
                page.items.iter().map(|story| story.id).collect::<Vec<_>>(),
                page.next,
            )
        }
    };
    // One a page, through the cursor: the default project's two roots, never the child or
    // another project's root.
    let (page_one, next) = roots(Default::default(), None).await;
    let (page_two, _) = roots(Default::default(), next).await;
    assert_eq!([page_one, page_two].concat(), [first.id, second.id]);
    assert_eq!(roots(shop, None).await.0, [elsewhere.id]);

    // Moving a root under a parent takes it out of the index; moving it back puts it in.
    let move_to = |parent: Option<u64>| StoryChanges {
        parent_id: Some(parent),
        ..Default::default()
    };
    stories
        .update(
            second.id,
            &move_to(Some(first.id)),
            &UpdateGuard::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    let all_roots = || async {
        let page = stories
            .list(&StoryListQuery {
                roots: true,
                ..Default::default()
            })
            .await
            .unwrap();
        page.items.iter().map(|story| story.id).collect::<Vec<_>>()
    };
    assert_eq!(all_roots().await, [first.id]);
    stories
        .update(
            child.id,
            &move_to(None),
            &UpdateGuard::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(all_roots().await, [first.id, child.id]);

    // The child counters moved with every write: `second` went under `first`, `child` left it.
    let counts = |id: u64| {
        let stories = stories.clone();
        async move {
            let story = stories.get(id).await.unwrap().unwrap();
            (story.child_count, story.done_child_count)
        }
    };
    assert_eq!(counts(first.id).await, (Some(1), Some(0)));
    let finish = StoryChanges {
        status: Some(StoryStatus::Done),
        ..Default::default()
    };
    stories
        .update(second.id, &finish, &UpdateGuard::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(counts(first.id).await, (Some(1), Some(1)));
    // A Done child moved away takes its Done with it; to a parent that is gone, nothing moves.
    let refused = stories
        .update(
            second.id,
            &move_to(Some(999_999)),
            &UpdateGuard::default(),
            Utc::now(),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::ParentNotFound { id: 999_999 })),
        "{refused:?}"
    );
    assert_eq!(counts(first.id).await, (Some(1), Some(1)));
    stories
        .update(
            second.id,
            &move_to(Some(child.id)),
            &UpdateGuard::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(counts(first.id).await, (Some(0), Some(0)));
    assert_eq!(counts(child.id).await, (Some(1), Some(1)));
    stories.delete(second.id).await.unwrap();
    assert_eq!(counts(child.id).await, (Some(0), Some(0)));
    fixture.emulator.stop().await;
}

/// The GitHub App's installation events find projects by their repository's account through
/// `linkOwner-index`: a link's owner in any case, kept current as links change, and never a
/// project without a link or under another account.
#[tokio::test]
async fn projects_are_found_by_their_repositorys_account_as_links_change() {
    use aipm::adapters::dynamodb::projects::DynamoProjectDirectory;
    use aipm::authz::Role;
    use aipm::ports::{ProjectDirectory, ProjectUpdateOutcome};
    use aipm::project::{AuditEntry, Membership, Project, RepositoryLink};
    let emulator = Emulator::start().await;
    let environment = emulator.create_resources("test").await;
    let table = environment
        .iter()
        .find(|(name, _)| name == "AIPM_PROJECTS_TABLE")
        .map(|(_, value)| value.clone())
        .expect("the projects table");
    let directory = DynamoProjectDirectory::new(
        aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await),
        table,
    );
    let now = Utc::now();
    let project = |id: &str, key: &str, ordinal: u32, link: Option<RepositoryLink>| Project {
        id: id.into(),
        key: key.into(),
        name: key.into(),
        ordinal,
        repository: link,
        other_repositories: Vec::new(),
        archived: false,
        done_needs_ci_evidence: false,
        wip_limits: Default::default(),
        admin_count: 1,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: None,
    };
    let audit = |project_id: &str| AuditEntry {
        project_id: project_id.into(),
        at: now,
        actor: "test".into(),
        actor_name: None,
        action: "editSettings".into(),
        decision: "allow".into(),
        policy: "test".into(),
        standing: "admin".into(),
        target: None,
        change: None,
    };
    let admin = |project_id: &str| Membership {
        project_id: project_id.into(),
        member_sub: "ada".into(),
        role: Role::Admin,
        display_name: None,
        added_at: now,
        added_by: None,
    };
    for (id, key, ordinal, link) in [
        (
            "shop",
            "SHOP",
            1,
            Some(RepositoryLink::new("Acme", "shop", "main")),
        ),
        (
            "app",
            "APP",
            2,
            Some(RepositoryLink::new("acme", "app", "main")),
        ),
        (
            "lib",
            "LIB",
            3,
            Some(RepositoryLink::new("other", "lib", "main")),
        ),
        ("bare", "BARE", 4, None),
    ] {
        assert!(
            directory
                .create_project(&project(id, key, ordinal, link), &admin(id), &audit(id))
                .await
                .unwrap()
        );
    }
    let ids = |projects: Vec<Project>| {
        let mut ids: Vec<String> = projects.into_iter().map(|project| project.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(directory.projects_linking_owner("ACME").await.unwrap()),
        ["app", "shop"]
    );
    assert_eq!(
        ids(directory.projects_linking_owner("other").await.unwrap()),
        ["lib"]
    );
    // APP moves to another account, with a second repository there: it leaves acme's list and
    // joins the other's, both links stored as they were given.
    let moved = Project {
        repository: Some(RepositoryLink::new("other", "app", "main")),
        other_repositories: vec![RepositoryLink {
            installation_id: Some(88),
            repository_id: Some(12),
            disconnected: true,
            ..RepositoryLink::new("other", "app-docs", "trunk")
        }],
        version: 2,
        ..project("app", "APP", 2, None)
    };
    assert_eq!(
        directory
            .update_project(&moved, 1, None, &audit("app"))
            .await
            .unwrap(),
        ProjectUpdateOutcome::Updated
    );
    assert_eq!(
        ids(directory.projects_linking_owner("acme").await.unwrap()),
        ["shop"]
    );
    assert_eq!(
        ids(directory.projects_linking_owner("OTHER").await.unwrap()),
        ["app", "lib"]
    );
    let stored = directory
        .projects(&["app".to_owned()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(stored.other_repositories, moved.other_repositories);
    assert!(
        directory
            .projects_linking_owner("nobody")
            .await
            .unwrap()
            .is_empty()
    );
}

/// CI evidence: keyed tests are found through keyOf-index (tests without a key are not),
/// the upload token's hash is read, and a report is recorded once with a result per key.
#[tokio::test]
async fn ci_evidence_finds_keyed_tests_and_records_a_report_once() {
    use aipm::adapters::dynamodb::DynamoTestEvidence;
    use aipm::ports::{AcceptanceTestRepository, RecordedReport, TestEvidence, UploadToken};
    use aipm::traceability::report::Outcome;
    use aipm::traceability::status::TestResult;
    let fixture = Fixture::start().await;
    let (stories, tests) = (fixture.stories(), fixture.tests());
    let projects_table = fixture
        .config
        .stories_table
        .replace("-stories", "-projects");
    let evidence = DynamoTestEvidence::new(
        fixture.dynamodb.clone(),
        &projects_table,
        &fixture.config.acceptance_tests_table,
    );
    let story = stories
        .create(Default::default(), new_story("Export", None), Utc::now())
        .await
        .unwrap();
    for id in ["t1", "t2"] {
        let key = tests.allocate_test_key(story.id).await.unwrap();
        let mut test = new_test(story.id, id);
        test.key = Some(key);
        tests
            .create(&test, &aipm::history::Author::new("tester", None))
            .await
            .unwrap();
    }
    tests
        .create(
            &new_test(story.id, "unkeyed"),
            &aipm::history::Author::new("tester", None),
        )
        .await
        .unwrap();
    let mut keyed = evidence.keyed_tests(0).await.unwrap();
    keyed.sort_by_key(|test| test.number);
    assert_eq!(
        keyed
            .iter()
            .map(|test| (test.number, test.test_id.as_str()))
            .collect::<Vec<_>>(),
        [(1, "t1"), (2, "t2")]
    );
    assert!(
        evidence.keyed_tests(5).await.unwrap().is_empty(),
        "another project's"
    );

    assert_eq!(evidence.upload_token("default").await.unwrap(), None);
    let token = UploadToken {
        hash: "abc123".into(),
        issued_at: Utc::now(),
        issued_by: "local-admin".into(),
    };
    assert!(
        evidence
            .set_upload_token("default", Some(&token))
            .await
            .unwrap()
    );
    let read = evidence.upload_token("default").await.unwrap().unwrap();
    assert_eq!(
        (read.hash.as_str(), read.issued_by.as_str()),
        ("abc123", "local-admin")
    );
    assert!(evidence.set_upload_token("default", None).await.unwrap());
    assert_eq!(evidence.upload_token("default").await.unwrap(), None);
    assert!(
        !evidence.set_upload_token("default", None).await.unwrap(),
        "nothing left to revoke"
    );

    let report = RecordedReport {
        project_id: "default".into(),
        run_key: "77#1#0011223344556677".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        run_url: Some("https://ci.example/runs/77".into()),
        recorded_at: Utc::now(),
        cases: 3,
        unmapped: vec!["tests::unrelated".into()],
    };
    let results: Vec<(u32, TestResult)> = keyed
        .iter()
        .map(|test| {
            (
                test.number,
                TestResult {
                    outcome: if test.number == 1 {
                        Outcome::Passed
                    } else {
                        Outcome::Failed
                    },
                    commit: report.commit.clone(),
                    recorded_at: report.recorded_at,
                    steps_fingerprint: test.steps_fingerprint.clone(),
                    case: format!("tests::at_{}", test.number),
                    message: None,
                    run_url: report.run_url.clone(),
                    run: "77#1".into(),
                },
            )
        })
        .collect();
    assert!(evidence.record(&report, &results).await.unwrap());
    assert!(
        !evidence.record(&report, &results).await.unwrap(),
        "the same report of the same run is recorded once"
    );
    let stored = fixture
        .dynamodb
        .query()
        .table_name(&projects_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("result#default#2".into()))
        .send()
        .await
        .unwrap();
    let items = stored.items.unwrap_or_default();
    assert_eq!(items.len(), 1, "one result for AT-2");
    assert_eq!(items[0]["outcome"].as_s().unwrap(), "failed");

    // The matrix's reads: each key's latest result in one Query, a key's history newest
    // first, and which commits some report was for.
    let latest = evidence.latest_results("default").await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[&2].outcome, Outcome::Failed);
    assert_eq!(latest[&2].run, "77#1");
    let later = RecordedReport {
        run_key: "78#1#8899aabbccddeeff".into(),
        commit: "fedcba9876543210fedcba9876543210fedcba98".into(),
        recorded_at: Utc::now(),
        ..report.clone()
    };
    let passing: Vec<(u32, TestResult)> = results
        .iter()
        .map(|(number, result)| {
            (
                *number,
                TestResult {
                    outcome: Outcome::Passed,
                    commit: later.commit.clone(),
                    recorded_at: later.recorded_at,
                    run: "78#1".into(),
                    ..result.clone()
                },
            )
        })
        .collect();
    assert!(evidence.record(&later, &passing).await.unwrap());
    let latest = evidence.latest_results("default").await.unwrap();
    assert_eq!(latest[&2].outcome, Outcome::Passed);
    let history = evidence.history("default", 2, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.run.as_str()).collect::<Vec<_>>(),
        ["78#1", "77#1"]
    );
    let reported = evidence
        .reported_commits(
            "default",
            &[report.commit.clone(), "1".repeat(40), later.commit.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        reported,
        std::collections::HashSet::from([report.commit.clone(), later.commit.clone()])
    );

    // The reports again, newest first, as recorded.
    let recent = evidence.recent_reports("default", 10).await.unwrap();
    assert_eq!(recent, [later.clone(), report.clone()]);
    assert_eq!(
        evidence.recent_reports("default", 1).await.unwrap(),
        std::slice::from_ref(&later)
    );

    // Each story's latest CI run: a newer one replaces it, an older one delivered late does not.
    let run = |run_id: u64, conclusion: &str, minutes: i64| aipm::ports::CiRun {
        story_id: 1,
        run_id,
        attempt: 1,
        name: "CI".into(),
        conclusion: conclusion.into(),
        commit: "e".repeat(40),
        url: format!("https://github.com/acme/shop/actions/runs/{run_id}"),
        pr_number: Some(3),
        completed_at: chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
            + chrono::Duration::minutes(minutes),
    };
    evidence
        .record_ci_run("default", &run(1, "failure", 0))
        .await
        .unwrap();
    evidence
        .record_ci_run("default", &run(2, "success", 5))
        .await
        .unwrap();
    evidence
        .record_ci_run("default", &run(3, "cancelled", 1))
        .await
        .unwrap();
    let runs = evidence.ci_runs("default").await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[&1], run(2, "success", 5));
    assert!(evidence.ci_runs("other").await.unwrap().is_empty());
}

/// The link graph against the emulator: a write lands with the story's version bump or not at
/// all; of two writes made from the same graph version only one lands; a story being deleted
/// takes no link; forget drops what touches the gone stories.
#[tokio::test]
async fn links_are_written_whole_once_per_graph_version() {
    use aipm::adapters::dynamodb::DynamoLinks;
    use aipm::ports::{LinkStore, LinkWrite};
    use aipm::rules::dependencies::{Link, LinkKind};
    let fixture = Fixture::start().await;
    let stories = fixture.stories();
    let projects_table = fixture
        .config
        .stories_table
        .replace("-stories", "-projects");
    let links = DynamoLinks::new(
        fixture.dynamodb.clone(),
        &projects_table,
        &fixture.config.stories_table,
    );
    let mut ids = Vec::new();
    for title in ["Payments", "Checkout", "Refunds"] {
        let story = stories
            .create(Default::default(), new_story(title, None), Utc::now())
            .await
            .unwrap();
        ids.push(story.id);
    }
    let (payments, checkout, refunds) = (ids[0], ids[1], ids[2]);
    assert_eq!(links.graph("default").await.unwrap().version, 0);
    let blocked = |story, other| Link {
        story,
        other,
        kind: LinkKind::BlockedBy,
    };
    let write = |story_id, story_version, linked: Vec<u64>, graph_version, edges: Vec<Link>| {
        let links = links.clone();
        async move {
            links
                .write(
                    "default",
                    &LinkWrite {
                        story_id,
                        story_version,
                        updated_by: "ada",
                        entry: None,
                        now: Utc::now(),
                        linked: &linked,
                        graph_version,
                        links: &edges,
                    },
                )
                .await
                .unwrap()
        }
    };
    // Two writes from graph version 0, sent at once: one lands, the other is told it lost.
    let (first, second) = tokio::join!(
        write(
            checkout,
            1,
            vec![payments],
            0,
            vec![blocked(checkout, payments)]
        ),
        write(
            payments,
            1,
            vec![checkout],
            0,
            vec![blocked(payments, checkout)]
        ),
    );
    assert!(first ^ second, "exactly one of {first} and {second} lands");
    let graph = links.graph("default").await.unwrap();
    assert_eq!(graph.version, 1);
    assert_eq!(graph.links.len(), 1);
    let winner = graph.links[0].story;
    assert_eq!(stories.get(winner).await.unwrap().unwrap().version, 2);
    let loser = if winner == checkout {
        payments
    } else {
        checkout
    };
    assert_eq!(stories.get(loser).await.unwrap().unwrap().version, 1);

    // A stale story version writes nothing, not even the graph.
    assert!(!write(winner, 1, vec![refunds], 1, vec![blocked(winner, refunds)]).await);
    assert_eq!(links.graph("default").await.unwrap().version, 1);

    // A story being deleted takes no link.
    assert!(stories.mark_deleting(refunds).await.unwrap());
    assert!(!write(loser, 1, vec![refunds], 1, vec![blocked(loser, refunds)]).await);
    stories.unmark_deleting(refunds).await.unwrap();
    assert!(
        write(
            loser,
            1,
            vec![refunds],
            1,
            vec![graph.links[0], blocked(loser, refunds)]
        )
        .await
    );

    links.forget("default", &[refunds]).await.unwrap();
    let after = links.graph("default").await.unwrap();
    assert_eq!(after.links, graph.links);
    assert_eq!(after.version, 3);
    // Another project's graph is its own.
    assert_eq!(links.graph("other").await.unwrap().links, vec![]);
}

/// Every item of a table, sorted by key: what "identical item by item" is judged on.
async fn table_items(
    fixture: &Fixture,
    table: &str,
) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut items: Vec<std::collections::BTreeMap<String, String>> = Vec::new();
    let mut start = None;
    loop {
        let output = fixture
            .dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in output.items.unwrap_or_default() {
            items.push(
                item.into_iter()
                    .map(|(name, value)| (name, format!("{value:?}")))
                    .collect(),
            );
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    items.sort_by_key(|item| format!("{:?}{:?}", item.get("id"), item.get("storyId")));
    items
}

#[tokio::test]
async fn a_deleted_subtree_is_restored_item_by_item_and_a_purge_leaves_nothing() {
    use aipm::adapters::dynamodb::{DynamoLinks, DynamoTrash};
    use aipm::handlers::delete_story::DeleteStory;
    use aipm::history::Author;
    use aipm::http::respond;
    use aipm::ports::{AcceptanceTestRepository, LinkStore, LinkWrite, TrashBin};
    use aipm::rules::dependencies::{Link, LinkKind};
    use lambda_http::{Body, Request, RequestExt};

    let fixture = Fixture::start().await;
    let (stories, tests) = (fixture.stories(), fixture.tests());
    let links = DynamoLinks::new(
        fixture.dynamodb.clone(),
        &fixture.projects_table,
        &fixture.config.stories_table,
    );
    let trash = DynamoTrash::new(
        fixture.dynamodb.clone(),
        &fixture.projects_table,
        &fixture.config.stories_table,
        &fixture.config.acceptance_tests_table,
    );
    let create = |title: &'static str, parent: Option<u64>| {
        let stories = stories.clone();
        async move {
            stories
                .create(Default::default(), new_story(title, parent), Utc::now())
                .await
                .unwrap()
        }
    };
    let epic = create("Epic", None).await;
    let feature = create("Feature", Some(epic.id)).await;
    let child = create("Child", Some(feature.id)).await;
    let done_child = create("Done child", Some(feature.id)).await;
    let outside = create("Outside", None).await;
    let ada = Author::new("sub-ada", Some("Ada"));
    for (story, id) in [(feature.id, "t1"), (child.id, "t2"), (child.id, "t3")] {
        tests.create(&new_test(story, id), &ada).await.unwrap();
    }
    let link = Link {
        story: child.id,
        other: outside.id,
        kind: LinkKind::BlockedBy,
    };
    assert!(
        links
            .write(
                "default",
                &LinkWrite {
                    story_id: child.id,
                    story_version: child.version,
                    updated_by: "sub-ada",
                    entry: None,
                    now: Utc::now(),
                    linked: &[outside.id],
                    graph_version: 0,
                    links: &[link],
                },
            )
            .await
            .unwrap()
    );
    let _ = done_child;
    let stories_before = table_items(&fixture, &fixture.config.stories_table).await;
    let tests_before = table_items(&fixture, &fixture.config.acceptance_tests_table).await;

    let operation = DeleteStory::new(
        stories.clone(),
        tests.clone(),
        aipm::adapters::memory_projects::local_gate(),
    )
    .with_links(links.clone())
    .with_trash(trash.clone());
    let request = Request::new(Body::Empty)
        .with_path_parameters(std::collections::HashMap::from([(
            "id".to_owned(),
            feature.id.to_string(),
        )]))
        .with_query_string_parameters(std::collections::HashMap::from([(
            "cascade".to_owned(),
            "true".to_owned(),
        )]));
    assert_eq!(respond(&operation, request).await.status(), 204);
    assert_eq!(stories.get(feature.id).await.unwrap(), None);
    assert!(tests.list(child.id).await.unwrap().is_empty());
    assert!(links.graph("default").await.unwrap().links.is_empty());
    let listed = trash.trashed("default").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].story_ids.len(), 3);
    assert_eq!(listed[0].test_count, 3);
    assert_eq!(listed[0].parent_id, Some(epic.id));

    let restored = trash
        .restore("default", feature.id, &ada, Utc::now())
        .await
        .unwrap()
        .expect("kept");
    assert!(!restored.as_root);
    assert_eq!(
        table_items(&fixture, &fixture.config.stories_table).await,
        stories_before,
        "every story item, counters and versions included, is back as it was"
    );
    assert_eq!(
        table_items(&fixture, &fixture.config.acceptance_tests_table).await,
        tests_before
    );
    assert_eq!(links.graph("default").await.unwrap().links, vec![link]);
    assert!(trash.trashed("default").await.unwrap().is_empty());
    assert!(
        trash
            .restore("default", feature.id, &ada, Utc::now())
            .await
            .unwrap()
            .is_none(),
        "restored once"
    );

    // Deleted again with its parent gone meanwhile, it comes back at the top level; a purge
    // then leaves no trash item behind.
    let request = Request::new(Body::Empty)
        .with_path_parameters(std::collections::HashMap::from([(
            "id".to_owned(),
            epic.id.to_string(),
        )]))
        .with_query_string_parameters(std::collections::HashMap::from([(
            "cascade".to_owned(),
            "true".to_owned(),
        )]));
    assert_eq!(respond(&operation, request).await.status(), 204);
    let restored = trash
        .restore("default", epic.id, &ada, Utc::now())
        .await
        .unwrap()
        .expect("kept");
    assert!(!restored.as_root, "the epic had no parent");
    assert_eq!(trash.purge("default", epic.id).await.unwrap(), None);
    let leaf = create("Leaf", Some(outside.id)).await;
    let request = Request::new(Body::Empty).with_path_parameters(std::collections::HashMap::from(
        [("id".to_owned(), leaf.id.to_string())],
    ));
    assert_eq!(respond(&operation, request).await.status(), 204);
    let request = Request::new(Body::Empty).with_path_parameters(std::collections::HashMap::from(
        [("id".to_owned(), outside.id.to_string())],
    ));
    assert_eq!(respond(&operation, request).await.status(), 204);
    let back = trash
        .restore("default", leaf.id, &ada, Utc::now())
        .await
        .unwrap()
        .expect("kept");
    assert!(back.as_root);
    let leaf_now = stories.get(leaf.id).await.unwrap().expect("restored");
    assert_eq!(leaf_now.parent_id, None);
    let roots = stories
        .list(
            &aipm::pagination::StoryListQuery::parse(|name| (name == "parentId").then_some("root"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        roots.items.iter().any(|story| story.id == leaf.id),
        "it is in the root index"
    );
    assert!(trash.purge("default", outside.id).await.unwrap().is_some());
    let leftovers = fixture
        .dynamodb
        .scan()
        .table_name(&fixture.projects_table)
        .filter_expression("begins_with(pk, :trash)")
        .expression_attribute_values(
            ":trash",
            aws_sdk_dynamodb::types::AttributeValue::S("trash#".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(leftovers.count, 0, "nothing of the purged entries is left");

    // A restore repeated after an interrupted one never writes over what someone changed since.
    let edited = create("Edited meanwhile", None).await;
    let request = Request::new(Body::Empty).with_path_parameters(std::collections::HashMap::from(
        [("id".to_owned(), edited.id.to_string())],
    ));
    assert_eq!(respond(&operation, request).await.status(), 204);
    let mut newer: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(&aipm::model::Story {
            title: "Changed after a half-done restore".into(),
            version: edited.version + 3,
            ..edited.clone()
        })
        .unwrap();
    newer.insert(
        "rootOf".into(),
        aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
    );
    fixture
        .dynamodb
        .put_item()
        .table_name(&fixture.config.stories_table)
        .set_item(Some(newer))
        .send()
        .await
        .unwrap();
    trash
        .restore("default", edited.id, &ada, Utc::now())
        .await
        .unwrap()
        .expect("kept");
    let now = stories.get(edited.id).await.unwrap().expect("there");
    assert_eq!(now.title, "Changed after a half-done restore");
    assert_eq!(now.version, edited.version + 3);
}
