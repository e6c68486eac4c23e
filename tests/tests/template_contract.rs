//! template.yaml read as data: the authorizer protects every route but /health (required in
//! prod), the routes are the operations of openapi.yaml and the local router, throttling and
//! CORS come from parameters, the alarms exist, and no IAM statement uses a wildcard.

use std::collections::BTreeSet;

use serde_json::{Value, json};

fn template() -> Value {
    aipm_tests::cloudformation("template.yaml")
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .collect()
}

/// The routes of one API (`HttpApi`, or `LiveApi` for the WebSocket routes).
fn routes_of<'a>(template: &'a Value, api: &str) -> Vec<(&'a String, &'a Value)> {
    resources_of_type(template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .filter(|(_, route)| route["Properties"]["ApiId"] == json!({ "Ref": api }))
        .collect()
}

/// The UI's public routes (the web function): the page and its files, not the data.
const UI_ROUTES: [&str; 3] = ["GET /", "GET /config.json", "GET /assets/{version}/{file}"];

#[test]
fn every_route_but_health_needs_a_jwt_when_auth_is_on_and_prod_cannot_turn_it_off() {
    let template = template();
    assert_eq!(
        template["Conditions"]["AuthEnabled"],
        json!({ "Fn::Equals": [{ "Ref": "AuthMode" }, "jwt"] })
    );
    assert_eq!(template["Parameters"]["AuthMode"]["Default"], "jwt");
    let prod = &template["Rules"]["ProdRequiresJwt"];
    assert_eq!(
        prod["RuleCondition"],
        json!({ "Fn::Equals": [{ "Ref": "Stage" }, "prod"] })
    );
    assert_eq!(
        prod["Assertions"][0]["Assert"],
        json!({ "Fn::Equals": [{ "Ref": "AuthMode" }, "jwt"] })
    );

    let authorizer = &template["Resources"]["JwtAuthorizer"];
    assert_eq!(authorizer["Type"], "AWS::ApiGatewayV2::Authorizer");
    assert_eq!(authorizer["Condition"], "AuthEnabled");
    let properties = &authorizer["Properties"];
    assert_eq!(properties["AuthorizerType"], "JWT");
    assert_eq!(properties["ApiId"], json!({ "Ref": "HttpApi" }));
    assert_eq!(
        properties["IdentitySource"],
        json!(["$request.header.Authorization"])
    );
    assert_eq!(
        properties["JwtConfiguration"],
        json!({
            "Issuer": { "Fn::If": ["CreateUserPool",
                { "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}" },
                { "Ref": "JwtIssuer" }] },
            "Audience": { "Fn::If": ["CreateUserPool", [{ "Ref": "UserPoolClient" }], { "Ref": "JwtAudience" }] }
        })
    );

    let routes = routes_of(&template, "HttpApi");
    // 45 operations, 17 of them also under /projects/{key} (the webhook among them).
    assert_eq!(routes.len(), 45 + 17 + UI_ROUTES.len());
    for (name, route) in routes {
        let properties = &route["Properties"];
        let key = properties["RouteKey"].as_str().unwrap_or_default();
        // GitHub's HMAC signature is the webhook's authentication; a CI job's OIDC or upload
        // token is the test upload's.
        let webhook = key.ends_with("/webhooks/github");
        let ci_upload = key == "POST /projects/{key}/test-results";
        if key == "GET /health" || webhook || ci_upload || UI_ROUTES.contains(&key) {
            assert_eq!(properties["AuthorizationType"], "NONE", "{name}");
            assert!(properties.get("AuthorizerId").is_none(), "{name}");
            continue;
        }
        assert_eq!(
            properties["AuthorizationType"],
            json!({ "Fn::If": ["AuthEnabled", "JWT", "NONE"] }),
            "{name}"
        );
        assert_eq!(
            properties["AuthorizerId"],
            json!({ "Fn::If": ["AuthEnabled", { "Ref": "JwtAuthorizer" }, { "Ref": "AWS::NoValue" }] }),
            "{name}"
        );
    }
}

#[test]
fn the_routes_are_the_operations_of_the_spec_and_of_the_local_router() {
    let template = template();
    let deployed: BTreeSet<String> = routes_of(&template, "HttpApi")
        .into_iter()
        .map(|(_, route)| route["Properties"]["RouteKey"].as_str().unwrap().to_owned())
        .collect();

    let spec = aipm_tests::openapi::spec().document();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    documented.extend(UI_ROUTES.iter().map(|route| (*route).to_owned()));
    assert_eq!(deployed, documented);

    let local: BTreeSet<String> = aipm_tests::router::routes()
        .iter()
        .map(|route| format!("{} {}", route.method, route.template))
        .collect();
    assert_eq!(deployed, local);
}

#[test]
fn throttling_and_cors_come_from_parameters() {
    let template = template();
    let stage = &template["Resources"]["HttpApiStage"]["Properties"];
    assert_eq!(
        stage["DefaultRouteSettings"]["ThrottlingRateLimit"],
        json!({ "Ref": "ThrottlingRateLimit" })
    );
    assert_eq!(
        stage["DefaultRouteSettings"]["ThrottlingBurstLimit"],
        json!({ "Ref": "ThrottlingBurstLimit" })
    );
    let cors = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    assert_eq!(cors["AllowOrigins"], json!({ "Ref": "CorsAllowedOrigins" }));
    assert!(
        cors["AllowHeaders"]
            .as_array()
            .unwrap()
            .contains(&json!("authorization"))
    );
}

#[test]
fn alarms_watch_5xx_rate_dead_letters_and_task_failures() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let text = serde_json::to_string(&alarms).unwrap();
    assert!(text.contains("\"MetricName\":\"5xx\""), "{text}");
    assert!(text.contains("CodeTasksDeadLetterQueue"), "{text}");
    let failures = &template["Resources"]["TaskFailuresAlarm"]["Properties"];
    assert_eq!(failures["Namespace"], aipm::telemetry::METRICS_NAMESPACE);
    assert_eq!(
        failures["MetricName"],
        aipm::telemetry::metric::TASKS_FAILED
    );
}

/// A value and, for a conditional one (`!If [c, a, b]`), what each branch holds; nothing for
/// `AWS::NoValue`.
fn either_branch(value: &Value) -> Vec<Value> {
    if let Some([_, yes, no]) = value["Fn::If"].as_array().map(Vec::as_slice) {
        return [either_branch(yes), either_branch(no)].concat();
    }
    if value == &json!({"Ref": "AWS::NoValue"}) {
        return Vec::new();
    }
    vec![value.clone()]
}

/// Every IAM statement of the functions and the worker: no wildcard action or resource, and
/// every resource is one of this stack's tables, indexes, queue or the token secret.
#[test]
fn iam_statements_have_no_wildcards_and_name_only_this_stacks_resources() {
    let template = template();
    let mut statements = Vec::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let policies = match resource["Type"].as_str().unwrap() {
            "AWS::Serverless::Function" => resource["Properties"]["Policies"].clone(),
            "AWS::IAM::Role" => json!(
                resource["Properties"]["Policies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(either_branch)
                    .map(|policy| policy["PolicyDocument"].clone())
                    .collect::<Vec<_>>()
            ),
            _ => continue,
        };
        let Some(policies) = policies.as_array() else {
            // Only the UI's function uses no AWS service at all, and so has no policy.
            assert_eq!(name, "WebFunction", "{name} has no policies");
            continue;
        };
        for policy in policies {
            for statement in policy["Statement"].as_array().unwrap() {
                for statement in either_branch(statement) {
                    statements.push((name.clone(), statement));
                }
            }
        }
    }
    assert!(statements.len() > 20, "{}", statements.len());
    let allowed = [
        "StoriesTable",
        "AcceptanceTestsTable",
        "CodeTasksTable",
        "CodeTasksQueue",
        "TriggersTable",
        "EventBus",
        "AiTable",
        "AiReviewQueue",
        "ProjectsTable",
        "DocumentsBucket",
        "LiveTable",
        "${LiveApi}/live/*/@connections/*",
        "WorkerArtifactBucket}/worker/*",
        "autoScalingGroupName/${Service}-${Stage}-worker",
    ];
    for (owner, statement) in statements {
        let actions = match &statement["Action"] {
            Value::Array(actions) => actions.clone(),
            action => vec![action.clone()],
        };
        for action in actions {
            let action = action.as_str().unwrap();
            assert!(!action.contains('*'), "{owner}: wildcard action {action}");
            assert!(action.contains(':'), "{owner}: {action}");
        }
        let resources = match &statement["Resource"] {
            Value::Array(resources) => resources.clone(),
            resource => vec![resource.clone()],
        };
        for resource in resources.iter().flat_map(either_branch) {
            let text = resource.to_string();
            assert!(!text.contains("\"*\""), "{owner}: wildcard resource");
            let scoped = allowed.iter().any(|name| text.contains(name))
                || resource == json!({ "Ref": "GitHubTokenSecretArn" })
                || resource == json!({ "Ref": "GitHubAppKeySecretArn" })
                || resource == json!({ "Ref": "GitHubWebhookSecretArn" })
                || resource == json!({ "Ref": "AiApiKeySecretArn" })
                || resource == json!({ "Ref": "WorkerAgentKeySecretArn" })
                || resource
                    == json!({ "Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${AiModel}" });
            assert!(
                scoped,
                "{owner}: {text} is not one of this stack's resources"
            );
        }
    }
}

/// The GitHub App's key is read only where tokens are minted (generate-code, retry,
/// request-changes, the webhook, the workers) or a link is checked or offered (create- and
/// update-project, list-repositories), and only when the stage uses the App; there the personal token is not readable at all.
#[test]
fn the_app_key_is_read_only_by_what_mints_tokens_and_only_in_app_mode() {
    let template = template();
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["GitHubAppId"]["Default"], "",
        "the personal token by default"
    );
    let switch = json!({"Fn::If": ["UseGitHubApp", {"Ref": "GitHubAppKeySecretArn"}, {"Ref": "GitHubTokenSecretArn"}]});
    let minting = [
        "GenerateCodeFunction",
        "RetryCodeTaskFunction",
        "RequestChangesFunction",
        "GitHubWebhookFunction",
        "WorkerRole",
        "UpdateProjectFunction",
        "CreateProjectFunction",
        "ListRepositoriesFunction",
    ];
    for (name, resource) in template["Resources"].as_object().unwrap() {
        let text = resource.to_string();
        let reads_key = text.contains("GitHubAppKeySecretArn");
        if !minting.contains(&name.as_str()) && name != "WorkerLaunchTemplate" {
            assert!(!reads_key, "{name} has no business with the App's key");
            continue;
        }
        assert!(reads_key, "{name} mints tokens");
        if name == "WorkerLaunchTemplate" || name == "WorkerRole" {
            continue;
        }
        let variables = &resource["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables["AIPM_GITHUB_APP_ID"],
            json!({"Ref": "GitHubAppId"}),
            "{name}"
        );
        assert_eq!(
            variables["AIPM_GITHUB_APP_KEY_SECRET_ARN"],
            json!({"Ref": "GitHubAppKeySecretArn"}),
            "{name}"
        );
        if [
            "UpdateProjectFunction",
            "CreateProjectFunction",
            "ListRepositoriesFunction",
        ]
        .contains(&name.as_str())
        {
            // It never needs the personal token: only the App's key, only with the App.
            assert!(!text.contains("GitHubTokenSecretArn"), "{name}");
            let only_with_the_app = json!({"Fn::If": [
                "UseGitHubApp",
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": {"Ref": "GitHubAppKeySecretArn"}},
                {"Ref": "AWS::NoValue"}
            ]});
            let statements = resource["Properties"]["Policies"][0]["Statement"]
                .as_array()
                .expect("statements");
            assert!(
                statements.contains(&only_with_the_app),
                "{name} reads the key only with the App: {text}"
            );
            continue;
        }
        assert!(
            text.contains(&switch.to_string()),
            "{name} reads one secret or the other"
        );
    }
    let role = template["Resources"]["WorkerRole"].to_string();
    assert!(
        role.contains(&switch.to_string()),
        "the workers read one secret or the other"
    );
    let user_data = template["Resources"]["WorkerLaunchTemplate"].to_string();
    for line in [
        "AIPM_GITHUB_APP_ID=${GitHubAppId}",
        "AIPM_GITHUB_APP_KEY_SECRET_ARN=${GitHubAppKeySecretArn}",
    ] {
        assert!(
            user_data.contains(line),
            "the workers' settings name {line}"
        );
    }
    let rule = &template["Rules"]["GitHubAppNeedsItsKey"];
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "GitHubAppKeySecretArn"}, ""]}]})
    );
}

/// The webhook is throttled on its own route, limited in concurrency, and answers before
/// GitHub's 10 s: its integration gives up at 8 s.
#[test]
fn the_webhook_is_throttled_bounded_and_answers_inside_githubs_limit() {
    let template = template();
    let stage = &template["Resources"]["HttpApiStage"]["Properties"];
    let route = &stage["RouteSettings"]["POST /webhooks/github"];
    assert_eq!(
        route["ThrottlingRateLimit"],
        json!({ "Ref": "WebhookThrottlingRateLimit" })
    );
    assert_eq!(
        route["ThrottlingBurstLimit"],
        json!({ "Ref": "WebhookThrottlingBurstLimit" })
    );
    let integration = &template["Resources"]["GitHubWebhookIntegration"]["Properties"];
    assert!(integration["TimeoutInMillis"].as_u64().unwrap() <= 8_000);
    let function = &template["Resources"]["GitHubWebhookFunction"]["Properties"];
    assert!(function["ReservedConcurrentExecutions"].as_u64().unwrap() > 0);
    assert_eq!(
        function["Environment"]["Variables"]["AIPM_GITHUB_WEBHOOK_SECRET_ARN"],
        json!({ "Ref": "GitHubWebhookSecretArn" })
    );
    let triggers = &template["Resources"]["TriggersTable"]["Properties"];
    assert_eq!(triggers["TimeToLiveSpecification"]["Enabled"], true);
}

/// AI is off unless a stage turns it on; the model id is a parameter; the AI functions answer
/// before API Gateway's 30 s and their spending is bounded.
#[test]
fn ai_is_off_by_default_configurable_and_bounded() {
    let template = template();
    let parameters = &template["Parameters"];
    assert_eq!(parameters["AiProvider"]["Default"], "off");
    assert_eq!(parameters["AiModel"]["Default"], "amazon.nova-lite-v1:0");
    for name in ["DraftStory", "DraftAcceptanceTest"] {
        let function = &template["Resources"][format!("{name}Function")]["Properties"];
        assert_eq!(
            function["Environment"]["Variables"]["AIPM_AI_PROVIDER"],
            json!({ "Ref": "AiProvider" }),
            "{name}"
        );
        assert_eq!(
            function["Environment"]["Variables"]["AIPM_AI_MODEL"],
            json!({ "Ref": "AiModel" })
        );
        assert!(function["ReservedConcurrentExecutions"].as_u64().unwrap() <= 5);
        assert!(function["Timeout"].as_u64().unwrap() < 30);
        let integration = &template["Resources"][format!("{name}Integration")]["Properties"];
        assert!(integration["TimeoutInMillis"].as_u64().unwrap() <= 29_000);
    }
    let reviewer = &template["Resources"]["InvestReviewerFunction"]["Properties"];
    let source = &reviewer["Events"]["Reviews"]["Properties"];
    assert_eq!(source["BatchSize"], 1);
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let queue = &template["Resources"]["AiReviewQueue"]["Properties"];
    assert!(
        queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * reviewer["Timeout"].as_u64().unwrap(),
        "the queue hides a message for six times the reviewer's timeout"
    );
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 3);
    let alarm = &template["Resources"]["AiFallbackRateAlarm"]["Properties"];
    assert_eq!(alarm["Threshold"], 20);
    assert_eq!(
        template["Resources"]["AiTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"],
        true
    );
}

/// Every function is deployed through its `live` alias, all at once in dev and as a 10 % canary
/// for 5 minutes in prod, rolled back by the API's 5xx rate and the function's own error alarm;
/// and everything that calls a function calls the alias, so that no caller bypasses a canary.
#[test]
fn every_function_deploys_through_its_alias_with_a_canary_in_prod() {
    let template = template();
    assert_eq!(template["Globals"]["Function"]["AutoPublishAlias"], "live");
    assert_eq!(
        template["Conditions"]["IsProd"],
        json!({"Fn::Equals": [{"Ref": "Stage"}, "prod"]})
    );
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 49);
    for (name, function) in &functions {
        let preference = &function["Properties"]["DeploymentPreference"];
        assert_eq!(
            preference["Type"],
            json!({"Fn::If": ["IsProd", "Canary10Percent5Minutes", "AllAtOnce"]}),
            "{name}"
        );
        let own_alarm = name.replace("Function", "ErrorsAlarm");
        assert_eq!(
            preference["Alarms"],
            json!([{"Ref": "Api5xxRateAlarm"}, {"Ref": own_alarm}]),
            "{name}"
        );
        let alarm = &template["Resources"][&own_alarm]["Properties"];
        assert_eq!(alarm["Namespace"], "AWS/Lambda", "{own_alarm}");
        assert_eq!(alarm["MetricName"], "Errors", "{own_alarm}");
        assert_eq!(
            alarm["Dimensions"][1]["Value"],
            json!({"Fn::Sub": format!("${{{name}}}:live")}),
            "{own_alarm} watches the alias"
        );
        assert_eq!(alarm["Period"], 60, "{own_alarm}");
    }
    let five_xx = &template["Resources"]["Api5xxRateAlarm"]["Properties"];
    for metric in five_xx["Metrics"].as_array().unwrap() {
        if let Some(period) = metric["MetricStat"]["Period"].as_u64() {
            assert_eq!(period, 60, "a 5-minute canary needs a per-minute alarm");
        }
    }
    let alias_of = |reference: &Value| -> String {
        let name = reference["Ref"].as_str().unwrap_or_default();
        assert!(
            name.ends_with("Function.Alias"),
            "{reference} is not an alias"
        );
        name.trim_end_matches(".Alias").to_owned()
    };
    let integrations = resources_of_type(&template, "AWS::ApiGatewayV2::Integration");
    // 46 of the HTTP API; the WebSocket API's one names the alias inside Lambda's invocation URI.
    assert_eq!(integrations.len(), 47);
    for (_, integration) in integrations {
        let uri = &integration["Properties"]["IntegrationUri"];
        let reference = uri["Fn::Join"][1][1]
            .as_object()
            .map_or(uri, |_| &uri["Fn::Join"][1][1]);
        let function = alias_of(reference);
        assert!(template["Resources"][&function].is_object(), "{function}");
    }
    let permissions = resources_of_type(&template, "AWS::Lambda::Permission");
    assert_eq!(permissions.len(), 49 + 17);
    for (_, permission) in permissions {
        alias_of(&permission["Properties"]["FunctionName"]);
    }
}

/// The stage's dashboard shows what an operator looks at first: requests and errors per
/// operation, latency of every API function, cold starts, code tasks, AI fallbacks, the queues'
/// depth and age, and the dead-letter queues.
#[test]
fn the_dashboard_covers_operations_tasks_and_queues() {
    let template = template();
    let dashboard = &template["Resources"]["Dashboard"];
    assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard");
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the body is one !Sub string");
    let parsed: Value = serde_json::from_str(body).expect("the body is JSON");
    let widgets = parsed["widgets"].as_array().unwrap();
    let text = body.to_owned();
    for status in ["2xx", "4xx", "5xx"] {
        assert!(
            text.contains(&format!(r#"Status=\"{status}\""#)),
            "{status} per operation"
        );
    }
    for needed in [
        "ColdStarts",
        "TasksSucceeded",
        "TasksFailed",
        "TasksTimedOut",
        "TaskDuration",
        "AiFallbacks",
        "ApproximateAgeOfOldestMessage",
        "${CodeTasksQueue.QueueName}",
        "${AiReviewQueue.QueueName}",
        "${CodeTasksDeadLetterQueue.QueueName}",
        "${AiReviewDeadLetterQueue.QueueName}",
        "GroupInServiceInstances",
    ] {
        assert!(text.contains(needed), "the dashboard shows {needed}");
    }
    for (name, _) in resources_of_type(&template, "AWS::Serverless::Function") {
        if name == "InvestReviewerFunction" {
            continue;
        }
        assert!(
            text.contains(&format!("\"${{{name}}}:live\"")),
            "latency of {name}'s live alias"
        );
    }
    // The grid is 24 wide and no two widgets overlap.
    let mut cells = std::collections::BTreeSet::new();
    for widget in widgets {
        let (x, y) = (widget["x"].as_u64().unwrap(), widget["y"].as_u64().unwrap());
        let (width, height) = (
            widget["width"].as_u64().unwrap(),
            widget["height"].as_u64().unwrap(),
        );
        assert!(x + width <= 24, "{widget}");
        for column in x..x + width {
            for row in y..y + height {
                assert!(
                    cells.insert((column, row)),
                    "widgets overlap at {column},{row}"
                );
            }
        }
    }
}

/// The local stack's stand-in for sign-in (a person picked by a header) cannot reach AWS: no
/// AuthMode value and no stage turns it on, no function's environment names local people, and
/// every function is told the stage's real mode.
#[test]
fn the_local_sign_in_stand_in_cannot_be_deployed() {
    let template = template();
    let modes: Vec<String> = template["Parameters"]["AuthMode"]["AllowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mode| mode.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(modes, ["jwt", "single-person-unsafe"]);
    let stages = template["Parameters"]["Stage"]["AllowedValues"].clone();
    let deployable: Vec<&str> = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| stage.as_str().unwrap())
        .collect();
    assert_eq!(deployable, aipm::authz::identity::DEPLOYABLE_STAGES);
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(globals["AIPM_AUTH_MODE"], json!({ "Ref": "AuthMode" }));
    assert_eq!(
        globals["AIPM_PROJECTS_TABLE"],
        json!({ "Ref": "ProjectsTable" })
    );
    let text = std::fs::read_to_string(aipm_tests::repo_root().join("template.yaml")).unwrap();
    assert!(!text.contains("AIPM_LOCAL_PEOPLE_FILE"));
    assert!(!text.contains("local-people"));
}

/// Every function that authorizes (builds the gate) may read the project and membership in one
/// BatchGetItem and write denials to the audit log, and nothing else of the projects table
/// beyond what its own operation needs.
#[test]
fn every_function_with_the_gate_may_read_memberships_and_write_the_audit_log() {
    let template = template();
    let root = aipm_tests::repo_root().join("functions");
    let mut gated = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let main = std::fs::read_to_string(root.join(&name).join("src/main.rs")).unwrap();
        if !main.contains("cold_start.gate()") {
            continue;
        }
        gated += 1;
        let logical: String = name
            .split('-')
            .map(|part| part[..1].to_uppercase() + &part[1..])
            .collect::<String>()
            + "Function";
        let policies = template["Resources"][&logical]["Properties"]["Policies"].to_string();
        for action in [
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ] {
            assert!(
                policies.contains(action) && policies.contains("ProjectsTable"),
                "{logical} lacks {action} on the projects table"
            );
        }
    }
    assert_eq!(gated, 42, "functions that authorize through the gate");
}

/// Reference files: a private, TLS-only bucket whose objects only the document functions and
/// delete-story reach, browsers from the API's own origin and the stage's CORS origins.
#[test]
fn the_documents_bucket_is_private_tls_only_and_reached_only_by_the_document_functions() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let bucket = &resources["DocumentsBucket"]["Properties"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][setting], true,
            "{setting}"
        );
    }
    let rule = &bucket["CorsConfiguration"]["CorsRules"][0];
    assert_eq!(rule["AllowedMethods"], json!(["GET", "PUT"]));
    assert!(
        rule["AllowedOrigins"]
            .to_string()
            .contains("CorsAllowedOrigins")
    );
    let policy = &resources["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"];
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    let mut reaching: Vec<&str> = resources
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::Serverless::Function")
        .filter(|(_, resource)| {
            resource["Properties"]["Policies"]
                .to_string()
                .contains("DocumentsBucket")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    reaching.sort();
    assert_eq!(
        reaching,
        [
            "CreateDocumentUploadFunction",
            "GetDocumentDownloadFunction",
            "PurgeTrashFunction",
            "SetStoryDocumentsFunction"
        ]
    );
}

/// The live channel: a WebSocket API whose three routes all go to live-socket (a ticket, not a
/// JWT, admits a socket: browsers cannot send headers with one), fed by the projects table's
/// stream filtered to new history entries, with failures retried from the failed record; its
/// table forgets by TTL, and only the broadcaster may post to sockets, of this API only.
#[test]
fn the_live_channel_is_ticketed_filtered_and_scoped() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(
        resources["LiveApi"]["Properties"]["ProtocolType"],
        "WEBSOCKET"
    );
    let routes: BTreeSet<String> = routes_of(&template, "LiveApi")
        .into_iter()
        .map(|(_, route)| {
            assert_eq!(route["Properties"]["AuthorizationType"], "NONE");
            assert_eq!(
                route["Properties"]["Target"],
                json!({ "Fn::Sub": "integrations/${LiveSocketIntegration}" })
            );
            route["Properties"]["RouteKey"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        routes,
        ["$connect", "$default", "$disconnect"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(
        resources["ProjectsTable"]["Properties"]["StreamSpecification"]["StreamViewType"],
        "NEW_IMAGE"
    );
    let events = &resources["LiveBroadcastFunction"]["Properties"]["Events"]["HistoryEntries"];
    assert_eq!(events["Type"], "DynamoDB");
    assert_eq!(
        events["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let pattern: Value = serde_json::from_str(
        events["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pattern["eventName"], json!(["INSERT"]));
    assert_eq!(
        pattern["dynamodb"]["Keys"]["pk"]["S"],
        json!([{ "prefix": aipm::history::PARTITION_PREFIX }])
    );
    assert_eq!(
        resources["LiveTable"]["Properties"]["TimeToLiveSpecification"],
        json!({ "AttributeName": "expiresAt", "Enabled": true })
    );
    let managers: Vec<&String> = resources_of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, function)| {
            function["Properties"]["Policies"]
                .to_string()
                .contains("execute-api:ManageConnections")
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(managers, vec!["LiveBroadcastFunction"]);
}
