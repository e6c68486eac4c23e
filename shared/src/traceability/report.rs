//! Reading a CI test report (JUnit XML) into results per test case, each with the acceptance
//! test keys it carries: a property `aipm` = `AT-n` first, else `AT-n` / `at_n_` in its name.
//! Bounded: a report is at most [`MAX_REPORT_BYTES`] and [`MAX_CASES`] cases, and a message is
//! cut to [`MAX_MESSAGE_CHARS`].

use quick_junit::{Report, TestCaseStatus};

use super::keys::{keys_in_name, parse_test_key};

/// The largest report read (after gzip), in bytes.
pub const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;
/// The most test cases one report may hold.
pub const MAX_CASES: usize = 50_000;
/// A failure message is kept up to this many characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// The case-level JUnit property that names an acceptance test.
pub const KEY_PROPERTY: &str = "aipm";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One test case of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// `classname::name` (or the name alone), as the report says.
    pub name: String,
    /// The acceptance-test numbers it proves (`n` of `AT-n`); empty when it names none.
    pub keys: Vec<u32>,
    pub outcome: Outcome,
    /// The failure's or skip's message, cut to [`MAX_MESSAGE_CHARS`].
    pub message: Option<String>,
}

/// Why a report cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportProblem {
    TooLarge,
    TooManyCases,
    /// Not JUnit XML as far as the reader goes; the reader's words, without the document.
    Malformed(String),
}

/// Every test case of a JUnit XML report. A report whose root is one `<testsuite>` (Maven's
/// surefire, older pytest) is read as a report of that one suite.
pub fn read_junit(xml: &str) -> Result<Vec<CaseResult>, ReportProblem> {
    if xml.len() > MAX_REPORT_BYTES {
        return Err(ReportProblem::TooLarge);
    }
    let wrapped;
    let document = if root_is_a_suite(xml) {
        wrapped = format!("<testsuites>{}</testsuites>", without_prolog(xml));
        wrapped.as_str()
    } else {
        xml
    };
    let report = Report::deserialize_from_str(document)
        .map_err(|problem| ReportProblem::Malformed(first_line(&problem.to_string())))?;
    let total: usize = report
        .test_suites
        .iter()
        .map(|suite| suite.test_cases.len())
        .sum();
    if total > MAX_CASES {
        return Err(ReportProblem::TooManyCases);
    }
    let mut cases = Vec::with_capacity(total);
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let name = match &case.classname {
                Some(classname) if !classname.as_str().is_empty() => {
                    format!("{}::{}", classname.as_str(), case.name.as_str())
                }
                _ => case.name.as_str().to_owned(),
            };
            let mut keys: Vec<u32> = Vec::new();
            for property in &case.properties {
                if property.name.as_str() == KEY_PROPERTY
                    && let Some(number) = parse_test_key(property.value.as_str())
                    && !keys.contains(&number)
                {
                    keys.push(number);
                }
            }
            if keys.is_empty() {
                keys = keys_in_name(&name);
            }
            let (outcome, message) = match &case.status {
                TestCaseStatus::Success { .. } => (Outcome::Passed, None),
                TestCaseStatus::NonSuccess {
                    message,
                    description,
                    ..
                } => (
                    Outcome::Failed,
                    message
                        .as_ref()
                        .or(description.as_ref())
                        .map(|m| m.as_str()),
                ),
                TestCaseStatus::Skipped { message, .. } => {
                    (Outcome::Skipped, message.as_ref().map(|m| m.as_str()))
                }
            };
            cases.push(CaseResult {
                name,
                keys,
                outcome,
                message: message.map(cut),
            });
        }
    }
    Ok(cases)
}

/// Whether the first element after the prolog is `<testsuite>` (not `<testsuites>`).
fn root_is_a_suite(xml: &str) -> bool {
    let body = without_prolog(xml);
    body.strip_prefix("<testsuite")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|next| next.is_whitespace() || next == '>' || next == '/')
}

/// The document after its XML declaration, comments and doctype.
fn without_prolog(xml: &str) -> &str {
    let mut rest = xml.trim_start_matches('\u{feff}').trim_start();
    loop {
        let skipped = if rest.starts_with("<?") {
            rest.find("?>").map(|end| &rest[end + 2..])
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|end| &rest[end + 3..])
        } else if rest.starts_with("<!") {
            rest.find('>').map(|end| &rest[end + 1..])
        } else {
            None
        };
        match skipped {
            Some(next) => rest = next.trim_start(),
            None => return rest,
        }
    }
}

fn first_line(text: &str) -> String {
    cut(text.lines().next().unwrap_or_default())
}

pub(crate) fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="0.05">
<testcase classname="tests.test_export" name="test_at_1_exports_csv" time="0.001"/>
<testcase classname="tests.test_export" name="test_headers" time="0.001">
  <properties><property name="aipm" value="AT-2"/><property name="aipm" value="AT-3"/></properties>
  <failure message="assert 2 == 3">tests/test_export.py:12: AssertionError</failure>
</testcase>
<testcase classname="tests.test_export" name="test_later" time="0"><skipped message="not yet"/></testcase>
<testcase classname="tests.test_misc" name="test_unrelated" time="0"/>
</testsuite></testsuites>"#;

    #[test]
    fn a_pytest_report_reads_as_cases_with_their_keys_and_outcomes() {
        let cases = read_junit(PYTEST).expect("a report");
        let seen: Vec<(&str, Vec<u32>, Outcome)> = cases
            .iter()
            .map(|case| (case.name.as_str(), case.keys.clone(), case.outcome))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "tests.test_export::test_at_1_exports_csv",
                    vec![1],
                    Outcome::Passed
                ),
                (
                    "tests.test_export::test_headers",
                    vec![2, 3],
                    Outcome::Failed
                ),
                ("tests.test_export::test_later", vec![], Outcome::Skipped),
                ("tests.test_misc::test_unrelated", vec![], Outcome::Passed),
            ]
        );
        assert_eq!(cases[1].message.as_deref(), Some("assert 2 == 3"));
    }

    #[test]
    fn a_single_suite_root_and_a_prolog_are_read() {
        let surefire = r#"<?xml version="1.0"?>
<!-- generated -->
<testsuite name="com.acme.ExportTest" tests="1"><testcase name="AT-4 exports" classname="com.acme.ExportTest"><error message="boom"/></testcase></testsuite>"#;
        let cases = read_junit(surefire).expect("a report");
        assert_eq!(cases[0].keys, [4]);
        assert_eq!(cases[0].outcome, Outcome::Failed);
    }

    #[test]
    fn bombs_and_garbage_are_refused_with_a_reason() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<testsuites><testsuite name="s"><testcase name="&lol2;"/></testsuite></testsuites>"#;
        assert!(matches!(
            read_junit(billion_laughs),
            Err(ReportProblem::Malformed(_))
        ));
        let external = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite name="s"><testcase name="&xxe;"/></testsuite></testsuites>"#;
        assert!(matches!(
            read_junit(external),
            Err(ReportProblem::Malformed(_))
        ));
        for garbage in [
            "",
            "not xml",
            "<testsuites><testsuite name=\"s\">",
            "{\"json\": true}",
        ] {
            assert!(read_junit(garbage).is_err(), "{garbage:?}");
        }
        // Deep nesting is skipped without recursion.
        let deep = format!(
            "<testsuites><testsuite name=\"s\">{}{}<testcase name=\"AT-1 ok\"/></testsuite></testsuites>",
            "<x>".repeat(100_000),
            "</x>".repeat(100_000)
        );
        assert_eq!(read_junit(&deep).expect("read")[0].keys, [1]);
        let huge = " ".repeat(MAX_REPORT_BYTES + 1);
        assert_eq!(read_junit(&huge), Err(ReportProblem::TooLarge));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_input_is_read_or_refused_never_a_panic(text in ".{0,400}") {
            let _ = read_junit(&text);
            let _ = read_junit(&format!("<testsuites><testsuite name=\"s\">{text}</testsuite></testsuites>"));
        }

        #[test]
        fn a_written_report_reads_back_as_written(
            cases in proptest::collection::vec(
                (1u32..5000, 0u8..3, any::<bool>(), "[a-z ]{0,12}"),
                0..30,
            )
        ) {
            use quick_junit::{NonSuccessKind, Property, TestCase, TestSuite};
            let mut suite = TestSuite::new("suite");
            for (index, (key, outcome, as_property, words)) in cases.iter().enumerate() {
                let status = match outcome {
                    0 => TestCaseStatus::success(),
                    1 => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(format!("failed {words}"));
                        status
                    }
                    _ => TestCaseStatus::skipped(),
                };
                let name = if *as_property {
                    format!("case {index} {words}")
                } else {
                    format!("AT-{key} case {index} {words}")
                };
                let mut case = TestCase::new(name, status);
                if *as_property {
                    case.add_property(Property::new(KEY_PROPERTY, format!("AT-{key}")));
                }
                suite.add_test_case(case);
            }
            let mut report = Report::new("run");
            report.add_test_suite(suite);
            let xml = report.to_string().expect("serializes");
            let read = read_junit(&xml).expect("reads back");
            prop_assert_eq!(read.len(), cases.len());
            for (case, (key, outcome, _, _)) in read.iter().zip(&cases) {
                prop_assert_eq!(&case.keys, &vec![*key]);
                let expected = [Outcome::Passed, Outcome::Failed, Outcome::Skipped][usize::from(*outcome)];
                prop_assert_eq!(case.outcome, expected);
            }
        }
    }
}
