//! The INVEST analyzer: a deterministic check of a story against Independent, Negotiable,
//! Valuable, Estimable, Small and Testable, with a warning per finding and a 0–100 score.
//!
//! The rule table is documented in docs/INVEST.md; every rule has a unit test below with a story
//! that triggers it and one that does not.

use serde::Serialize;

use super::gwt::then_step_is_observable;
use super::text::{has_pixel_size, normalize, phrases_in};
use crate::model::{AcceptanceTest, LinkedStory, Story, StoryStatus};

// The criteria are part of the stored AI review, so they live with the stored shapes.
pub use crate::model::Criterion;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvestWarning {
    pub criterion: Criterion,
    pub code: &'static str,
    pub message: String,
    pub suggestion: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CriterionVerdict {
    pub criterion: Criterion,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvestAnalysis {
    /// 100 minus the weight of every warning, never below 0.
    pub score: u8,
    /// True when there are no warnings at all.
    pub passed: bool,
    pub criteria: Vec<CriterionVerdict>,
    pub warnings: Vec<InvestWarning>,
}

/// Score deducted per warning.
const WARNING_WEIGHT: u8 = 15;
/// Story points at or above this mean the story is too big for one iteration.
pub const LARGE_STORY_POINTS: u32 = 13;

const DEPENDENCY_PHRASES: &[&str] = &[
    "blocked by",
    "depends on",
    "dependent on",
    "waiting on",
    "waiting for",
    "coupled with",
];
const PRESCRIPTIVE_PHRASES: &[&str] =
    &["pixel-perfect", "pixel perfect", "exact layout", "must use"];
const UNKNOWN_PHRASES: &[&str] = &[
    "tbd",
    "to be determined",
    "needs discovery",
    "open question",
    "open questions",
    "spike",
    "unclear",
];
const BROAD_SCOPE_PHRASES: &[&str] = &[
    "multiple teams",
    "entire platform",
    "full rewrite",
    "company-wide",
    "company wide",
    "all systems",
    "whole system",
];
const UNTESTABLE_ADJECTIVES: &[&str] = &[
    "fast",
    "quickly",
    "intuitive",
    "seamless",
    "seamlessly",
    "user-friendly",
    "user friendly",
    "optimal",
    "easy",
    "easily",
    "robust",
];

pub fn analyze(story: &Story, tests: &[AcceptanceTest]) -> InvestAnalysis {
    analyze_linked(story, tests, None)
}

/// [`analyze`], judging Independent by the story's recorded blockers when it has any: a
/// blocker that is not Done is a warning, and wording about dependencies is no longer guessed at
/// once the dependency is a link.
pub fn analyze_linked(
    story: &Story,
    tests: &[AcceptanceTest],
    blockers: Option<&[LinkedStory]>,
) -> InvestAnalysis {
    let narrative = normalize(&format!(
        "{} {} {} {} {}",
        story.title, story.as_a, story.i_want, story.so_that, story.description
    ));
    let mut warnings = Vec::new();
    let mut warn = |criterion, code, message: String, suggestion| {
        warnings.push(InvestWarning {
            criterion,
            code,
            message,
            suggestion,
        })
    };

    for (value, code, part, suggestion) in [
        (
            &story.as_a,
            "MISSING_PERSONA",
            "asA",
            "Say who wants this: \"As a product manager…\".",
        ),
        (
            &story.i_want,
            "MISSING_GOAL",
            "iWant",
            "Say what they want to do: \"I want to export stories…\".",
        ),
        (
            &story.so_that,
            "MISSING_BENEFIT",
            "soThat",
            "Say why it matters: \"so that I can report progress\".",
        ),
    ] {
        if value.trim().is_empty() {
            warn(
                Criterion::Valuable,
                code,
                format!("{part} is empty"),
                suggestion,
            );
        }
    }

    let open: Vec<String> = blockers
        .unwrap_or_default()
        .iter()
        .filter(|blocker| blocker.status != StoryStatus::Done)
        .map(|blocker| format!("{} ({})", blocker.key, blocker.status.as_str()))
        .collect();
    if !open.is_empty() {
        warn(
            Criterion::Independent,
            "BLOCKED_BY_OPEN_STORY",
            format!("the story waits for {}", open.join(", ")),
            "Finish the blocking stories first, or split out the part that does not need them.",
        );
    }
    let found = if blockers.is_some_and(|list| !list.is_empty()) {
        Vec::new()
    } else {
        phrases_in(&narrative, DEPENDENCY_PHRASES)
    };
    if !found.is_empty() {
        warn(
            Criterion::Independent,
            "DEPENDENCY_PHRASE",
            format!("the story mentions a dependency: {}", found.join(", ")),
            "Split out or finish the dependency first, so this story can be built on its own.",
        );
    }

    let mut prescriptive = phrases_in(&narrative, PRESCRIPTIVE_PHRASES);
    if has_pixel_size(&narrative) {
        prescriptive.push("fixed pixel sizes");
    }
    if !prescriptive.is_empty() {
        warn(
            Criterion::Negotiable,
            "PRESCRIPTIVE_DESIGN",
            format!(
                "the story prescribes the design: {}",
                prescriptive.join(", ")
            ),
            "Describe the outcome the user needs and leave the how to the team.",
        );
    }

    let found = phrases_in(&narrative, UNKNOWN_PHRASES);
    if !found.is_empty() {
        warn(
            Criterion::Estimable,
            "UNKNOWNS",
            format!("the story has open unknowns: {}", found.join(", ")),
            "Resolve the unknowns (or split off a time-boxed investigation) before estimating.",
        );
    }

    let found = phrases_in(&narrative, BROAD_SCOPE_PHRASES);
    if !found.is_empty() {
        warn(
            Criterion::Small,
            "BROAD_SCOPE",
            format!("the scope sounds too broad: {}", found.join(", ")),
            "Split the story into slices one team can finish in an iteration.",
        );
    }
    if let Some(points) = story
        .story_point
        .filter(|points| *points >= LARGE_STORY_POINTS)
    {
        warn(
            Criterion::Small,
            "LARGE_ESTIMATE",
            format!("{points} story points is large (threshold {LARGE_STORY_POINTS})"),
            "Split the story until each part is under 13 points.",
        );
    }

    let found = phrases_in(&narrative, UNTESTABLE_ADJECTIVES);
    if !found.is_empty() {
        warn(
            Criterion::Testable,
            "UNTESTABLE_ADJECTIVE",
            format!(
                "the story uses words no test can check: {}",
                found.join(", ")
            ),
            "Replace them with measurable targets, e.g. \"within 2 seconds\" instead of \"fast\".",
        );
    }
    if tests.is_empty() {
        warn(
            Criterion::Testable,
            "NO_ACCEPTANCE_TESTS",
            "the story has no acceptance tests".to_owned(),
            "Add at least one Given/When/Then acceptance test.",
        );
    }
    let vague: Vec<&str> = tests
        .iter()
        .filter(|test| {
            !test.then.is_empty() && !test.then.iter().any(|step| then_step_is_observable(step))
        })
        .map(|test| test.id.as_str())
        .collect();
    if !vague.is_empty() {
        warn(
            Criterion::Testable,
            "UNOBSERVABLE_THEN",
            format!(
                "acceptance tests whose Then steps observe nothing: {}",
                vague.join(", ")
            ),
            "Make each Then step name a status, message, count or value a tester can check.",
        );
    }

    let criteria = Criterion::ALL
        .into_iter()
        .map(|criterion| CriterionVerdict {
            criterion,
            passed: !warnings
                .iter()
                .any(|warning| warning.criterion == criterion),
        })
        .collect();
    let deducted = u8::try_from(warnings.len())
        .unwrap_or(u8::MAX)
        .saturating_mul(WARNING_WEIGHT);
    InvestAnalysis {
        score: 100u8.saturating_sub(deducted),
        passed: warnings.is_empty(),
        criteria,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewStory, TestStatus};
    use chrono::Utc;

    fn good_story() -> Story {
        NewStory {
            created_by: None,
            parent_id: None,
            title: "Export stories as CSV".into(),
            as_a: "product manager".into(),
            i_want: "to export the story tree as a CSV file".into(),
            so_that: "I can share progress with stakeholders".into(),
            description: "One row per story with id, title and status.".into(),
            components: vec![],
            story_point: Some(5),
            assignee_email: None,
        }
        .into_story(1, Utc::now())
    }

    fn good_test() -> AcceptanceTest {
        AcceptanceTest {
            story_id: 1,
            id: "t1".into(),
            key: None,
            title: "Export".into(),
            given: vec!["a story tree with 3 stories".into()],
            when: vec!["the PM exports it".into()],
            then: vec!["a CSV with 3 rows is downloaded".into()],
            status: TestStatus::Draft,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn codes(story: &Story, tests: &[AcceptanceTest]) -> Vec<&'static str> {
        analyze(story, tests)
            .warnings
            .iter()
            .map(|w| w.code)
            .collect()
    }

    /// Runs one rule: the good story passes it, the story changed by `trigger` fails it.
    fn rule(code: &str, criterion: Criterion, trigger: impl Fn(&mut Story)) {
        assert!(
            !codes(&good_story(), &[good_test()]).contains(&code),
            "good story triggers {code}"
        );
        let mut story = good_story();
        trigger(&mut story);
        let analysis = analyze(&story, &[good_test()]);
        let warning = analysis
            .warnings
            .iter()
            .find(|w| w.code == code)
            .unwrap_or_else(|| panic!("{code} not triggered: {analysis:?}"));
        assert_eq!(warning.criterion, criterion);
        assert!(!warning.suggestion.is_empty() && !warning.message.is_empty());
        let verdict = analysis
            .criteria
            .iter()
            .find(|v| v.criterion == criterion)
            .unwrap();
        assert!(!verdict.passed);
    }

    #[test]
    fn a_well_formed_story_with_a_test_passes_with_100() {
        let analysis = analyze(&good_story(), &[good_test()]);
        assert!(analysis.passed, "{analysis:?}");
        assert_eq!(analysis.score, 100);
        assert!(analysis.criteria.iter().all(|verdict| verdict.passed));
    }

    #[test]
    fn missing_persona_goal_benefit() {
        rule("MISSING_PERSONA", Criterion::Valuable, |s| s.as_a.clear());
        rule("MISSING_GOAL", Criterion::Valuable, |s| {
            s.i_want = "  ".into()
        });
        rule("MISSING_BENEFIT", Criterion::Valuable, |s| {
            s.so_that.clear()
        });
    }

    #[test]
    fn dependency_phrases() {
        rule("DEPENDENCY_PHRASE", Criterion::Independent, |s| {
            s.description = "Blocked by the auth rework.".into()
        });
        rule("DEPENDENCY_PHRASE", Criterion::Independent, |s| {
            s.i_want = "export, which depends on story 7".into()
        });
    }

    #[test]
    fn recorded_blockers_judge_independent_instead_of_wording() {
        let mut story = good_story();
        story.description = "Depends on the auth rework.".into();
        let blocker = |status| LinkedStory {
            id: 2,
            key: "SHOP-2".into(),
            title: "Auth rework".into(),
            status,
        };
        let open = analyze_linked(&story, &[good_test()], Some(&[blocker(StoryStatus::Ready)]));
        let codes: Vec<&str> = open.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["BLOCKED_BY_OPEN_STORY"], "{open:?}");
        assert!(open.warnings[0].message.contains("SHOP-2 (Ready)"));
        let done = analyze_linked(&story, &[good_test()], Some(&[blocker(StoryStatus::Done)]));
        assert!(done.passed, "{done:?}");
        // Without links, the wording still counts.
        let unlinked = analyze_linked(&story, &[good_test()], Some(&[]));
        assert!(!unlinked.passed);
    }

    #[test]
    fn prescriptive_design() {
        rule("PRESCRIPTIVE_DESIGN", Criterion::Negotiable, |s| {
            s.description = "Pixel-perfect copy of the mockup".into()
        });
        rule("PRESCRIPTIVE_DESIGN", Criterion::Negotiable, |s| {
            s.description = "Buttons 44px high".into()
        });
        rule("PRESCRIPTIVE_DESIGN", Criterion::Negotiable, |s| {
            s.description = "We must use the grid library".into()
        });
    }

    #[test]
    fn unknowns() {
        rule("UNKNOWNS", Criterion::Estimable, |s| {
            s.description = "Format TBD".into()
        });
        rule("UNKNOWNS", Criterion::Estimable, |s| {
            s.title = "Spike: CSV libraries".into()
        });
    }

    #[test]
    fn broad_scope_and_large_estimates() {
        rule("BROAD_SCOPE", Criterion::Small, |s| {
            s.description = "A full rewrite of exports".into()
        });
        rule("BROAD_SCOPE", Criterion::Small, |s| {
            s.so_that = "the entire platform benefits".into()
        });
        rule("LARGE_ESTIMATE", Criterion::Small, |s| {
            s.story_point = Some(13)
        });
        let mut twelve = good_story();
        twelve.story_point = Some(12);
        assert!(!codes(&twelve, &[good_test()]).contains(&"LARGE_ESTIMATE"));
    }

    #[test]
    fn untestable_adjectives() {
        rule("UNTESTABLE_ADJECTIVE", Criterion::Testable, |s| {
            s.i_want = "a fast export".into()
        });
        rule("UNTESTABLE_ADJECTIVE", Criterion::Testable, |s| {
            s.description = "An intuitive, seamless flow".into()
        });
        let mut breakfast = good_story();
        breakfast.description = "Breakfast menu export".into();
        assert!(!codes(&breakfast, &[good_test()]).contains(&"UNTESTABLE_ADJECTIVE"));
    }

    #[test]
    fn acceptance_tests_are_required_and_must_observe_something() {
        assert!(codes(&good_story(), &[]).contains(&"NO_ACCEPTANCE_TESTS"));
        assert!(!codes(&good_story(), &[good_test()]).contains(&"NO_ACCEPTANCE_TESTS"));
        let mut vague = good_test();
        vague.then = vec!["it works".into()];
        let analysis = analyze(&good_story(), &[vague]);
        let warning = analysis
            .warnings
            .iter()
            .find(|w| w.code == "UNOBSERVABLE_THEN")
            .unwrap();
        assert_eq!(warning.criterion, Criterion::Testable);
        assert!(warning.message.contains("t1"));
    }

    #[test]
    fn the_score_falls_15_per_warning_and_stops_at_0() {
        let mut story = good_story();
        story.as_a.clear();
        story.description = "TBD, blocked by auth".into();
        let analysis = analyze(&story, &[good_test()]);
        assert_eq!(analysis.warnings.len(), 3);
        assert_eq!(analysis.score, 55);
        story.i_want.clear();
        story.so_that.clear();
        story.description = "TBD blocked by auth, pixel-perfect, full rewrite, fast".into();
        story.story_point = Some(40);
        assert_eq!(analyze(&story, &[]).score, 0);
    }
}
