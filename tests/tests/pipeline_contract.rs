//! The deploy pipeline read as data: the GitHub Actions workflow is valid against GitHub's
//! workflow schema, tests every push, deploys develop to dev and main to prod through OIDC and
//! smoke-checks the stage it deployed; the roles of deploy/pipeline.yaml are least privilege.

use serde_json::{Value, json};

fn workflow() -> Value {
    let text =
        std::fs::read_to_string(aipm_tests::repo_root().join(".github/workflows/deploy.yml"))
            .expect("the workflow exists");
    serde_yaml::from_str(&text).expect("the workflow is YAML")
}

/// Every `run:` of a job, in order, with the step's name.
fn runs(job: &Value) -> Vec<(String, String)> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| {
            Some((
                step["name"].as_str().unwrap_or_default().to_owned(),
                step["run"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn the_workflow_is_valid_against_githubs_schema() {
    let output = std::process::Command::new(aipm_tests::venv_bin("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(aipm_tests::repo_root().join(".github/workflows/deploy.yml"))
        .output()
        .expect("check-jsonschema is in .venv (scripts/bootstrap.sh)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_push_is_tested_and_only_develop_and_main_deploy_then_smoke_check() {
    let workflow = workflow();
    assert!(
        workflow["on"]["push"].is_null(),
        "every branch's push runs the tests"
    );
    assert_eq!(workflow["permissions"], json!({"contents": "read"}));

    let test = &workflow["jobs"]["test"];
    assert_eq!(test["env"]["CI"], "true");
    let test_runs = runs(test);
    assert_eq!(
        test_runs.last().map(|(_, run)| run.trim()),
        Some(".ci/run"),
        "the test job runs the README's test command"
    );

    let deploy = &workflow["jobs"]["deploy"];
    assert_eq!(
        deploy["needs"], "test",
        "nothing deploys before the tests pass"
    );
    let condition = deploy["if"].as_str().unwrap();
    assert!(condition.contains("refs/heads/develop") && condition.contains("refs/heads/main"));
    assert_eq!(
        deploy["permissions"]["id-token"], "write",
        "OIDC, no stored keys"
    );
    assert_eq!(
        deploy["env"]["STAGE"],
        "${{ github.ref == 'refs/heads/main' && 'prod' || 'dev' }}"
    );
    assert_eq!(deploy["environment"], deploy["env"]["STAGE"]);
    let credentials = deploy["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|uses| uses.starts_with("aws-actions/configure-aws-credentials@"))
        })
        .expect("credentials come from configure-aws-credentials");
    assert_eq!(
        credentials["with"]["role-to-assume"],
        "${{ vars.AIPM_DEPLOY_ROLE_ARN }}"
    );
    assert!(credentials["with"]["aws-access-key-id"].is_null());

    let deploy_runs = runs(deploy);
    let position = |needle: &str| {
        deploy_runs
            .iter()
            .position(|(_, run)| run.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
    };
    let (build, ship, smoke) = (
        position("sam build"),
        position("sam deploy"),
        position("scripts/smoke"),
    );
    assert!(build < ship && ship < smoke, "build, deploy, then smoke");
    let deploying = &deploy_runs[ship].1;
    assert!(
        deploying.contains("--config-env \"ci-$STAGE\""),
        "{deploying}"
    );
    assert!(
        deploying.contains("--role-arn"),
        "CloudFormation deploys with its own role"
    );
    let smoking = &deploy_runs[smoke].1;
    assert!(smoking.contains("set -o pipefail"), "{smoking}");
    assert!(
        smoking.contains("::error"),
        "a failed smoke check is announced"
    );
    assert!(
        smoking.contains("exit 1"),
        "a failed smoke check fails the run"
    );
    assert!(
        smoking.contains("::add-mask::"),
        "the token stays out of the log"
    );

    let samconfig: toml::Table = toml::from_str(
        &std::fs::read_to_string(aipm_tests::repo_root().join("samconfig.toml")).unwrap(),
    )
    .unwrap();
    for stage in ["dev", "prod"] {
        let ci = &samconfig[&format!("ci-{stage}")]["deploy"]["parameters"];
        assert_eq!(
            ci["stack_name"].as_str(),
            Some(format!("aipm-{stage}").as_str())
        );
        assert_eq!(ci["confirm_changeset"].as_bool(), Some(false));
        assert!(
            ci.get("resolve_s3").is_none(),
            "the bucket comes from the pipeline stack"
        );
        assert_eq!(
            ci["parameter_overrides"],
            samconfig[stage]["deploy"]["parameters"]["parameter_overrides"],
            "ci-{stage} deploys what {stage} deploys"
        );
    }
}

/// Every statement of a role's inline policies.
fn statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        item => vec![item.clone()],
    }
}

#[test]
fn the_deploy_role_trusts_only_this_repositorys_main_and_develop_and_has_no_wildcards() {
    let pipeline = aipm_tests::cloudformation("deploy/pipeline.yaml");
    let role = &pipeline["Resources"]["GitHubDeployRole"];
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Action"], "sts:AssumeRoleWithWebIdentity");
    let condition = &trust["Condition"]["StringEquals"];
    assert_eq!(
        condition["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        condition["token.actions.githubusercontent.com:sub"],
        json!([
            {"Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/main"},
            {"Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/develop"}
        ])
    );
    for statement in statements(role) {
        for action in as_list(&statement["Action"]) {
            assert!(!action.as_str().unwrap().contains('*'), "{statement}");
        }
        for resource in as_list(&statement["Resource"]) {
            assert_ne!(resource, json!("*"), "{statement}");
        }
        if statement["Action"] == "iam:PassRole" {
            assert_eq!(
                statement["Resource"],
                json!({"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]})
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["iam:PassedToService"],
                "cloudformation.amazonaws.com"
            );
        }
    }

    // CloudFormation's role: no wildcard action; every resource is the stages' by name, except
    // the few actions AWS cannot scope, each in a statement of its own that says so.
    let unscoped = [
        "NewQueueTriggersOnlyForTheStagesFunctions",
        "HttpApiLogDeliveryHasNoResourceScope",
        "NewUserPoolsOnlyTaggedForTheService",
    ];
    let execution = &pipeline["Resources"]["CloudFormationExecutionRole"];
    let execution_statements = statements(execution);
    assert!(execution_statements.len() >= 10);
    for statement in execution_statements {
        let sid = statement["Sid"]
            .as_str()
            .expect("every statement says what it is for");
        for action in as_list(&statement["Action"]) {
            assert!(!action.as_str().unwrap().contains('*'), "{sid}: {action}");
        }
        for resource in as_list(&statement["Resource"]) {
            if resource == json!("*") {
                assert!(unscoped.contains(&sid), "{sid} uses a bare * resource");
                continue;
            }
            let text = resource.to_string();
            assert!(
                text.contains("${Service}-")
                    || text.contains("ArtifactsBucket")
                    || text.contains("apigateway")
                    || text.contains("event-source-mapping")
                    || text.contains("userpool/")
                    || text.contains("CodeDeployDefault.Lambda"),
                "{sid}: {text} is not the stages' resource"
            );
        }
    }
    for sid in [
        "NewQueueTriggersOnlyForTheStagesFunctions",
        "NewUserPoolsOnlyTaggedForTheService",
    ] {
        let statement = statements(execution)
            .into_iter()
            .find(|statement| statement["Sid"] == sid)
            .unwrap();
        assert!(statement["Condition"].is_object(), "{sid} has a condition");
    }
}
