//! The webhook against in-memory adapters: signatures, who and what triggers, once-only, merges.

use super::*;
use crate::adapters::memory::{MemoryCodeHost, MemoryEvents, MemoryStore, StaticSecret};
use crate::adapters::memory_evidence::MemoryEvidence;
use crate::adapters::memory_projects::{MemoryProjects, records_gate_over};
use crate::handlers::test_support::{error_code, generate_code, json, request, seed_ready_story};
use crate::http::respond;
use crate::model::{TaskStatus, TestStatus};
use crate::ports::{TestChanges, TestEvidence};
use chrono::Utc;
use lambda_http::http::Method;
use serde_json::Value;

const SECRET: &str = "hook-secret";

type Webhook = GitHubWebhook<
    MemoryStore,
    MemoryStore,
    MemoryStore,
    MemoryStore,
    MemoryCodeHost,
    StaticSecret,
    MemoryEvents,
    MemoryProjects,
    crate::handlers::traceability::CiGate<MemoryStore, MemoryEvidence>,
>;

struct Fixture {
    store: MemoryStore,
    projects: MemoryProjects,
    host: MemoryCodeHost,
    events: MemoryEvents,
    evidence: MemoryEvidence,
    webhook: Webhook,
    branch: String,
    first_task: String,
}

impl Fixture {
    /// Story 1 with one test, its first task finished, its pull request #1 open.
    async fn new() -> Self {
        let (store, host, events) = (
            MemoryStore::new(),
            MemoryCodeHost::new(),
            MemoryEvents::default(),
        );
        let projects = MemoryProjects::with_default_project();
        let evidence = MemoryEvidence::default();
        let story = seed_ready_story(&store, "Export", "a file is downloaded").await;
        let task = generate_code(&store, &host, story.id).await;
        let first_task = task["taskId"].as_str().unwrap().to_owned();
        store.finish_task(&first_task, TaskStatus::Succeeded);
        host.state()
            .permissions
            .insert("dana".into(), "write".into());
        host.state()
            .permissions
            .insert("rita".into(), "read".into());
        let webhook = GitHubWebhook::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            StaticSecret::new(SECRET),
            events.clone(),
            TriggerRules {
                repository: "acme/shop".into(),
                mentions: vec!["@aipm".into()],
                on_changes_requested: true,
            },
            records_gate_over(projects.clone()),
        )
        .judging_done_by(crate::handlers::traceability::CiGate::new(
            store.clone(),
            evidence.clone(),
        ));
        Fixture {
            evidence,
            projects,
            branch: task["branch"].as_str().unwrap().to_owned(),
            store,
            host,
            events,
            webhook,
            first_task,
        }
    }

    fn pull(&self, state: &str, merged: bool) -> Value {
        json!({
            "number": 1, "state": state, "merged": merged,
            "merged_at": if merged { json!("2026-12-01T12:00:00Z") } else { Value::Null },
            "merge_commit_sha": if merged { json!("abc123") } else { Value::Null },
            "merged_by": {"login": "dana", "type": "User"},
            "head": {"ref": self.branch, "repo": {"full_name": "acme/shop"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}
        })
    }

    /// `pull_request.closed` for pull request 1, merged or not, closed by dana.
    fn closed(&self, merged: bool) -> Value {
        json!({
            "action": "closed",
            "sender": {"login": "dana", "type": "User"},
            "repository": {"full_name": "acme/shop"},
            "pull_request": self.pull("closed", merged),
        })
    }

    fn review(&self, review_id: u64, state: &str, sender: &str) -> Value {
        json!({
            "action": "submitted",
            "sender": {"login": sender, "type": if sender.ends_with("[bot]") { "Bot" } else { "User" }},
            "repository": {"full_name": "acme/shop"},
            "review": {"id": review_id, "state": state, "body": "Please rename", "submitted_at": "2026-12-01T10:00:00Z"},
            "pull_request": self.pull("open", false),
        })
    }

    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> Response<Body> {
        let body = payload.to_string();
        let signature = super::signature::sign(SECRET.as_bytes(), body.as_bytes());
        self.deliver_signed(event, delivery, &body, Some(&signature))
            .await
    }

    /// [`Fixture::deliver`] by `/projects/{key}/webhooks/github`.
    async fn deliver_to(
        &self,
        key: &str,
        event: &str,
        delivery: &str,
        payload: &Value,
    ) -> Response<Body> {
        use lambda_http::RequestExt;
        let body = payload.to_string();
        let signature = super::signature::sign(SECRET.as_bytes(), body.as_bytes());
        let mut request =
            request(Method::POST, "/projects/x/webhooks/github", &body).with_path_parameters(
                std::collections::HashMap::from([("key".to_owned(), key.to_owned())]),
            );
        let headers = request.headers_mut();
        headers.insert("x-github-event", event.parse().unwrap());
        headers.insert("x-github-delivery", delivery.parse().unwrap());
        headers.insert("x-hub-signature-256", signature.parse().unwrap());
        respond(&self.webhook, request).await
    }

    async fn deliver_signed(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
        signature: Option<&str>,
    ) -> Response<Body> {
        let mut request = request(Method::POST, "/webhooks/github", body);
        let headers = request.headers_mut();
        headers.insert("x-github-event", event.parse().unwrap());
        headers.insert("x-github-delivery", delivery.parse().unwrap());
        if let Some(signature) = signature {
            headers.insert("x-hub-signature-256", signature.parse().unwrap());
        }
        respond(&self.webhook, request).await
    }

    async fn tasks(&self) -> Vec<crate::model::CodeTask> {
        CodeTaskRepository::recent_for_story(&self.store, 1)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn unsigned_or_tampered_deliveries_are_401_and_ping_is_200() {
    let fixture = Fixture::new().await;
    let payload = fixture.review(10, "changes_requested", "dana").to_string();
    let missing = fixture
        .deliver_signed("pull_request_review", "d1", &payload, None)
        .await;
    assert_eq!(missing.status(), 401);
    assert_eq!(error_code(&missing), "WEBHOOK_SIGNATURE_INVALID");
    let sha1 = fixture
        .deliver_signed(
            "pull_request_review",
            "d1",
            &payload,
            Some("sha1=0123456789abcdef0123456789abcdef01234567"),
        )
        .await;
    assert_eq!(sha1.status(), 401);
    let ping = fixture
        .deliver("ping", "d0", &json!({"zen": "Keep it simple"}))
        .await;
    assert_eq!(ping.status(), 200);
    assert_eq!(fixture.tasks().await.len(), 1, "nothing was started");
    let mut no_event = request(Method::POST, "/webhooks/github", "{}");
    no_event
        .headers_mut()
        .insert("x-github-delivery", "d".parse().unwrap());
    let no_event = respond(&fixture.webhook, no_event).await;
    assert_eq!(no_event.status(), 400);
    assert_eq!(error_code(&no_event), "WEBHOOK_HEADER_MISSING");
}

#[tokio::test]
async fn one_review_makes_one_revision_however_often_it_arrives() {
    let fixture = Fixture::new().await;
    let review = fixture.review(10, "changes_requested", "dana");
    let first = fixture.deliver("pull_request_review", "d1", &review).await;
    assert_eq!(first.status(), 202);
    assert_eq!(json(&first)["result"], "revision");
    // A redelivery keeps its GUID; a second hook sends the same review under another GUID; the
    // review's inline comment arrives as its own event.
    let again = fixture.deliver("pull_request_review", "d1", &review).await;
    assert_eq!(json(&again)["result"], "duplicate");
    let other_hook = fixture.deliver("pull_request_review", "d2", &review).await;
    assert_eq!(json(&other_hook)["result"], "duplicate");
    let comment = json!({
        "action": "created",
        "sender": {"login": "dana", "type": "User"},
        "repository": {"full_name": "acme/shop"},
        "comment": {"id": 500, "pull_request_review_id": 10, "body": "@aipm rename this"},
        "pull_request": fixture.pull("open", false),
    });
    let inline = fixture
        .deliver("pull_request_review_comment", "d3", &comment)
        .await;
    assert_eq!(json(&inline)["result"], "duplicate");

    let tasks = fixture.tasks().await;
    assert_eq!(tasks.len(), 2);
    let revision = &tasks[0];
    assert_eq!(revision.revision, 1);
    assert_eq!(revision.branch, fixture.branch);
    assert_eq!(revision.pr_number, Some(1));
    assert_eq!(
        revision.parent_task_id.as_deref(),
        Some(fixture.first_task.as_str())
    );
    assert_eq!(revision.triggers[0].id, "10");
    assert_eq!(revision.triggers[0].delivery_id.as_deref(), Some("d1"));
    assert_eq!(
        fixture.store.sent_task_ids().last(),
        Some(&revision.task_id)
    );

    // Another review while the revision is still queued joins it: one revision answers both.
    let later = fixture
        .deliver(
            "pull_request_review",
            "d4",
            &fixture.review(11, "changes_requested", "dana"),
        )
        .await;
    assert_eq!(json(&later)["result"], "joined-revision");
    let tasks = fixture.tasks().await;
    assert_eq!(tasks.len(), 2);
    let ids: Vec<&str> = tasks[0]
        .triggers
        .iter()
        .map(|trigger| trigger.id.as_str())
        .collect();
    assert_eq!(ids, ["10", "11"]);
    assert!(tasks[0].pending_triggers.is_empty());
}

#[tokio::test]
async fn bots_our_own_account_readers_and_closed_pulls_start_nothing() {
    let fixture = Fixture::new().await;
    for (sender, delivery) in [
        ("ci[bot]", "b1"),
        ("aipm-bot", "b2"),
        ("rita", "b3"),
        ("stranger", "b4"),
    ] {
        let answer = fixture
            .deliver(
                "pull_request_review",
                delivery,
                &fixture.review(20, "changes_requested", sender),
            )
            .await;
        assert_eq!(answer.status(), 204, "{sender}");
    }
    let mut closed = fixture.review(21, "changes_requested", "dana");
    closed["pull_request"] = fixture.pull("closed", false);
    assert_eq!(
        fixture
            .deliver("pull_request_review", "b5", &closed)
            .await
            .status(),
        204
    );
    let approved = fixture.review(22, "approved", "dana");
    assert_eq!(
        fixture
            .deliver("pull_request_review", "b6", &approved)
            .await
            .status(),
        204
    );
    assert_eq!(fixture.tasks().await.len(), 1);
}

#[tokio::test]
async fn a_merge_with_a_failing_test_keeps_the_story_and_says_why() {
    let fixture = Fixture::new().await;
    let closed = fixture.closed(true);
    let answer = fixture.deliver("pull_request", "m1", &closed).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(json(&answer)["result"], "merged-not-done");
    let story = StoryRepository::get(&fixture.store, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(story.status, StoryStatus::InProgress);
    let merge = story.merge.expect("the merge is recorded");
    assert_eq!(merge.commit_sha.as_deref(), Some("abc123"));
    let comments = fixture.host.state().comments.clone();
    let (_, comment) = comments.last().unwrap();
    assert!(
        comment.contains("stays **In Progress**") && comment.contains("(Draft)"),
        "{comment}"
    );
    assert!(comment.contains(payload::MARKER));
    assert_eq!(fixture.events.published()[0].0, "aipm.story.merged_blocked");
}

#[tokio::test]
async fn a_merge_with_passing_tests_is_done_and_cancels_a_queued_revision() {
    let fixture = Fixture::new().await;
    let tests = AcceptanceTestRepository::list(&fixture.store, 1)
        .await
        .unwrap();
    for test in tests {
        let pass = TestChanges {
            status: Some(TestStatus::Pass),
            ..TestChanges::default()
        };
        AcceptanceTestRepository::update(&fixture.store, 1, &test.id, &pass, None, Utc::now())
            .await
            .unwrap();
    }
    fixture
        .deliver(
            "pull_request_review",
            "r1",
            &fixture.review(30, "changes_requested", "dana"),
        )
        .await;
    let revision = fixture.tasks().await[0].task_id.clone();
    let closed = fixture.closed(true);
    let answer = fixture.deliver("pull_request", "m2", &closed).await;
    assert_eq!(json(&answer)["result"], "done");
    assert_eq!(json(&answer)["cancelledTaskId"], revision.as_str());
    let story = StoryRepository::get(&fixture.store, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(story.status, StoryStatus::Done);
    let cancelled = CodeTaskRepository::get(&fixture.store, &revision)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let published = fixture.events.published();
    let kinds: Vec<&str> = published.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["aipm.task.finished", "aipm.story.done"]);
    assert_eq!(published[0].1["outcome"], "cancelled");
    assert_eq!(published[0].1["taskId"], revision.as_str());
    assert_eq!(published[1].1["storyId"], 1);
    assert_eq!(published[1].1["mergeCommitSha"], "abc123");
}

#[tokio::test]
async fn a_pull_request_closed_unmerged_cancels_its_revision_and_changes_no_status() {
    let fixture = Fixture::new().await;
    fixture
        .deliver(
            "pull_request_review",
            "c1",
            &fixture.review(40, "changes_requested", "dana"),
        )
        .await;
    let revision = fixture.tasks().await[0].task_id.clone();
    let closed = fixture.closed(false);
    let answer = fixture.deliver("pull_request", "c2", &closed).await;
    assert_eq!(json(&answer)["result"], "closed");
    assert_eq!(json(&answer)["cancelledTaskId"], revision.as_str());
    let story = StoryRepository::get(&fixture.store, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(story.status, StoryStatus::InProgress);
    assert_eq!(story.merge, None);
    let comments = fixture.host.state().comments.clone();
    assert!(
        !comments
            .iter()
            .any(|(_, body)| body.contains("merge-blocked")),
        "{comments:?}"
    );
}

#[tokio::test]
async fn a_pull_request_past_its_revision_limit_says_so_instead_of_revising() {
    let fixture = Fixture::new().await;
    fixture.store.edit_task(&fixture.first_task, |task| {
        task.revision = MAX_REVISIONS_PER_PULL_REQUEST;
    });
    let answer = fixture
        .deliver(
            "pull_request_review",
            "cap1",
            &fixture.review(50, "changes_requested", "dana"),
        )
        .await;
    assert_eq!(answer.status(), 204);
    assert_eq!(fixture.tasks().await.len(), 1, "no revision");
    let comments = fixture.host.state().comments.clone();
    assert!(
        comments.iter().any(|(number, body)| *number == 1
            && body.contains("revision-cap")
            && body.contains("20 revisions")),
        "{comments:?}"
    );
}

#[tokio::test]
async fn a_review_starts_no_revision_for_a_requester_who_may_no_longer_revise() {
    let fixture = Fixture::new().await;
    assert!(
        fixture.branch.starts_with("aipm/AIPM-1-export-"),
        "the branch names the story as people know it: {}",
        fixture.branch
    );
    // The code was asked for by local-admin (the fixture's default person); they are now a viewer.
    fixture
        .projects
        .add_to_default_project("local-admin", crate::authz::Role::Viewer);
    let review = fixture.review(10, "changes_requested", "dana");
    let answer = fixture.deliver("pull_request_review", "d1", &review).await;
    assert_eq!(answer.status(), 204, "acknowledged, nothing started");
    assert_eq!(fixture.tasks().await.len(), 1, "no revision");
    let refusal = fixture
        .projects
        .audit_log()
        .into_iter()
        .find(|entry| entry.decision == "deny")
        .expect("the refusal is audited");
    assert_eq!(
        (refusal.actor.as_str(), refusal.action.as_str()),
        ("local-admin", "requestChanges")
    );
    assert_eq!(refusal.target.as_deref(), Some("webhook: pull request #1"));

    // A deployment admin's task is revised for them as one, member or not.
    let mut as_operator = fixture.tasks().await[0].clone();
    as_operator.requested_as_deployment_admin = true;
    assert!(
        fixture
            .webhook
            .requester_may_revise(&as_operator, 1)
            .await
            .unwrap()
    );

    // Promoted back, the next review revises.
    fixture
        .projects
        .add_to_default_project("local-admin", crate::authz::Role::Contributor);
    let again = fixture
        .deliver(
            "pull_request_review",
            "d2",
            &fixture.review(11, "changes_requested", "dana"),
        )
        .await;
    assert_eq!(json(&again)["result"], "revision");
}

#[tokio::test]
async fn a_projects_webhook_acts_only_on_that_projects_pull_requests() {
    let fixture = Fixture::new().await;
    fixture.projects.add_project("SHOP", "local-admin");
    let review = fixture.review(10, "changes_requested", "dana");
    let elsewhere = fixture
        .deliver_to("SHOP", "pull_request_review", "d1", &review)
        .await;
    assert_eq!(
        elsewhere.status(),
        204,
        "an AIPM pull request, delivered to SHOP's hook"
    );
    let merged = fixture
        .deliver_to("SHOP", "pull_request", "d2", &fixture.closed(true))
        .await;
    assert_eq!(merged.status(), 204);
    assert_eq!(fixture.tasks().await.len(), 1, "nothing started");
    let unknown = fixture
        .deliver_to("NOPE", "pull_request_review", "d3", &review)
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_code(&unknown), "PROJECT_NOT_FOUND");
    let own = fixture
        .deliver_to("AIPM", "pull_request_review", "d4", &review)
        .await;
    assert_eq!(json(&own)["result"], "revision");
}

/// `installation_repositories` as GitHub sends it for acme's installation 77.
fn repositories_event(action: &str, id: u64, full_name: &str) -> Value {
    let field = format!("repositories_{action}");
    json!({
        "action": action,
        "installation": {"id": 77, "account": {"login": "acme", "type": "Organization"}},
        "repository_selection": "selected",
        field: [{"id": id, "name": full_name.split('/').nth(1), "full_name": full_name, "private": true}],
        "sender": {"login": "dana", "type": "User"}
    })
}

fn link_of(projects: &MemoryProjects, id: &str) -> crate::project::RepositoryLink {
    futures::executor::block_on(projects.projects(&[id.to_owned()]))
        .unwrap()
        .remove(0)
        .repository
        .expect("a link")
}

#[tokio::test]
async fn events_keep_a_projects_other_repositories_current_not_only_its_default() {
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let fixture = Fixture::new().await;
    let projects = &fixture.projects;
    projects.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink::new("acme", "shop", "main")),
    );
    projects.link_other_repositories(
        DEFAULT_PROJECT_ID,
        vec![RepositoryLink {
            installation_id: Some(77),
            repository_id: Some(12),
            ..RepositoryLink::new("acme", "api", "main")
        }],
    );
    let removed = fixture
        .deliver(
            "installation_repositories",
            "o1",
            &repositories_event("removed", 12, "acme/api"),
        )
        .await;
    assert_eq!(json(&removed)["links"], 1);
    let project = projects.project(DEFAULT_PROJECT_ID).expect("the project");
    assert!(!project.repository.as_ref().expect("default").disconnected);
    assert!(project.other_repositories[0].disconnected);
    assert_eq!(
        projects
            .audit_log()
            .last()
            .and_then(|entry| entry.target.clone()),
        Some("acme/api".to_owned())
    );

    let renamed = fixture
        .deliver(
            "repository",
            "o2",
            &json!({
                "action": "renamed",
                "repository": {"id": 12, "name": "gateway", "full_name": "acme/gateway",
                               "owner": {"login": "acme"}},
                "changes": {"repository": {"name": {"from": "api"}}},
                "installation": {"id": 77},
                "sender": {"login": "dana", "type": "User"}
            }),
        )
        .await;
    assert_eq!(renamed.status(), 200, "{}", json(&renamed));
    let project = projects.project(DEFAULT_PROJECT_ID).expect("the project");
    assert_eq!(project.other_repositories[0].full_name(), "acme/gateway");
    assert_eq!(
        project.repository.expect("default").full_name(),
        "acme/shop"
    );
}

#[tokio::test]
async fn the_app_removed_from_a_repository_disconnects_its_links_until_it_is_added_back() {
    use crate::handlers::test_support::generate_code_in;
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let fixture = Fixture::new().await;
    let projects = &fixture.projects;
    projects.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink::new("acme", "shop", "main")),
    );
    projects.add_project("APP", "local-admin");
    projects.link_repository("app", Some(RepositoryLink::new("Acme", "app", "main")));
    projects.add_project("LIB", "local-admin");
    projects.link_repository("lib", Some(RepositoryLink::new("other", "shop", "main")));
    let story = seed_ready_story(&fixture.store, "Export", "a file is downloaded").await;

    let removed = fixture
        .deliver(
            "installation_repositories",
            "i1",
            &repositories_event("removed", 9, "acme/shop"),
        )
        .await;
    assert_eq!(removed.status(), 200);
    assert_eq!(json(&removed)["links"], 1);
    let link = link_of(projects, DEFAULT_PROJECT_ID);
    assert!(link.disconnected);
    assert_eq!(
        (link.installation_id, link.repository_id),
        (Some(77), Some(9))
    );
    assert!(!link_of(projects, "app").disconnected, "another repository");
    assert!(!link_of(projects, "lib").disconnected, "another account");
    let audit = projects.audit_log();
    let entry = audit.last().expect("audited");
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_deref()),
        ("github-app", Some("acme/shop"))
    );

    let refused = generate_code_in(&fixture.store, &fixture.host, projects, story.id).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(&refused), "REPOSITORY_DISCONNECTED");
    assert_eq!(
        json(&refused)["error"]["details"]["repository"],
        "acme/shop"
    );
    let pulls = fixture.host.state().pulls.len();

    // The same delivery again changes nothing; a repository no project links stores nothing.
    let again = fixture
        .deliver(
            "installation_repositories",
            "i2",
            &repositories_event("removed", 9, "acme/shop"),
        )
        .await;
    assert_eq!(again.status(), 204);
    let unlinked = fixture
        .deliver(
            "installation_repositories",
            "i3",
            &repositories_event("removed", 11, "acme/unlinked"),
        )
        .await;
    assert_eq!(unlinked.status(), 204);
    assert_eq!(projects.audit_log().len(), audit.len(), "nothing stored");

    let added = fixture
        .deliver(
            "installation_repositories",
            "i4",
            &repositories_event("added", 9, "acme/shop"),
        )
        .await;
    assert_eq!(added.status(), 200);
    assert!(!link_of(projects, DEFAULT_PROJECT_ID).disconnected);
    let accepted = generate_code_in(&fixture.store, &fixture.host, projects, story.id).await;
    assert_eq!(accepted.status(), 202, "{}", json(&accepted));
    assert_eq!(fixture.host.state().pulls.len(), pulls + 1);

    // Uninstalled from the account: every link of acme goes, other accounts' stay.
    let uninstalled = fixture
        .deliver(
            "installation",
            "i5",
            &json!({
                "action": "deleted",
                "installation": {"id": 77, "account": {"login": "acme"}},
                "sender": {"login": "dana", "type": "User"}
            }),
        )
        .await;
    assert_eq!(json(&uninstalled)["links"], 2);
    assert!(link_of(projects, DEFAULT_PROJECT_ID).disconnected);
    assert!(link_of(projects, "app").disconnected);
    assert!(!link_of(projects, "lib").disconnected);
}

#[tokio::test]
async fn deliveries_reach_a_task_by_its_repositorys_id_through_renames_and_never_a_namesake() {
    use crate::handlers::test_support::generate_code_in;
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let fixture = Fixture::new().await;
    // The project links acme/shop as the App knows it: installation 77, repository 11.
    fixture.projects.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink {
            installation_id: Some(77),
            repository_id: Some(11),
            ..RepositoryLink::new("acme", "shop", "main")
        }),
    );
    let story = seed_ready_story(&fixture.store, "Import", "a file is read").await;
    let started =
        generate_code_in(&fixture.store, &fixture.host, &fixture.projects, story.id).await;
    assert_eq!(started.status(), 202);
    let task_id = json(&started)["taskId"].as_str().unwrap().to_owned();
    let branch = json(&started)["branch"].as_str().unwrap().to_owned();
    fixture.store.finish_task(&task_id, TaskStatus::Succeeded);
    let number = json(&started)["prNumber"].as_u64().unwrap();
    let review = |review_id: u64, full_name: &str, id: u64| {
        let mut payload = fixture.review(review_id, "changes_requested", "dana");
        payload["repository"] = json!({"full_name": full_name, "id": id});
        payload["pull_request"]["number"] = json!(number);
        payload["pull_request"]["head"]["ref"] = json!(branch);
        payload
    };
    // Another repository that took the old name (a new id): not this task's.
    let namesake = fixture
        .deliver("pull_request_review", "r1", &review(20, "acme/shop", 99))
        .await;
    assert_eq!(namesake.status(), 204);
    // The repository renamed: its id still finds the task.
    let renamed = fixture
        .deliver(
            "pull_request_review",
            "r2",
            &review(21, "acme/storefront", 11),
        )
        .await;
    assert_eq!(renamed.status(), 202, "{}", json(&renamed));
    assert_eq!(json(&renamed)["result"], "revision");
}

#[tokio::test]
async fn deliveries_reach_the_right_project_across_two_installations_and_three_repositories() {
    use crate::handlers::test_support::{generate_code_under, seed_ready_story_in};
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let fixture = Fixture::new().await;
    let projects = &fixture.projects;
    let linked = |owner: &str, name: &str, installation: u64, id: u64| RepositoryLink {
        installation_id: Some(installation),
        repository_id: Some(id),
        ..RepositoryLink::new(owner, name, "main")
    };
    // Installation 1 (acme) reaches acme/shop and acme/app; installation 2 (other) other/lib.
    projects.link_repository(DEFAULT_PROJECT_ID, Some(linked("acme", "shop", 1, 11)));
    projects.add_project("APP", "local-admin");
    projects.link_repository("app", Some(linked("acme", "app", 1, 12)));
    projects.add_project("LIB", "local-admin");
    projects.link_repository("lib", Some(linked("other", "lib", 2, 21)));
    let mut pulls = std::collections::BTreeMap::new();
    for (key, ordinal) in [("AIPM", 0), ("APP", 1), ("LIB", 2)] {
        let story = seed_ready_story_in(&fixture.store, ordinal, key, "a file is read").await;
        let started =
            generate_code_under(&fixture.store, &fixture.host, projects, Some(key), story.id).await;
        assert_eq!(started.status(), 202, "{key}: {}", json(&started));
        let task = json(&started);
        fixture
            .store
            .finish_task(task["taskId"].as_str().unwrap(), TaskStatus::Succeeded);
        pulls.insert(
            key,
            (
                story.id,
                task["prNumber"].as_u64().unwrap(),
                task["branch"].as_str().unwrap().to_owned(),
            ),
        );
    }
    let review_ids = std::sync::atomic::AtomicU64::new(100);
    let deliver = async |key: &str, full_name: &str, id: u64| {
        let review_id = review_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (_, number, branch) = &pulls[key];
        let mut payload = fixture.review(review_id, "changes_requested", "dana");
        payload["repository"] = json!({"full_name": full_name, "id": id});
        payload["pull_request"]["number"] = json!(number);
        payload["pull_request"]["head"]["ref"] = json!(branch);
        payload["installation"] =
            json!({"id": if full_name.starts_with("other/") { 2 } else { 1 }});
        fixture
            .deliver("pull_request_review", &format!("d{review_id}"), &payload)
            .await
    };
    let store = fixture.store.clone();
    let stories: std::collections::BTreeMap<&str, u64> = pulls
        .iter()
        .map(|(key, (story, _, _))| (*key, *story))
        .collect();
    let revisions = |key: &str| {
        let (store, story) = (store.clone(), stories[key]);
        async move {
            CodeTaskRepository::recent_for_story(&store, story)
                .await
                .unwrap()
                .len()
        }
    };
    // Each repository's delivery revises its own project's task.
    for (key, full_name, id) in [
        ("APP", "acme/app", 12),
        ("LIB", "other/lib", 21),
        ("AIPM", "acme/shop", 11),
    ] {
        let before = revisions(key).await;
        let answer = deliver(key, full_name, id).await;
        assert_eq!(answer.status(), 202, "{key}: {}", json(&answer));
        assert_eq!(revisions(key).await, before + 1, "{key} got its revision");
    }
    // A pull request's branch delivered from another repository (even of the same
    // installation) acts on nothing.
    let before: Vec<usize> = futures::future::join_all(["AIPM", "APP", "LIB"].map(revisions)).await;
    assert_eq!(deliver("APP", "acme/shop", 11).await.status(), 204);
    assert_eq!(deliver("LIB", "acme/app", 12).await.status(), 204);
    // A repository no project links: 204, nothing stored.
    assert_eq!(deliver("AIPM", "acme/unlinked", 99).await.status(), 204);
    let after: Vec<usize> = futures::future::join_all(["AIPM", "APP", "LIB"].map(revisions)).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_renamed_or_transferred_repository_keeps_its_links_under_its_new_name() {
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let fixture = Fixture::new().await;
    let projects = &fixture.projects;
    projects.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink {
            installation_id: Some(77),
            repository_id: Some(11),
            ..RepositoryLink::new("acme", "shop", "trunk")
        }),
    );
    // Linked by name only (no id yet): a rename cannot be told from a new repository.
    projects.add_project("APP", "local-admin");
    projects.link_repository("app", Some(RepositoryLink::new("acme", "shop", "main")));
    let renamed = fixture
        .deliver(
            "repository",
            "m1",
            &json!({
                "action": "renamed",
                "changes": {"repository": {"name": {"from": "shop"}}},
                "repository": {"id": 11, "name": "storefront", "full_name": "acme/storefront",
                               "owner": {"login": "acme", "type": "Organization"}},
                "installation": {"id": 77},
                "sender": {"login": "dana", "type": "User"}
            }),
        )
        .await;
    assert_eq!(renamed.status(), 200, "{}", json(&renamed));
    let link = link_of(projects, DEFAULT_PROJECT_ID);
    assert_eq!(
        (
            link.full_name().as_str(),
            link.base_branch.as_str(),
            link.repository_id
        ),
        ("acme/storefront", "trunk", Some(11))
    );
    assert_eq!(link_of(projects, "app").full_name(), "acme/shop");
    assert_eq!(
        projects
            .audit_log()
            .last()
            .and_then(|entry| entry.change.clone()),
        Some("acme/shop -> acme/storefront on GitHub".to_owned())
    );
    // Transferred to another account: found under the old one, now under the new.
    let transferred = fixture
        .deliver(
            "repository",
            "m2",
            &json!({
                "action": "transferred",
                "changes": {"owner": {"from": {"organization": {"login": "acme"}}}},
                "repository": {"id": 11, "name": "storefront", "full_name": "shops/storefront",
                               "owner": {"login": "shops", "type": "Organization"}},
                "sender": {"login": "dana", "type": "User"}
            }),
        )
        .await;
    assert_eq!(transferred.status(), 200);
    assert_eq!(
        link_of(projects, DEFAULT_PROJECT_ID).full_name(),
        "shops/storefront"
    );
    // Anything else about repositories is not AIPM's business.
    let archived = fixture
        .deliver(
            "repository",
            "m3",
            &json!({
                "action": "archived",
                "repository": {"id": 11, "name": "storefront", "owner": {"login": "shops"}},
                "sender": {"login": "dana", "type": "User"}
            }),
        )
        .await;
    assert_eq!(archived.status(), 204);
}

/// A `workflow_run` delivery for the fixture's branch, as GitHub sends it.
fn workflow_run(fixture: &Fixture, action: &str, repository: &str, updated_at: &str) -> Value {
    json!({
        "action": action,
        "workflow_run": {
            "id": 9001, "name": "CI", "run_attempt": 1, "status": "completed",
            "head_branch": fixture.branch,
            "head_sha": "0123456789abcdef0123456789abcdef01234567",
            "conclusion": "success",
            "html_url": format!("https://github.com/{repository}/actions/runs/9001"),
            "pull_requests": [{"number": 1}],
            "updated_at": updated_at
        },
        "repository": {"full_name": repository},
        "sender": {"login": "dana", "type": "User"}
    })
}

#[tokio::test]
async fn a_completed_ci_run_on_aipms_branch_is_kept_as_the_storys_latest() {
    let fixture = Fixture::new().await;
    let requested = fixture
        .deliver(
            "workflow_run",
            "w-1",
            &workflow_run(&fixture, "requested", "acme/shop", "2026-12-06T10:00:00Z"),
        )
        .await;
    assert_eq!(requested.status(), 204);
    let elsewhere = fixture
        .deliver(
            "workflow_run",
            "w-2",
            &workflow_run(
                &fixture,
                "completed",
                "mallory/fork",
                "2026-12-06T10:00:00Z",
            ),
        )
        .await;
    assert_eq!(
        elsewhere.status(),
        204,
        "a run in another repository is not the story's"
    );
    assert!(
        fixture
            .evidence
            .ci_runs("default")
            .await
            .unwrap()
            .is_empty()
    );

    let completed = fixture
        .deliver(
            "workflow_run",
            "w-3",
            &workflow_run(&fixture, "completed", "acme/shop", "2026-12-06T10:00:00Z"),
        )
        .await;
    assert_eq!(completed.status(), 200, "{}", json(&completed));
    assert_eq!(json(&completed)["result"], "ci-run-recorded");
    let mut older = workflow_run(&fixture, "completed", "acme/shop", "2026-12-06T09:00:00Z");
    older["workflow_run"]["conclusion"] = json!("failure");
    let late = fixture.deliver("workflow_run", "w-4", &older).await;
    assert_eq!(late.status(), 200);
    let runs = fixture.evidence.ci_runs("default").await.unwrap();
    let run = &runs[&1];
    assert_eq!(
        (run.conclusion.as_str(), run.pr_number, run.commit.as_str()),
        (
            "success",
            Some(1),
            "0123456789abcdef0123456789abcdef01234567"
        ),
        "an older run delivered late does not replace the newer"
    );
}
