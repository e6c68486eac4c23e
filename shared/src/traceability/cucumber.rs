//! Reading a Cucumber run into results per scenario, each with the acceptance-test keys it
//! carries: a tag `@AT-n` first, else `AT-n` / `at_n_` in its name. Two formats: Cucumber
//! Messages (NDJSON envelopes, what the Cucumber maintainers ask report tools to read) and the
//! older Cucumber JSON (an array of features). Bounded like the JUnit reader; serde_json's
//! recursion limit refuses nesting bombs.

use std::collections::HashMap;

use serde::Deserialize;

use super::keys::{keys_in_name, parse_test_key};
use super::report::{CaseResult, MAX_CASES, MAX_REPORT_BYTES, Outcome, ReportProblem, cut};

#[derive(Deserialize)]
struct Tag {
    name: String,
}

/// How a step (or hook) ended, as both formats spell it (any case).
fn step_outcome(status: &str) -> Outcome {
    match status.to_ascii_lowercase().as_str() {
        "passed" => Outcome::Passed,
        // Cucumber counts an undefined, pending or ambiguous step as not passing: so do we.
        "failed" | "undefined" | "pending" | "ambiguous" => Outcome::Failed,
        _ => Outcome::Skipped,
    }
}

/// A scenario's outcome from its steps': a failure outweighs a skip, a skip a pass, and the
/// first failing step's message is kept.
#[derive(Default)]
struct Steps {
    failed: bool,
    skipped: bool,
    message: Option<String>,
}

impl Steps {
    fn add(&mut self, status: &str, message: Option<&str>) {
        match step_outcome(status) {
            Outcome::Passed => {}
            Outcome::Skipped => self.skipped = true,
            Outcome::Failed => {
                if !self.failed {
                    self.message = Some(cut(message.unwrap_or(status)));
                }
                self.failed = true;
            }
        }
    }

    fn outcome(&self) -> Outcome {
        if self.failed {
            Outcome::Failed
        } else if self.skipped {
            Outcome::Skipped
        } else {
            Outcome::Passed
        }
    }
}

fn keys_of(tags: &[Tag], name: &str) -> Vec<u32> {
    let mut keys = Vec::new();
    for number in tags.iter().filter_map(|tag| parse_test_key(&tag.name)) {
        if !keys.contains(&number) {
            keys.push(number);
        }
    }
    if keys.is_empty() {
        keys = keys_in_name(name);
    }
    keys
}

fn malformed(line: usize, error: &serde_json::Error) -> ReportProblem {
    let place = if line > 0 {
        format!("line {line}: ")
    } else {
        String::new()
    };
    ReportProblem::Malformed(cut(&format!("{place}{error}")))
}

// ---- Cucumber Messages ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    pickle: Option<Pickle>,
    test_case: Option<TestCase>,
    test_case_started: Option<TestCaseStarted>,
    test_step_finished: Option<TestStepFinished>,
    test_case_finished: Option<TestCaseFinished>,
}

#[derive(Deserialize)]
struct Pickle {
    id: String,
    #[serde(default)]
    uri: String,
    name: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    id: String,
    pickle_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCaseStarted {
    id: String,
    test_case_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestStepFinished {
    test_case_started_id: String,
    test_step_result: StepResult,
}

#[derive(Deserialize)]
struct StepResult {
    status: String,
    message: Option<String>,
    exception: Option<Exception>,
}

#[derive(Deserialize)]
struct Exception {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCaseFinished {
    test_case_started_id: String,
    #[serde(default)]
    will_be_retried: bool,
}

/// Every scenario of a Cucumber Messages stream (NDJSON), in the order they started. An attempt
/// Cucumber retries is not a result; only the last attempt is. A scenario that started and
/// never finished (the run died) is a failure.
pub fn read_cucumber_messages(ndjson: &str) -> Result<Vec<CaseResult>, ReportProblem> {
    if ndjson.len() > MAX_REPORT_BYTES {
        return Err(ReportProblem::TooLarge);
    }
    let mut pickles: HashMap<String, Pickle> = HashMap::new();
    let mut test_cases: HashMap<String, String> = HashMap::new();
    let mut started: Vec<(String, String)> = Vec::new();
    let mut steps: HashMap<String, Steps> = HashMap::new();
    let mut finished: HashMap<String, bool> = HashMap::new();
    let mut envelopes = 0;
    for (index, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let envelope: Envelope =
            serde_json::from_str(line).map_err(|error| malformed(index + 1, &error))?;
        envelopes += 1;
        if let Some(pickle) = envelope.pickle {
            pickles.insert(pickle.id.clone(), pickle);
        }
        if let Some(test_case) = envelope.test_case {
            test_cases.insert(test_case.id, test_case.pickle_id);
        }
        if let Some(case) = envelope.test_case_started {
            if started.len() >= MAX_CASES {
                return Err(ReportProblem::TooManyCases);
            }
            started.push((case.id, case.test_case_id));
        }
        if let Some(step) = envelope.test_step_finished {
            let result = step.test_step_result;
            let message = result
                .message
                .as_deref()
                .or_else(|| result.exception.as_ref()?.message.as_deref());
            steps
                .entry(step.test_case_started_id)
                .or_default()
                .add(&result.status, message);
        }
        if let Some(case) = envelope.test_case_finished {
            finished.insert(case.test_case_started_id, case.will_be_retried);
        }
    }
    if envelopes == 0 {
        return Err(ReportProblem::Malformed(
            "no Cucumber Messages envelope in the body".into(),
        ));
    }
    let mut cases = Vec::with_capacity(started.len());
    for (started_id, test_case_id) in started {
        if finished.get(&started_id) == Some(&true) {
            continue;
        }
        let pickle = test_cases
            .get(&test_case_id)
            .and_then(|pickle_id| pickles.get(pickle_id))
            .ok_or_else(|| {
                ReportProblem::Malformed(cut(&format!(
                    "test case {test_case_id} names no pickle in the stream"
                )))
            })?;
        let name = if pickle.uri.is_empty() {
            pickle.name.clone()
        } else {
            format!("{}::{}", pickle.uri, pickle.name)
        };
        let recorded = steps.remove(&started_id).unwrap_or_default();
        let (outcome, message) = if finished.contains_key(&started_id) {
            (recorded.outcome(), recorded.message)
        } else {
            (
                Outcome::Failed,
                Some("the scenario started and never finished".to_owned()),
            )
        };
        cases.push(CaseResult {
            keys: keys_of(&pickle.tags, &name),
            name,
            outcome,
            message,
        });
    }
    Ok(cases)
}

// ---- Cucumber JSON ----

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    uri: String,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Element {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    before: Vec<Step>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    after: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    result: Option<JsonResult>,
}

#[derive(Deserialize)]
struct JsonResult {
    status: String,
    error_message: Option<String>,
}

/// Every scenario of a Cucumber JSON report (backgrounds are not scenarios); a feature's tags
/// apply to its scenarios, as they do in Cucumber.
pub fn read_cucumber_json(json: &str) -> Result<Vec<CaseResult>, ReportProblem> {
    if json.len() > MAX_REPORT_BYTES {
        return Err(ReportProblem::TooLarge);
    }
    let features: Vec<Feature> =
        serde_json::from_str(json).map_err(|error| malformed(0, &error))?;
    let total: usize = features.iter().map(|feature| feature.elements.len()).sum();
    if total > MAX_CASES {
        return Err(ReportProblem::TooManyCases);
    }
    let mut cases = Vec::with_capacity(total);
    for feature in features {
        for element in feature.elements {
            if element.kind.eq_ignore_ascii_case("background") {
                continue;
            }
            let mut recorded = Steps::default();
            for step in element
                .before
                .iter()
                .chain(&element.steps)
                .chain(&element.after)
            {
                if let Some(result) = &step.result {
                    recorded.add(&result.status, result.error_message.as_deref());
                }
            }
            let name = if feature.uri.is_empty() {
                element.name.clone()
            } else {
                format!("{}::{}", feature.uri, element.name)
            };
            let tags: Vec<Tag> = element
                .tags
                .into_iter()
                .chain(feature.tags.iter().map(|tag| Tag {
                    name: tag.name.clone(),
                }))
                .collect();
            cases.push(CaseResult {
                keys: keys_of(&tags, &name),
                name,
                outcome: recorded.outcome(),
                message: recorded.message,
            });
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What cucumber-js 11 writes with `--format message`, cut to the envelopes read (others
    /// are skipped as unknown): one scenario passing, one failing, one retried then passing,
    /// one that never finished.
    const MESSAGES: &str = r#"{"meta":{"protocolVersion":"27.0.0","implementation":{"name":"cucumber-js","version":"11.0.1"}}}
{"source":{"uri":"features/cards.feature","data":"Feature: Cards","mediaType":"text/x.cucumber.gherkin+plain"}}
{"pickle":{"id":"p1","uri":"features/cards.feature","name":"Save a card","language":"en","astNodeIds":["a"],"tags":[{"name":"@AT-1","astNodeId":"t1"}],"steps":[]}}
{"pickle":{"id":"p2","uri":"features/cards.feature","name":"Declined card AT-2","language":"en","astNodeIds":["b"],"tags":[],"steps":[]}}
{"pickle":{"id":"p3","uri":"features/cards.feature","name":"Flaky","language":"en","astNodeIds":["c"],"tags":[{"name":"@AT-3","astNodeId":"t3"},{"name":"@slow","astNodeId":"t4"}],"steps":[]}}
{"pickle":{"id":"p4","uri":"features/cards.feature","name":"Crashes","language":"en","astNodeIds":["d"],"tags":[{"name":"@at-4","astNodeId":"t5"}],"steps":[]}}
{"testCase":{"id":"c1","pickleId":"p1","testSteps":[{"id":"s1","pickleStepId":"x"}]}}
{"testCase":{"id":"c2","pickleId":"p2","testSteps":[{"id":"s2","pickleStepId":"y"}]}}
{"testCase":{"id":"c3","pickleId":"p3","testSteps":[]}}
{"testCase":{"id":"c4","pickleId":"p4","testSteps":[]}}
{"testCaseStarted":{"id":"r1","testCaseId":"c1","attempt":0,"timestamp":{"seconds":1,"nanos":0}}}
{"testStepFinished":{"testCaseStartedId":"r1","testStepId":"s1","testStepResult":{"status":"PASSED","duration":{"seconds":0,"nanos":1}},"timestamp":{"seconds":1,"nanos":0}}}
{"testCaseFinished":{"testCaseStartedId":"r1","timestamp":{"seconds":1,"nanos":0},"willBeRetried":false}}
{"testCaseStarted":{"id":"r2","testCaseId":"c2","attempt":0,"timestamp":{"seconds":1,"nanos":0}}}
{"testStepFinished":{"testCaseStartedId":"r2","testStepId":"s2","testStepResult":{"status":"FAILED","message":"expected 200, got 402","exception":{"type":"Error","message":"expected 200, got 402"},"duration":{"seconds":0,"nanos":1}},"timestamp":{"seconds":1,"nanos":0}}}
{"testStepFinished":{"testCaseStartedId":"r2","testStepId":"s3","testStepResult":{"status":"SKIPPED","duration":{"seconds":0,"nanos":1}},"timestamp":{"seconds":1,"nanos":0}}}
{"testCaseFinished":{"testCaseStartedId":"r2","timestamp":{"seconds":1,"nanos":0},"willBeRetried":false}}
{"testCaseStarted":{"id":"r3","testCaseId":"c3","attempt":0,"timestamp":{"seconds":1,"nanos":0}}}
{"testStepFinished":{"testCaseStartedId":"r3","testStepId":"s4","testStepResult":{"status":"FAILED","message":"timeout"},"timestamp":{"seconds":1,"nanos":0}}}
{"testCaseFinished":{"testCaseStartedId":"r3","timestamp":{"seconds":1,"nanos":0},"willBeRetried":true}}
{"testCaseStarted":{"id":"r4","testCaseId":"c3","attempt":1,"timestamp":{"seconds":1,"nanos":0}}}
{"testStepFinished":{"testCaseStartedId":"r4","testStepId":"s4","testStepResult":{"status":"PASSED"},"timestamp":{"seconds":1,"nanos":0}}}
{"testCaseFinished":{"testCaseStartedId":"r4","timestamp":{"seconds":1,"nanos":0},"willBeRetried":false}}
{"testCaseStarted":{"id":"r5","testCaseId":"c4","attempt":0,"timestamp":{"seconds":1,"nanos":0}}}
{"testRunFinished":{"success":false,"timestamp":{"seconds":2,"nanos":0}}}
"#;

    fn seen(cases: &[CaseResult]) -> Vec<(&str, Vec<u32>, Outcome)> {
        cases
            .iter()
            .map(|case| (case.name.as_str(), case.keys.clone(), case.outcome))
            .collect()
    }

    #[test]
    fn a_messages_stream_reads_as_scenarios_with_their_tags_and_last_attempts() {
        let cases = read_cucumber_messages(MESSAGES).expect("a stream");
        assert_eq!(
            seen(&cases),
            [
                (
                    "features/cards.feature::Save a card",
                    vec![1],
                    Outcome::Passed
                ),
                (
                    "features/cards.feature::Declined card AT-2",
                    vec![2],
                    Outcome::Failed
                ),
                ("features/cards.feature::Flaky", vec![3], Outcome::Passed),
                ("features/cards.feature::Crashes", vec![4], Outcome::Failed),
            ]
        );
        assert_eq!(cases[1].message.as_deref(), Some("expected 200, got 402"));
        assert_eq!(
            cases[3].message.as_deref(),
            Some("the scenario started and never finished")
        );
    }

    const JSON: &str = r#"[{"uri":"features/cards.feature","id":"cards","keyword":"Feature","name":"Cards","line":1,"tags":[{"name":"@AT-9","line":1}],"elements":[
 {"type":"background","keyword":"Background","name":"","steps":[{"name":"a shop","result":{"status":"passed"}}]},
 {"type":"scenario","keyword":"Scenario","name":"Save a card","tags":[{"name":"@AT-1","line":3}],"steps":[{"name":"x","result":{"status":"passed","duration":1}}]},
 {"type":"scenario","keyword":"Scenario","name":"Declined","tags":[],"before":[{"result":{"status":"passed"}}],"steps":[{"name":"x","result":{"status":"failed","error_message":"AssertionError: 402"}},{"name":"y","result":{"status":"skipped"}}]},
 {"type":"scenario","keyword":"Scenario","name":"Pending","tags":[],"steps":[{"name":"x","result":{"status":"pending"}}]}
]}]"#;

    #[test]
    fn a_cucumber_json_report_reads_with_feature_tags_inherited_and_backgrounds_skipped() {
        let cases = read_cucumber_json(JSON).expect("a report");
        assert_eq!(
            seen(&cases),
            [
                (
                    "features/cards.feature::Save a card",
                    vec![1, 9],
                    Outcome::Passed
                ),
                ("features/cards.feature::Declined", vec![9], Outcome::Failed),
                ("features/cards.feature::Pending", vec![9], Outcome::Failed),
            ]
        );
        assert_eq!(cases[1].message.as_deref(), Some("AssertionError: 402"));
    }

    #[test]
    fn garbage_and_bombs_are_refused_with_a_reason() {
        for garbage in ["", "\n\n", "not json", "{\"pickle\": 3}", "[1, 2]"] {
            assert!(read_cucumber_messages(garbage).is_err(), "{garbage:?}");
        }
        for garbage in ["", "{}", "not json", "[{\"elements\": 3}]"] {
            assert!(read_cucumber_json(garbage).is_err(), "{garbage:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            read_cucumber_json(&deep),
            Err(ReportProblem::Malformed(_))
        ));
        let deep_line = format!(
            "{{\"pickle\":{}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(
            read_cucumber_messages(&deep_line),
            Err(ReportProblem::Malformed(reason)) if reason.starts_with("line 1")
        ));
        let orphan = r#"{"testCaseStarted":{"id":"r1","testCaseId":"nowhere"}}"#;
        assert!(read_cucumber_messages(orphan).is_err());
        let huge = " ".repeat(MAX_REPORT_BYTES + 1);
        assert_eq!(read_cucumber_json(&huge), Err(ReportProblem::TooLarge));
        assert_eq!(read_cucumber_messages(&huge), Err(ReportProblem::TooLarge));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_input_is_read_or_refused_never_a_panic(text in ".{0,400}") {
            let _ = read_cucumber_messages(&text);
            let _ = read_cucumber_json(&text);
            let _ = read_cucumber_json(&format!("[{{\"elements\":[{text}]}}]"));
        }

        #[test]
        fn written_scenarios_read_back_as_written(
            scenarios in proptest::collection::vec((1u32..5000, 0u8..3, any::<bool>()), 0..30)
        ) {
            let statuses = ["PASSED", "FAILED", "SKIPPED"];
            let mut stream = String::new();
            for (index, (key, outcome, tagged)) in scenarios.iter().enumerate() {
                let (name, tags) = if *tagged {
                    (format!("scenario {index}"), format!("[{{\"name\":\"@AT-{key}\"}}]"))
                } else {
                    (format!("AT-{key} scenario {index}"), "[]".to_owned())
                };
                stream.push_str(&format!(
                    "{{\"pickle\":{{\"id\":\"p{index}\",\"uri\":\"f.feature\",\"name\":\"{name}\",\"tags\":{tags}}}}}\n\
                     {{\"testCase\":{{\"id\":\"c{index}\",\"pickleId\":\"p{index}\"}}}}\n\
                     {{\"testCaseStarted\":{{\"id\":\"r{index}\",\"testCaseId\":\"c{index}\"}}}}\n\
                     {{\"testStepFinished\":{{\"testCaseStartedId\":\"r{index}\",\"testStepResult\":{{\"status\":\"{}\"}}}}}}\n\
                     {{\"testCaseFinished\":{{\"testCaseStartedId\":\"r{index}\",\"willBeRetried\":false}}}}\n",
                    statuses[usize::from(*outcome)]
                ));
            }
            if scenarios.is_empty() {
                stream.push_str("{\"meta\":{}}\n");
            }
            let read = read_cucumber_messages(&stream).expect("reads back");
            prop_assert_eq!(read.len(), scenarios.len());
            for (case, (key, outcome, _)) in read.iter().zip(&scenarios) {
                prop_assert_eq!(&case.keys, &vec![*key]);
                let expected = [Outcome::Passed, Outcome::Failed, Outcome::Skipped][usize::from(*outcome)];
                prop_assert_eq!(case.outcome, expected);
            }
        }
    }
}
