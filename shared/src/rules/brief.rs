//! What generate-code writes for the agent and for reviewers: the branch name, TASK.md and the
//! pull request body. Pure and bounded: TASK.md stays well under GitHub's 65,536-character
//! pull-request body limit even for the largest story the API accepts.

use std::fmt::Write;

use crate::model::{AcceptanceTest, Story, TestStatus};

/// The brief is cut to this many characters (a note says so) if a story is enormous.
pub const BRIEF_MAX_CHARS: usize = 60_000;
/// Pull request bodies stay under GitHub's limit of 65,536 characters.
pub const PULL_REQUEST_BODY_MAX_CHARS: usize = 60_000;
pub const BRIEF_PATH: &str = "TASK.md";
const SLUG_MAX_CHARS: usize = 40;

/// `aipm/<KEY-n>-<slug>-<short task id>`: the story as people know it (`label`), so a branch
/// says which project and story it is for. Branches of before projects say `story-<id>`.
pub fn branch_name(story: &Story, label: &str, task_id: &str) -> String {
    let short: String = task_id.chars().take(8).collect();
    format!("aipm/{label}-{}-{short}", slug(&story.title))
}

/// Lower-case ASCII letters and digits joined by single hyphens.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= SLUG_MAX_CHARS {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "story".to_owned()
    } else {
        slug
    }
}

fn bounded(mut text: String, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut = text
        .char_indices()
        .nth(max_chars.saturating_sub(200))
        .map_or(text.len(), |(index, _)| index);
    text.truncate(cut);
    text.push_str("\n\n…(cut to stay within the size limit; the full story is in AIPM)\n");
    text
}

/// The agent's brief: the story, its acceptance tests as a checklist, the instructions, and the
/// rules of the job.
pub fn task_brief(story: &Story, tests: &[AcceptanceTest], instructions: Option<&str>) -> String {
    let mut brief = String::new();
    let _ = writeln!(brief, "# Story {}: {}\n", story.id, story.title);
    if !story.as_a.is_empty() || !story.i_want.is_empty() || !story.so_that.is_empty() {
        let _ = writeln!(
            brief,
            "As a {}, I want {}, so that {}.\n",
            story.as_a, story.i_want, story.so_that
        );
    }
    if !story.description.is_empty() {
        let _ = writeln!(brief, "## Description\n\n{}\n", story.description);
    }
    if !story.components.is_empty() {
        let _ = writeln!(brief, "Components: {}\n", story.components.join(", "));
    }
    brief.push_str("## Acceptance tests\n\n");
    if tests.is_empty() {
        brief.push_str("(none yet: make the behaviour above observable and tested)\n");
    }
    for test in tests {
        let done = if test.status == TestStatus::Pass {
            "x"
        } else {
            " "
        };
        match &test.key {
            Some(key) => {
                let _ = writeln!(brief, "- [{done}] `{key}` **{}**", test.title);
            }
            None => {
                let _ = writeln!(brief, "- [{done}] **{}**", test.title);
            }
        }
        for (keyword, steps) in [
            ("Given", &test.given),
            ("When", &test.when),
            ("Then", &test.then),
        ] {
            for step in steps {
                let _ = writeln!(brief, "  - {keyword} {step}");
            }
        }
    }
    // Links only: uploaded files stay behind the API, and a link never carries credentials
    // (`rules::documents::check_links`).
    if !story.documents.links.is_empty() {
        brief.push_str("\n## Reference documents\n\n");
        for link in &story.documents.links {
            let _ = writeln!(
                brief,
                "- {}: <{}>",
                link.title.replace(['\n', '\r'], " "),
                link.url
            );
        }
    }
    if let Some(instructions) = instructions.filter(|text| !text.trim().is_empty()) {
        let _ = writeln!(brief, "\n## Instructions\n\n{}", instructions.trim());
    }
    brief.push_str(
        "\n## How to work\n\n\
         - Implement the story so that every acceptance test above holds, with tests that show it.\n\
         - Tag each test you write with the key of the acceptance test it proves (`AT-n` above): \
         put the key in the test's name (`AT-12 exports a CSV`, or `test_at_12_exports_csv`), or \
         as a JUnit property `aipm` = `AT-12`, or as a Cucumber tag `@AT-12`. CI results reach \
         AIPM by these keys.\n\
         - Keep the change focused on this story; follow the repository's existing conventions.\n\
         - Leave the working tree with your changes in place: the worker commits and pushes them.\n\
         \n## Do not\n\n\
         - Do not commit, push, rebase or switch branches yourself.\n\
         - Do not edit or keep this TASK.md: the worker removes it before committing.\n\
         - Do not touch secrets, credentials, CI configuration or deployment settings.\n\
         - Do not delete or weaken existing tests to make them pass.\n",
    );
    bounded(brief, BRIEF_MAX_CHARS)
}

/// The draft pull request's body: what it is for and where the brief is.
pub fn pull_request_body(story: &Story, task_id: &str, tests: &[AcceptanceTest]) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "AIPM story {}: **{}**\n", story.id, story.title);
    if !story.i_want.is_empty() {
        let _ = writeln!(
            body,
            "As a {}, I want {}, so that {}.\n",
            story.as_a, story.i_want, story.so_that
        );
    }
    let _ = writeln!(
        body,
        "Code task `{task_id}`. An AI coding agent works on this branch from `{BRIEF_PATH}`; this \
         pull request leaves draft when its work is pushed.\n"
    );
    let _ = writeln!(body, "Acceptance tests: {}", tests.len());
    for test in tests {
        let _ = writeln!(body, "- [ ] {}", test.title);
    }
    bounded(body, PULL_REQUEST_BODY_MAX_CHARS)
}

/// A fingerprint of what a generate-code request asked for, to tell a retry (same key, same
/// request) from a different request that reuses a key. A repository named in the request
/// counts; a request that names none has the fingerprint it had before projects linked several.
pub fn request_fingerprint(
    story_id: u64,
    instructions: Option<&str>,
    repository: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut asked = format!("{story_id}\n{}", instructions.unwrap_or_default());
    if let Some(repository) = repository {
        asked.push_str("\nrepository:");
        asked.push_str(&repository.to_ascii_lowercase());
    }
    let digest = Sha256::digest(asked);
    digest
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The task id for an Idempotency-Key: the same key on the same story is always the same task.
pub fn task_id_for_key(story_id: u64, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("aipm-task\n{story_id}\n{key}"));
    digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewStory;
    use chrono::Utc;

    fn story(title: &str, description: &str) -> Story {
        NewStory {
            created_by: None,
            parent_id: None,
            title: title.into(),
            as_a: "product manager".into(),
            i_want: "a CSV export".into(),
            so_that: "I can share progress".into(),
            description: description.into(),
            components: vec!["export".into()],
            story_point: Some(3),
            assignee_email: None,
        }
        .into_story(42, Utc::now())
    }

    fn test(title: &str, status: TestStatus) -> AcceptanceTest {
        AcceptanceTest {
            story_id: 42,
            id: "t1".into(),
            key: None,
            title: title.into(),
            given: vec!["3 stories".into()],
            when: vec!["the PM exports".into()],
            then: vec!["a CSV with 3 rows is downloaded".into()],
            status,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn branch_names_are_safe_and_traceable() {
        let name = branch_name(
            &story("Export stories as CSV (v2)!", ""),
            "SHOP-42",
            "0123456789abcdef",
        );
        assert_eq!(name, "aipm/SHOP-42-export-stories-as-csv-v2-01234567");
        assert_eq!(slug("***"), "story");
        assert!(slug(&"word ".repeat(50)).len() <= 40);
        assert_eq!(slug("Ünïcode → fine"), "n-code-fine");
    }

    #[test]
    fn the_brief_holds_the_story_the_checklist_instructions_and_the_rules() {
        let brief = task_brief(
            &story("Export", "One row per story."),
            &[
                test("CSV download", TestStatus::Pass),
                AcceptanceTest {
                    key: Some("AT-7".into()),
                    ..test("Headers", TestStatus::Draft)
                },
            ],
            Some("Use the existing csv module."),
        );
        assert!(brief.starts_with("# Story 42: Export"));
        assert!(
            brief.contains(
                "As a product manager, I want a CSV export, so that I can share progress."
            )
        );
        assert!(brief.contains("- [x] **CSV download**"));
        assert!(brief.contains("- [ ] `AT-7` **Headers**"));
        assert!(
            brief.contains("`test_at_12_exports_csv`"),
            "how to tag a test"
        );
        assert!(brief.contains("  - Then a CSV with 3 rows is downloaded"));
        assert!(brief.contains("## Instructions\n\nUse the existing csv module."));
        assert!(brief.contains("Do not commit, push"));
    }

    #[test]
    fn the_brief_lists_reference_links_but_never_files() {
        let mut story = story("Export", "");
        story.documents.links.push(crate::model::DocumentLink {
            url: "https://example.com/spec".into(),
            title: "Spec".into(),
        });
        story.documents.files.push(crate::model::DocumentFile {
            id: "0".repeat(32),
            name: "secret-plan.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1,
            added_at: chrono::Utc::now(),
            added_by: None,
        });
        let brief = task_brief(&story, &[], None);
        assert!(brief.contains("## Reference documents\n\n- Spec: <https://example.com/spec>\n"));
        assert!(!brief.contains("secret-plan"));
        assert!(!task_brief(&self::story("Export", ""), &[], None).contains("Reference documents"));
    }

    #[test]
    fn the_brief_and_body_stay_under_the_limits() {
        let huge = "x".repeat(20_000);
        let tests: Vec<AcceptanceTest> = (0..100)
            .map(|n| test(&format!("{n} {}", "y".repeat(190)), TestStatus::Draft))
            .collect();
        let mut big_tests = tests.clone();
        for test in &mut big_tests {
            test.then = vec!["z".repeat(1_000); 20];
        }
        let brief = task_brief(&story("Export", &huge), &big_tests, Some(&huge));
        assert!(
            brief.chars().count() <= BRIEF_MAX_CHARS,
            "{}",
            brief.chars().count()
        );
        assert!(brief.contains("cut to stay within the size limit"));
        let body = pull_request_body(&story("Export", &huge), "t", &tests);
        assert!(body.chars().count() < 65_536);
    }

    #[test]
    fn fingerprints_and_keyed_ids_are_stable_and_distinct() {
        assert_eq!(
            request_fingerprint(1, Some("a"), None),
            request_fingerprint(1, Some("a"), None)
        );
        assert_ne!(
            request_fingerprint(1, Some("a"), None),
            request_fingerprint(1, Some("b"), None)
        );
        assert_eq!(
            request_fingerprint(1, Some("a"), Some("Acme/App")),
            request_fingerprint(1, Some("a"), Some("acme/app"))
        );
        assert_ne!(
            request_fingerprint(1, Some("a"), Some("acme/app")),
            request_fingerprint(1, Some("a"), None)
        );
        assert_eq!(task_id_for_key(1, "k"), task_id_for_key(1, "k"));
        assert_ne!(task_id_for_key(1, "k"), task_id_for_key(2, "k"));
        assert_eq!(task_id_for_key(1, "k").len(), 32);
    }
}
