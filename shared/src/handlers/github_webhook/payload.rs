//! The few fields of GitHub's webhook payloads AIPM acts on, in its own small structs (GitHub adds
//! fields and actions without notice; a full model would turn a dropped field into a lost event),
//! and the decision each event leads to.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{Trigger, TriggerKind};

/// Every AIPM comment carries this, so its own comments never trigger a revision.
pub const MARKER: &str = "<!-- aipm:";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Account {
    pub fn is_bot(&self) -> bool {
        self.kind.eq_ignore_ascii_case("bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Repository {
    #[serde(default)]
    pub full_name: String,
    /// GitHub's numeric id, which survives renames and transfers.
    #[serde(default)]
    pub id: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub id: u64,
    #[serde(default)]
    pub state: String,
    pub body: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub pull_request_review_id: Option<u64>,
    pub body: Option<String>,
    pub html_url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    #[serde(rename = "ref")]
    pub name: String,
    pub repo: Option<Repository>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestPayload {
    pub number: u64,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    pub merged_at: Option<DateTime<Utc>>,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<Account>,
    pub head: Branch,
    pub base: Branch,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub state: String,
    pub pull_request: Option<serde_json::Value>,
}

/// Any event AIPM reads; the fields an event lacks stay `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub sender: Account,
    #[serde(default)]
    pub repository: Repository,
    pub review: Option<Review>,
    pub comment: Option<Comment>,
    pub pull_request: Option<PullRequestPayload>,
    pub issue: Option<Issue>,
}

/// Per-stage choices about what starts a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRules {
    /// `owner/name` of the repository AIPM works on.
    pub repository: String,
    /// Words that call AIPM in a review or comment (`@aipm`, `/aipm`).
    pub mentions: Vec<String>,
    /// Whether a "changes requested" review starts a revision without a mention.
    pub on_changes_requested: bool,
}

impl TriggerRules {
    pub fn mentioned_in(&self, body: &str) -> bool {
        let body = body.to_lowercase();
        self.mentions
            .iter()
            .any(|mention| body.contains(&mention.to_lowercase()))
    }
}

/// What an event asks of AIPM.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Ignore(&'static str),
    /// A revision of pull request `pr_number` on `branch`, once per `once_key`.
    Revise {
        pr_number: u64,
        branch: String,
        trigger: Trigger,
        once_key: String,
    },
    Closed {
        pr_number: u64,
        branch: String,
        merged: bool,
        merged_at: Option<DateTime<Utc>>,
        commit_sha: Option<String>,
        merged_by: Option<String>,
    },
}

/// Whether `task` works in the `repository` a delivery names: the repository it records (by
/// GitHub's id when both know it, so a renamed or transferred repository still matches and a
/// new one under the old name does not), or for tasks from before projects the deployment's
/// configured one.
pub fn works_in(
    task: &crate::model::CodeTask,
    repository: &Repository,
    rules: &TriggerRules,
) -> bool {
    match (&task.repository, repository.id) {
        (Some(link), Some(id)) if link.repository_id.is_some() => link.repository_id == Some(id),
        (Some(link), _) => link.full_name().eq_ignore_ascii_case(&repository.full_name),
        (None, _) => rules.repository.eq_ignore_ascii_case(&repository.full_name),
    }
}

/// The repository a delivery names, as a link the code host can be scoped to (the base branch
/// is not needed to read or comment on a pull request).
pub fn delivery_repository(full_name: &str) -> Option<crate::project::RepositoryLink> {
    let (owner, name) = full_name.split_once('/')?;
    Some(crate::project::RepositoryLink::new(owner, name, ""))
}

/// The story a branch AIPM opened names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchStory {
    /// `aipm/story-<id>-…`, the branches of before projects: the story's id.
    Id(u64),
    /// `aipm/<KEY>-<n>-…`: the project's key (now or before a rename) and the story's number.
    Key { key: String, number: u32 },
}

/// The story a branch AIPM opened belongs to, if it is one of AIPM's branches.
pub fn story_of_branch(branch: &str) -> Option<BranchStory> {
    let rest = branch.strip_prefix("aipm/")?;
    let leading_number = |text: &str| -> Option<u64> {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|number| *number > 0)
    };
    if let Some(id) = rest.strip_prefix("story-") {
        return leading_number(id).map(BranchStory::Id);
    }
    let (key, number) = rest.split_once('-')?;
    crate::project::validate_key(key).ok()?;
    let number = u32::try_from(leading_number(number)?).ok()?;
    Some(BranchStory::Key {
        key: key.to_owned(),
        number,
    })
}

/// A trigger from GitHub, as of `at` (now when GitHub did not say).
fn trigger(
    kind: TriggerKind,
    id: u64,
    sender: &Account,
    at: Option<DateTime<Utc>>,
    delivery: &str,
) -> Trigger {
    Trigger {
        delivery_id: Some(delivery.to_owned()),
        ..Trigger::new(
            kind,
            id.to_string(),
            &sender.login,
            at.unwrap_or_else(Utc::now),
        )
    }
}

/// The events the webhook acts on ([`decide`]'s, and `workflow_run`, whose completed runs are
/// kept as CI evidence): what a repository's webhook or the App subscribes to.
pub const EVENTS: [&str; 5] = [
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "issue_comment",
    "workflow_run",
];

/// Decides from the payload alone; who the sender is allowed to be is checked afterwards.
/// Which repository the delivery is from is checked once the task is found: each task records the
/// repository its project links (see [`works_in`]).
pub fn decide(event: &str, envelope: &Envelope, rules: &TriggerRules, delivery: &str) -> Decision {
    if envelope.sender.is_bot() {
        return Decision::Ignore("sent by a bot");
    }
    let body_of = |body: &Option<String>| body.clone().unwrap_or_default();
    match (event, envelope.action.as_str()) {
        ("pull_request_review", "submitted") => {
            let (Some(review), Some(pull)) = (&envelope.review, &envelope.pull_request) else {
                return Decision::Ignore("incomplete payload");
            };
            let body = body_of(&review.body);
            if body.contains(MARKER) {
                return Decision::Ignore("AIPM's own review");
            }
            let changes_requested = review.state.eq_ignore_ascii_case("changes_requested")
                && rules.on_changes_requested;
            if !changes_requested && !rules.mentioned_in(&body) {
                return Decision::Ignore("a review that neither requests changes nor calls AIPM");
            }
            revise_pull(
                pull,
                Trigger {
                    state: Some(review.state.to_lowercase()),
                    body: Some(body),
                    url: review.html_url.clone(),
                    ..trigger(
                        TriggerKind::Review,
                        review.id,
                        &envelope.sender,
                        review.submitted_at,
                        delivery,
                    )
                },
                format!("review:{}", review.id),
            )
        }
        ("pull_request_review_comment", "created") => {
            let (Some(comment), Some(pull)) = (&envelope.comment, &envelope.pull_request) else {
                return Decision::Ignore("incomplete payload");
            };
            let body = body_of(&comment.body);
            if body.contains(MARKER) || !rules.mentioned_in(&body) {
                return Decision::Ignore("a review comment that does not call AIPM");
            }
            // The whole review is the unit of work: its other comments come along.
            let review_id = comment.pull_request_review_id.unwrap_or(comment.id);
            revise_pull(
                pull,
                Trigger {
                    state: Some("commented".into()),
                    url: comment.html_url.clone(),
                    ..trigger(
                        TriggerKind::Review,
                        review_id,
                        &envelope.sender,
                        comment.created_at,
                        delivery,
                    )
                },
                format!("review:{review_id}"),
            )
        }
        ("issue_comment", "created") => {
            let (Some(comment), Some(issue)) = (&envelope.comment, &envelope.issue) else {
                return Decision::Ignore("incomplete payload");
            };
            if issue.pull_request.is_none() {
                return Decision::Ignore("a comment on an issue, not a pull request");
            }
            let body = body_of(&comment.body);
            if body.contains(MARKER) || !rules.mentioned_in(&body) {
                return Decision::Ignore("a comment that does not call AIPM");
            }
            if issue.state != "open" {
                return Decision::Ignore("the pull request is not open");
            }
            // The branch is not in an issue_comment payload; the task record names it.
            Decision::Revise {
                pr_number: issue.number,
                branch: String::new(),
                trigger: Trigger {
                    body: Some(body),
                    url: comment.html_url.clone(),
                    ..trigger(
                        TriggerKind::Comment,
                        comment.id,
                        &envelope.sender,
                        comment.created_at,
                        delivery,
                    )
                },
                once_key: format!("comment:{}", comment.id),
            }
        }
        ("pull_request", "closed") => {
            let Some(pull) = &envelope.pull_request else {
                return Decision::Ignore("incomplete payload");
            };
            if story_of_branch(&pull.head.name).is_none() {
                return Decision::Ignore("not a pull request AIPM opened");
            }
            Decision::Closed {
                pr_number: pull.number,
                branch: pull.head.name.clone(),
                merged: pull.merged,
                merged_at: pull.merged_at,
                commit_sha: pull.merge_commit_sha.clone(),
                merged_by: pull.merged_by.as_ref().map(|account| account.login.clone()),
            }
        }
        _ => Decision::Ignore("an event AIPM does not act on"),
    }
}

fn revise_pull(pull: &PullRequestPayload, trigger: Trigger, once_key: String) -> Decision {
    if pull.state != "open" {
        return Decision::Ignore("the pull request is not open");
    }
    if story_of_branch(&pull.head.name).is_none() {
        return Decision::Ignore("not a pull request AIPM opened");
    }
    let same_repository = match (&pull.head.repo, &pull.base.repo) {
        (Some(head), Some(base)) => head.full_name.eq_ignore_ascii_case(&base.full_name),
        _ => false,
    };
    if !same_repository {
        return Decision::Ignore("a pull request from a fork");
    }
    Decision::Revise {
        pr_number: pull.number,
        branch: pull.head.name.clone(),
        trigger,
        once_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> TriggerRules {
        TriggerRules {
            repository: "acme/shop".into(),
            mentions: vec!["@aipm".into()],
            on_changes_requested: true,
        }
    }

    fn pull(state: &str) -> serde_json::Value {
        json!({
            "number": 7, "state": state, "merged": false,
            "head": {"ref": "aipm/story-12-export-ab12cd34", "repo": {"full_name": "acme/shop"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}
        })
    }

    fn review(state: &str, body: &str, sender: serde_json::Value) -> Envelope {
        serde_json::from_value(json!({
            "action": "submitted",
            "sender": sender,
            "repository": {"full_name": "acme/shop"},
            "review": {"id": 99, "state": state, "body": body, "submitted_at": "2026-12-01T10:00:00Z"},
            "pull_request": pull("open"),
        }))
        .unwrap()
    }

    fn human() -> serde_json::Value {
        json!({"login": "dana", "type": "User"})
    }

    #[test]
    fn changes_requested_or_a_mention_starts_a_revision_keyed_by_review() {
        let decision = decide(
            "pull_request_review",
            &review("changes_requested", "", human()),
            &rules(),
            "d1",
        );
        let Decision::Revise {
            pr_number,
            once_key,
            trigger,
            ..
        } = decision
        else {
            panic!("{decision:?}")
        };
        assert_eq!((pr_number, once_key.as_str()), (7, "review:99"));
        assert_eq!(trigger.sender, "dana");
        assert_eq!(trigger.state.as_deref(), Some("changes_requested"));
        assert!(matches!(
            decide(
                "pull_request_review",
                &review("commented", "@AIPM please fix", human()),
                &rules(),
                "d"
            ),
            Decision::Revise { .. }
        ));
        assert_eq!(
            decide(
                "pull_request_review",
                &review("approved", "LGTM", human()),
                &rules(),
                "d"
            ),
            Decision::Ignore("a review that neither requests changes nor calls AIPM")
        );
    }

    #[test]
    fn a_review_comment_names_its_whole_review() {
        let envelope: Envelope = serde_json::from_value(json!({
            "action": "created", "sender": human(), "repository": {"full_name": "acme/shop"},
            "comment": {"id": 5, "pull_request_review_id": 99, "body": "@aipm rename this"},
            "pull_request": pull("open"),
        }))
        .unwrap();
        let Decision::Revise { once_key, .. } =
            decide("pull_request_review_comment", &envelope, &rules(), "d")
        else {
            panic!()
        };
        assert_eq!(once_key, "review:99");
    }

    #[test]
    fn bots_markers_forks_other_repositories_and_closed_pulls_are_ignored() {
        let bot = review(
            "changes_requested",
            "",
            json!({"login": "ci[bot]", "type": "Bot"}),
        );
        assert_eq!(
            decide("pull_request_review", &bot, &rules(), "d"),
            Decision::Ignore("sent by a bot")
        );
        let own = review("changes_requested", "<!-- aipm:summary -->", human());
        assert_eq!(
            decide("pull_request_review", &own, &rules(), "d"),
            Decision::Ignore("AIPM's own review")
        );
        let mut fork = review("changes_requested", "", human());
        fork.pull_request.as_mut().unwrap().head.repo = Some(Repository {
            full_name: "mallory/shop".into(),
            id: None,
        });
        assert_eq!(
            decide("pull_request_review", &fork, &rules(), "d"),
            Decision::Ignore("a pull request from a fork")
        );
        let mut closed = review("changes_requested", "", human());
        closed.pull_request.as_mut().unwrap().state = "closed".into();
        assert_eq!(
            decide("pull_request_review", &closed, &rules(), "d"),
            Decision::Ignore("the pull request is not open")
        );
        // The repository is the task's to judge (works_in), not the payload's.
        let mut elsewhere = review("changes_requested", "", human());
        elsewhere.repository.full_name = "acme/other".into();
        assert!(matches!(
            decide("pull_request_review", &elsewhere, &rules(), "d"),
            Decision::Revise { .. }
        ));
        assert_eq!(
            decide("push", &review("x", "", human()), &rules(), "d"),
            Decision::Ignore("an event AIPM does not act on")
        );
    }

    #[test]
    fn branches_name_their_story() {
        assert_eq!(
            story_of_branch("aipm/story-12-export-ab12"),
            Some(BranchStory::Id(12))
        );
        assert_eq!(
            story_of_branch("aipm/SHOP-7-export-ab12"),
            Some(BranchStory::Key {
                key: "SHOP".into(),
                number: 7
            })
        );
        assert_eq!(story_of_branch("aipm/shop-7-x"), None, "keys are capitals");
        assert_eq!(story_of_branch("aipm/SHOP-x"), None);
        assert_eq!(
            story_of_branch("aipm/S-7-x"),
            None,
            "keys have 2 to 10 letters"
        );
        let mut task = crate::model::CodeTask::queued(
            "t".into(),
            12,
            "aipm/story-12-x".into(),
            chrono::Utc::now(),
        );
        let named = |full_name: &str, id: Option<u64>| Repository {
            full_name: full_name.into(),
            id,
        };
        assert!(
            works_in(&task, &named("ACME/shop", None), &rules()),
            "the configured one"
        );
        assert!(!works_in(&task, &named("acme/other", None), &rules()));
        task.repository = delivery_repository("acme/other");
        assert!(
            works_in(&task, &named("acme/other", Some(5)), &rules()),
            "the project's link, by name while it records no id"
        );
        assert!(!works_in(&task, &named("acme/shop", None), &rules()));
        // With the App's ids: a renamed repository still matches, a new one under the old
        // name does not.
        task.repository = Some(crate::project::RepositoryLink {
            repository_id: Some(5),
            ..crate::project::RepositoryLink::new("acme", "other", "main")
        });
        assert!(works_in(&task, &named("acme/renamed", Some(5)), &rules()));
        assert!(!works_in(&task, &named("acme/other", Some(6)), &rules()));
        assert_eq!(story_of_branch("aipm/story-x"), None);
        assert_eq!(story_of_branch("feature/story-12"), None);
    }
}
