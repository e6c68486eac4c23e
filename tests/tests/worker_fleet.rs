//! The worker fleet in template.yaml, offline: its resources exist only with a VPC, the launch
//! template keeps IMDSv2 and no key pair (cfn-lint's custom rules catch a template that does
//! not), the group scales on the code-task queue per instance and drains through lifecycle
//! hooks, and the user data, rendered from the template, installs a good artifact in a scratch
//! root with the system commands stubbed and refuses a tampered one.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use aipm_tests::{cloudformation, repo_root, temp_dir, venv_bin};
use serde_json::json;

const FLEET: [&str; 4] = [
    "WorkerSecurityGroup",
    "WorkerLaunchTemplate",
    "WorkerGroup",
    "WorkerBacklogPolicy",
];

#[test]
fn the_fleet_exists_only_with_a_vpc_and_keeps_imdsv2_no_key_and_https_out_only() {
    let template = cloudformation("template.yaml");
    assert_eq!(
        template["Conditions"]["HasWorkerFleet"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "WorkerVpcId"}, ""]}]})
    );
    for name in FLEET {
        assert_eq!(
            template["Resources"][name]["Condition"], "HasWorkerFleet",
            "{name}"
        );
    }
    let data = &template["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"];
    assert_eq!(data["MetadataOptions"]["HttpTokens"], "required");
    assert_eq!(data["MetadataOptions"]["HttpPutResponseHopLimit"], 1);
    assert!(data["KeyName"].is_null(), "no key pair");
    assert_eq!(data["ImageId"], json!({"Ref": "WorkerAmiId"}));
    assert!(
        template["Parameters"]["WorkerAmiId"]["Type"]
            .as_str()
            .unwrap()
            .starts_with("AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>")
    );
    let egress = &template["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupEgress"];
    assert_eq!(egress.as_array().unwrap().len(), 1);
    assert_eq!(egress[0]["FromPort"], 443);
    assert_eq!(egress[0]["ToPort"], 443);
    assert!(
        template["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupIngress"]
            .is_null()
    );
}

#[test]
fn the_group_scales_on_tasks_per_instance_and_drains_through_lifecycle_hooks() {
    let template = cloudformation("template.yaml");
    let group = &template["Resources"]["WorkerGroup"]["Properties"];
    assert_eq!(group["MinSize"], "0");
    assert!(group["DesiredCapacity"].is_null(), "the policy owns it");
    let hooks = group["LifecycleHookSpecificationList"].as_array().unwrap();
    let hook = |name: &str| {
        hooks
            .iter()
            .find(|hook| hook["LifecycleHookName"] == name)
            .unwrap_or_else(|| panic!("no {name} hook"))
    };
    assert_eq!(
        hook("installed")["LifecycleTransition"],
        "autoscaling:EC2_INSTANCE_LAUNCHING"
    );
    assert_eq!(hook("installed")["DefaultResult"], "ABANDON");
    assert_eq!(
        hook("drain")["LifecycleTransition"],
        "autoscaling:EC2_INSTANCE_TERMINATING"
    );
    assert_eq!(hook("drain")["DefaultResult"], "CONTINUE");

    let policy = &template["Resources"]["WorkerBacklogPolicy"]["Properties"];
    let tracking = &policy["TargetTrackingConfiguration"];
    assert_eq!(tracking["TargetValue"], json!({"Ref": "WorkerConcurrency"}));
    let metrics = tracking["CustomizedMetricSpecification"]["Metrics"]
        .as_array()
        .unwrap();
    let metric = |id: &str| {
        metrics
            .iter()
            .find(|metric| metric["Id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    for (id, name) in [
        ("waiting", "ApproximateNumberOfMessagesVisible"),
        ("running", "ApproximateNumberOfMessagesNotVisible"),
    ] {
        let stat = &metric(id)["MetricStat"]["Metric"];
        assert_eq!(stat["Namespace"], "AWS/SQS");
        assert_eq!(stat["MetricName"], name);
        assert_eq!(
            stat["Dimensions"][0]["Value"],
            json!({"Fn::GetAtt": ["CodeTasksQueue", "QueueName"]})
        );
    }
    assert_eq!(
        metric("inservice")["MetricStat"]["Metric"]["MetricName"],
        "GroupInServiceInstances"
    );
    assert_eq!(
        metric("perinstance")["Expression"],
        "IF(inservice > 0, (waiting + running) / inservice, waiting + running)"
    );
    assert_eq!(metric("perinstance")["ReturnData"], true);
}

fn cfn_lint(template: &Path) -> std::process::Output {
    Command::new(venv_bin("cfn-lint"))
        .arg("-z")
        .arg(repo_root().join("deploy/cfn-rules.txt"))
        .arg(template)
        .output()
        .expect("cfn-lint is in .venv")
}

#[test]
fn cfn_lint_custom_rules_refuse_imdsv1_and_key_pairs() {
    let good = cfn_lint(&repo_root().join("template.yaml"));
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let bad = text
        .replace(
            "          HttpTokens: required",
            "          HttpTokens: optional",
        )
        .replace(
            "        InstanceInitiatedShutdownBehavior: terminate",
            "        InstanceInitiatedShutdownBehavior: terminate\n        KeyName: operators",
        );
    assert_ne!(bad, text);
    let scratch = temp_dir("fleet-lint");
    let bad_template = scratch.join("template.yaml");
    std::fs::write(&bad_template, bad).unwrap();
    let refused = cfn_lint(&bad_template);
    let report = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{report}");
    assert!(report.contains("must require IMDSv2"), "{report}");
    assert!(report.contains("no SSH key pair"), "{report}");
}

/// Writes a stand-in for the system command `name` into `bin`: it logs its arguments to `log`,
/// one line per call, then runs `body`.
fn stub(bin: &Path, log: &Path, name: &str, body: &str) {
    let path = bin.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The user data as an instance receives it: the template's `!Sub` with these values.
fn rendered_user_data(values: &BTreeMap<&str, String>) -> String {
    let template = cloudformation("template.yaml");
    let text = template["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
        ["UserData"]["Fn::Base64"]["Fn::Sub"]
        .as_str()
        .expect("the user data is one !Sub string")
        .to_owned();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        let name = &rest[start + 2..end];
        let value = values.get(name).unwrap_or_else(|| {
            panic!("the user data names ${{{name}}}, which the test does not know")
        });
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A folder of stand-ins for the system commands the user data and install.sh run: each logs
/// its arguments to `calls.log`; `aws s3 cp` copies the artifact, `curl` answers as IMDS.
fn stubs(scratch: &Path, artifact: &Path) -> PathBuf {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = scratch.join("calls.log");
    let write = |name: &str, body: &str| stub(&bin, &log, name, body);
    write(
        "curl",
        "case \"$*\" in *api/token*) echo token ;; *instance-id*) echo i-0123456789abcdef0 ;; esac",
    );
    write(
        "aws",
        &format!(
            "case \"$1 $2\" in\n  's3 cp') cp '{}' \"$6\" ;;\n  'secretsmanager get-secret-value') echo sk-from-secrets-manager ;;\nesac",
            artifact.display()
        ),
    );
    for name in ["dnf", "useradd", "npm", "systemctl"] {
        write(name, "exit 0");
    }
    // Nobody exists yet: install.sh creates both accounts.
    write("id", "exit 1");
    bin
}

struct Installed {
    status: std::process::ExitStatus,
    output: String,
    calls: String,
    root: PathBuf,
}

fn install(label: &str, artifact_sha256: &str, tamper: bool) -> Installed {
    let scratch = temp_dir(label);
    let binary = scratch.join("aipm-worker-build");
    std::fs::write(&binary, "#!/bin/sh\necho the worker\n").unwrap();
    let artifact = scratch.join("aipm-worker-aarch64.tar.gz");
    let packed = Command::new(repo_root().join("deploy/pack-worker.sh"))
        .arg(&binary)
        .arg(&artifact)
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    let sha256 = String::from_utf8_lossy(&packed.stdout).trim().to_owned();
    if tamper {
        let mut bytes = std::fs::read(&artifact).unwrap();
        bytes.push(0);
        std::fs::write(&artifact, bytes).unwrap();
    }
    let values: BTreeMap<&str, String> = [
        ("AWS::Region", "eu-west-1"),
        ("Service", "aipm"),
        ("Stage", "dev"),
        ("WorkerArtifactBucket", "aipm-artifacts"),
        (
            "WorkerArtifactKey",
            "worker/0123456789ab/aipm-worker-aarch64.tar.gz",
        ),
        ("StoriesTable", "aipm-dev-stories"),
        ("AcceptanceTestsTable", "aipm-dev-acceptance-tests"),
        ("CodeTasksTable", "aipm-dev-code-tasks"),
        (
            "CodeTasksQueue",
            "https://sqs.eu-west-1.amazonaws.com/1/aipm-dev-code-tasks",
        ),
        ("TriggersTable", "aipm-dev-triggers"),
        ("EventBus", "aipm-dev-events"),
        ("GitHubRepository", "acme/shop"),
        ("GitHubApiUrl", "https://api.github.com"),
        ("GitHubDefaultBranch", "main"),
        (
            "GitHubTokenSecretArn",
            "arn:aws:secretsmanager:eu-west-1:1:secret:token",
        ),
        // The personal token, as the template's defaults leave it.
        ("GitHubAppId", ""),
        ("GitHubAppKeySecretArn", ""),
        ("WorkerConcurrency", "1"),
        ("WorkerAgentPreset", "claude-code"),
        (
            "WorkerAgentKeySecretArn",
            "arn:aws:secretsmanager:eu-west-1:1:secret:agent",
        ),
        ("WorkerAgentKeyVariable", "ANTHROPIC_API_KEY"),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .chain([(
        "WorkerArtifactSha256",
        if artifact_sha256.is_empty() {
            sha256
        } else {
            artifact_sha256.to_owned()
        },
    )])
    .collect();
    let user_data = scratch.join("user-data.sh");
    std::fs::write(&user_data, rendered_user_data(&values)).unwrap();
    let bin = stubs(&scratch, &artifact);
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let output = Command::new("bash")
        .arg(&user_data)
        .env("ROOT", &root)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    Installed {
        status: output.status,
        output: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
        calls: std::fs::read_to_string(scratch.join("calls.log")).unwrap_or_default(),
        root,
    }
}

#[test]
fn the_user_data_installs_a_verified_artifact_and_completes_the_launch() {
    let installed = install("fleet-good", "", false);
    assert!(
        installed.status.success(),
        "{}\n{}",
        installed.output,
        installed.calls
    );
    let calls = &installed.calls;
    assert!(
        calls.contains("aws s3 cp --region eu-west-1 s3://aipm-artifacts/worker/0123456789ab/aipm-worker-aarch64.tar.gz"),
        "{calls}"
    );
    assert!(calls.contains("useradd --system --user-group --home-dir /var/lib/aipm-worker"));
    assert!(calls.contains("useradd --system --user-group --home-dir /var/lib/aipm-agent"));
    assert!(calls.contains("npm install --global --no-fund --no-audit @anthropic-ai/claude-code"));
    assert!(calls.contains("systemctl enable --now aipm-agent-firewall.service"));
    assert!(calls.contains("systemctl enable --now aipm-worker.service"));
    assert!(calls.contains("systemctl enable --now aipm-drain.service"));
    let completed = calls
        .lines()
        .find(|line| line.contains("complete-lifecycle-action"))
        .expect("the launch is completed");
    assert!(
        completed.contains("--lifecycle-hook-name installed"),
        "{completed}"
    );
    assert!(
        completed.ends_with("--lifecycle-action-result CONTINUE"),
        "{completed}"
    );

    let root = &installed.root;
    let binary = root.join("usr/local/bin/aipm-worker");
    assert_eq!(
        std::fs::metadata(&binary).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read_to_string(&binary).unwrap(),
        "#!/bin/sh\necho the worker\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/systemd/system/aipm-worker.service")).unwrap(),
        std::fs::read_to_string(repo_root().join("deploy/aipm-worker.service")).unwrap()
    );
    assert!(
        root.join("etc/systemd/system/aipm-agent-firewall.service")
            .exists()
    );
    let settings_file = root.join("etc/aipm/worker.env");
    assert_eq!(
        std::fs::metadata(&settings_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "the settings hold the agent's key: root's alone"
    );
    let settings = std::fs::read_to_string(&settings_file).unwrap();
    for line in [
        "AIPM_STAGE=dev",
        "AIPM_CODE_TASKS_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/1/aipm-dev-code-tasks",
        "AIPM_AGENT_PRESET=claude-code",
        "AIPM_AGENT_USER=aipm-agent",
        "ANTHROPIC_API_KEY=sk-from-secrets-manager",
    ] {
        assert!(
            settings.lines().any(|found| found == line),
            "{line} in\n{settings}"
        );
    }
    assert!(!settings.contains("AIPM_AGENT_KEY_SECRET_ARN"));
    assert!(
        !installed.output.contains("sk-from-secrets-manager"),
        "the key never reaches the log"
    );
}

#[test]
fn a_tampered_artifact_fails_the_launch_before_anything_is_installed() {
    let installed = install("fleet-tampered", "", true);
    assert!(!installed.status.success(), "{}", installed.output);
    assert!(
        installed.output.contains("FAILED"),
        "sha256sum says why: {}",
        installed.output
    );
    let abandoned = installed
        .calls
        .lines()
        .find(|line| line.contains("complete-lifecycle-action"))
        .expect("the launch is abandoned at once");
    assert!(
        abandoned.ends_with("--lifecycle-action-result ABANDON"),
        "{abandoned}"
    );
    assert!(!installed.calls.contains("useradd"), "{}", installed.calls);
    assert!(!installed.root.join("usr/local/bin/aipm-worker").exists());

    // A checksum that is not the artifact's, on an untouched artifact, is refused the same way.
    let wrong = install("fleet-wrong-sum", &"0".repeat(64), false);
    assert!(!wrong.status.success(), "{}", wrong.output);
    assert!(wrong.calls.contains("--lifecycle-action-result ABANDON"));
}

/// aipm-drain with the instance metadata, systemctl and the AWS CLI stubbed: nothing while the
/// instance is in service; once it is leaving, SIGUSR1 to the worker alone, heartbeats while the
/// worker runs, and the drain hook completed only after it stopped.
#[test]
fn aipm_drain_signals_the_worker_holds_the_hook_and_completes_it_after_the_worker_stops() {
    let scratch = temp_dir("drain");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = scratch.join("calls.log");
    let counter = |name: &str| scratch.join(format!("{name}.count"));
    let write = |name: &str, body: String| stub(&bin, &log, name, &body);
    // The metadata service: a token; in service for the first three polls, then Terminated.
    write(
        "curl",
        format!(
            "case \"$*\" in\n  *api/token*) echo token ;;\n  *instance-id*) echo i-0abc ;;\n  *target-lifecycle-state*)\n    n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{0}'\n    if [ $n -le 3 ]; then echo InService; else echo Terminated; fi ;;\nesac",
            counter("state").display()
        ),
    );
    // The worker runs for two more checks after the signal, then has stopped.
    write(
        "systemctl",
        format!(
            "case \"$1\" in\n  is-active)\n    n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{0}'\n    [ $n -le 2 ] ;;\n  *) exit 0 ;;\nesac",
            counter("active").display()
        ),
    );
    write("aws", "exit 0".into());
    let output = Command::new(repo_root().join("deploy/aipm-drain"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("AIPM_AUTOSCALING_GROUP", "aipm-dev-worker")
        .env("AWS_REGION", "eu-west-1")
        .env("AIPM_DRAIN_POLL_SECONDS", "0.05")
        .env("AIPM_DRAIN_HEARTBEAT_SECONDS", "0.05")
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(output.status.success(), "{output:?}\n{calls}");
    let lines: Vec<&str> = calls.lines().collect();
    let position = |needle: &str| {
        lines
            .iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{calls}"))
    };
    let signalled =
        position("systemctl kill --kill-whom=main --signal=SIGUSR1 aipm-worker.service");
    assert!(
        lines[..signalled]
            .iter()
            .filter(|line| line.contains("target-lifecycle-state"))
            .count()
            == 4,
        "it waited while the instance was in service:\n{calls}"
    );
    let heartbeats = lines
        .iter()
        .filter(|line| line.contains("record-lifecycle-action-heartbeat"))
        .count();
    assert_eq!(
        heartbeats, 2,
        "one per check while the worker ran:\n{calls}"
    );
    let completed = position("complete-lifecycle-action");
    assert!(completed > signalled);
    assert_eq!(completed, lines.len() - 1, "the hook is completed last");
    for part in [
        "--auto-scaling-group-name aipm-dev-worker",
        "--lifecycle-hook-name drain",
        "--instance-id i-0abc",
        "--lifecycle-action-result CONTINUE",
    ] {
        assert!(
            lines[completed].contains(part),
            "{part}: {}",
            lines[completed]
        );
    }
}

/// scripts/deploy-worker with cargo, the AWS CLI and SAM stubbed: the aarch64 build, the
/// immutable key named after the commit, the upload with its sha256, the stage's own
/// parameters plus the fleet's, the optional refresh; and an existing key holding another
/// build is never overwritten.
#[test]
fn deploy_worker_builds_uploads_once_under_the_commit_and_deploys_key_and_checksum() {
    let scratch = temp_dir("deploy-worker");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = scratch.join("calls.log");
    let uploaded = scratch.join("uploaded");
    let write = |name: &str, body: String| stub(&bin, &log, name, &body);
    write(
        "cargo",
        "mkdir -p \"$CARGO_TARGET_DIR/lambda/aipm-worker\"\nprintf 'aarch64 worker' > \"$CARGO_TARGET_DIR/lambda/aipm-worker/bootstrap\"".into(),
    );
    write(
        "aws",
        format!(
            "case \"$1 $2\" in\n  's3api head-object')\n    [ -f '{0}' ] || exit 255\n    case \"$*\" in *Metadata.sha256*) cat '{0}' ;; esac ;;\n  's3 cp') echo \"$6\" | sed 's/sha256=//' > '{0}' ;;\nesac",
            uploaded.display()
        ),
    );
    write("sam", "exit 0".into());
    let run = |extra: &[&str]| {
        Command::new(repo_root().join("scripts/deploy-worker"))
            .args([
                "--config-env",
                "dev",
                "--bucket",
                "aipm-artifacts",
                "--vpc",
                "vpc-1",
                "--subnets",
                "subnet-a,subnet-b",
                "--allow-dirty",
            ])
            .args(extra)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("CARGO_TARGET_DIR", &scratch)
            .output()
            .unwrap()
    };
    let shipped = run(&["--refresh"]);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(shipped.status.success(), "{shipped:?}\n{calls}");
    let commit = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(repo_root())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let key = format!("worker/{commit}/aipm-worker-aarch64.tar.gz");
    let sha256 = {
        use sha2::Digest;
        let bytes = std::fs::read(scratch.join("aipm-worker-aarch64.tar.gz")).unwrap();
        format!("{:x}", sha2::Sha256::digest(bytes))
    };
    assert!(
        calls.contains("cargo lambda build --release --arm64 --bin aipm-worker"),
        "{calls}"
    );
    assert!(
        calls.contains(&format!(
            "aws s3 cp {} s3://aipm-artifacts/{key} --metadata sha256={sha256}",
            scratch.join("aipm-worker-aarch64.tar.gz").display()
        )),
        "{calls}"
    );
    let deploy = calls
        .lines()
        .find(|line| line.starts_with("sam deploy"))
        .expect("sam deploy ran");
    let samconfig: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo_root().join("samconfig.toml")).unwrap())
            .unwrap();
    let dev_overrides = samconfig["dev"]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .unwrap();
    assert!(
        deploy.contains(dev_overrides),
        "the stage keeps its parameters: {deploy}"
    );
    for part in [
        "WorkerVpcId=vpc-1",
        "WorkerSubnetIds=subnet-a,subnet-b",
        "WorkerArtifactBucket=aipm-artifacts",
        &format!("WorkerArtifactKey={key}"),
        &format!("WorkerArtifactSha256={sha256}"),
    ] {
        assert!(deploy.contains(part), "{part} in {deploy}");
    }
    assert!(calls.contains(
        "aws autoscaling start-instance-refresh --auto-scaling-group-name aipm-dev-worker"
    ));

    // The key exists and holds another build: refused, nothing deployed.
    std::fs::write(&uploaded, "0".repeat(64)).unwrap();
    std::fs::remove_file(&log).unwrap();
    let refused = run(&[]);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not overwriting"));
    assert!(!calls.contains("sam deploy"), "{calls}");
    assert!(!calls.contains("s3 cp"), "{calls}");
}
