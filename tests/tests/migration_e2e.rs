//! `scripts/migrate-projects` on a stage written by the single-project code: the default
//! project appears with its admin, every story and test is stamped with it, an interrupted run
//! is finished by the next, a run with nothing left changes nothing, and the next story
//! continues the numbering.

use aipm::adapters::dynamodb::{
    DynamoAcceptanceTestRepository, DynamoProjectDirectory, DynamoStoryRepository,
};
use aipm::authz::Role;
use aipm::model::NewStory;
use aipm::ports::{AcceptanceTestRepository, ProjectDirectory, StoryRepository};
use aipm_tests::{Emulator, repo_root, sample_test};
use aws_sdk_dynamodb::types::AttributeValue;

fn story(title: &str) -> NewStory {
    NewStory {
        created_by: None,
        parent_id: None,
        title: title.to_owned(),
        as_a: "a product manager".into(),
        i_want: "to export stories".into(),
        so_that: "I can report progress".into(),
        description: String::new(),
        components: vec![],
        story_point: Some(3),
        assignee_email: None,
    }
}

/// Runs the command against the emulator; what it printed.
fn migrate(endpoint: &str, extra: &[&str]) -> String {
    let output = std::process::Command::new(repo_root().join("scripts/migrate-projects"))
        .args([
            "--stage",
            "dev",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
        ])
        .args(["--admin", "alice-sub", "--repository", "acme/shop"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("scripts/migrate-projects runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    text
}

async fn unstamped(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    let page = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    page.items()
        .iter()
        .filter(|item| item.get("id") != Some(&AttributeValue::N("0".into())))
        .filter(|item| item.get("projectId").is_none())
        .count()
}

#[tokio::test]
async fn single_project_data_moves_into_the_default_project_once_and_resumably() {
    let mut emulator = Emulator::start().await;
    // A deployable stage: nothing is seeded, as on AWS before the migration.
    let environment = emulator.create_resources("dev").await;
    let config = aipm_tests::config_from(&environment);
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let stories = DynamoStoryRepository::new(client.clone(), &config.stories_table);
    let tests = DynamoAcceptanceTestRepository::new(
        client.clone(),
        &config.acceptance_tests_table,
        &config.stories_table,
    );
    for n in 1..=5 {
        let mut new = story(&format!("Story {n}"));
        // Story 5 is a child of story 1.
        new.parent_id = (n == 5).then_some(1);
        let created = stories
            .create(Default::default(), new, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(created.id, n);
    }
    for n in 1..=5 {
        // Today's single-project code writes no root index entry and no child counters.
        client
            .update_item()
            .table_name(&config.stories_table)
            .key("id", AttributeValue::N(n.to_string()))
            .update_expression("REMOVE rootOf, childCount, doneChildCount")
            .send()
            .await
            .unwrap();
    }
    let roots = |stories: DynamoStoryRepository| async move {
        let query = aipm::pagination::StoryListQuery {
            roots: true,
            ..Default::default()
        };
        let page = stories.list(&query).await.unwrap();
        page.items.iter().map(|story| story.id).collect::<Vec<_>>()
    };
    assert_eq!(roots(stories.clone()).await, Vec::<u64>::new());
    tests
        .create(
            &sample_test(1, "t1"),
            &aipm::history::Author::new("tester", None),
        )
        .await
        .unwrap();
    tests
        .create(
            &sample_test(2, "t2"),
            &aipm::history::Author::new("tester", None),
        )
        .await
        .unwrap();
    let projects_table = config.stories_table.replace("-stories", "-projects");
    let directory = DynamoProjectDirectory::new(client.clone(), &projects_table);
    let (before, _) = directory.access("default", "alice-sub").await.unwrap();
    assert!(before.is_none(), "no project before the migration");

    // Interrupted after four writes: the project's three items and one story.
    let first = migrate(&emulator.endpoint, &["--limit", "4"]);
    assert!(first.contains("run again"), "{first}");
    assert_eq!(unstamped(&client, &config.stories_table).await, 4);
    let (project, admin) = directory.access("default", "alice-sub").await.unwrap();
    let project = project.expect("the default project");
    assert_eq!(project.key, "AIPM");
    assert_eq!(project.admin_count, 1);
    assert_eq!(project.repository.unwrap().name, "shop");
    assert_eq!(admin.expect("alice is a member").role, Role::Admin);
    assert_eq!(
        directory
            .project_id_for_key("AIPM")
            .await
            .unwrap()
            .as_deref(),
        Some("default")
    );

    let second = migrate(&emulator.endpoint, &[]);
    assert!(second.contains("stories: 4 stamped"), "{second}");
    assert!(second.contains("acceptance-tests: 2 stamped"), "{second}");
    assert_eq!(unstamped(&client, &config.stories_table).await, 0);
    assert_eq!(unstamped(&client, &config.acceptance_tests_table).await, 0);

    assert_eq!(
        roots(stories.clone()).await,
        [1, 2, 3, 4],
        "the roots are in the tree's first level, the child is not"
    );
    let parent = stories.get(1).await.unwrap().expect("story 1");
    assert_eq!(
        (parent.child_count, parent.done_child_count),
        (Some(1), Some(0))
    );
    assert_eq!(stories.get(2).await.unwrap().unwrap().child_count, None);
    assert!(second.contains("test keys: 2 written"), "{second}");
    let keys = [
        tests.get(1, "t1").await.unwrap().and_then(|test| test.key),
        tests.get(2, "t2").await.unwrap().and_then(|test| test.key),
    ];
    assert_eq!(keys, [Some("AT-1".to_owned()), Some("AT-2".to_owned())]);
    let evidence = aipm::adapters::dynamodb::DynamoTestEvidence::new(
        client.clone(),
        &projects_table,
        &config.acceptance_tests_table,
    );
    assert_eq!(
        aipm::ports::TestEvidence::keyed_tests(&evidence, 0)
            .await
            .unwrap()
            .len(),
        2,
        "keyed tests are where CI uploads look for them"
    );
    assert_eq!(
        tests.allocate_test_key(3).await.unwrap(),
        "AT-3",
        "new tests go on from the numbers the migration gave"
    );

    let third = migrate(&emulator.endpoint, &[]);
    assert!(third.contains("changed 0 item(s)"), "{third}");
    assert!(third.contains("nothing left to migrate"), "{third}");

    // The numbering goes on from the counter the single-project code kept.
    let next = stories
        .create(
            Default::default(),
            story("After the migration"),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(next.id, 6);
    let kept = stories.get(3).await.unwrap().expect("story 3");
    assert_eq!(kept.title, "Story 3");
    emulator.stop().await;
}
