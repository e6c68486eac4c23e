//! The authorization policy: `policy/` validates in Cedar's strict mode, and the decision table
//! compiled into every function (`shared/src/authz/table.rs`) equals Cedar's own decisions over
//! every standing × action × project state. `AIPM_UPDATE_POLICY_TABLE=1` rewrites the table from
//! the policy when they differ.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;

use aipm::authz::{Action, Facts, Role, Standing, decide};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn schema() -> Schema {
    let (schema, warnings) = Schema::from_cedarschema_str(&read("policy/aipm.cedarschema"))
        .unwrap_or_else(|error| panic!("policy/aipm.cedarschema: {error:?}"));
    let warnings: Vec<String> = warnings.map(|warning| warning.to_string()).collect();
    assert!(warnings.is_empty(), "schema warnings: {warnings:?}");
    schema
}

fn policies() -> PolicySet {
    PolicySet::from_str(&read("policy/aipm.cedar"))
        .unwrap_or_else(|error| panic!("policy/aipm.cedar: {error:?}"))
}

fn uid(text: &str) -> EntityUid {
    EntityUid::from_str(text).unwrap_or_else(|error| panic!("{text}: {error:?}"))
}

/// Every policy's `@id`, sorted: the table names policies by their place in this list.
fn policy_ids(set: &PolicySet) -> Vec<String> {
    let mut ids: Vec<String> = set
        .policies()
        .map(|policy| {
            policy
                .annotation("id")
                .unwrap_or_else(|| panic!("a policy without @id: {policy}"))
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// One project (archived or not), its four nested role groups, the deployment's admin group
/// and one person standing towards it as `standing`.
fn entities(schema: &Schema, standing: Standing, archived: bool) -> Entities {
    let role = |name: &str| uid(&format!(r#"Aipm::Role::"p1#{name}""#));
    let deployment_admins = uid(r#"Aipm::Role::"deployment-admins""#);
    let ladder = ["viewer", "contributor", "maintainer", "admin"];
    let mut all = Vec::new();
    for (index, name) in ladder.iter().enumerate() {
        let parents: HashSet<EntityUid> = ladder
            .get(index.wrapping_sub(1))
            .filter(|_| index > 0)
            .map(|below| role(below))
            .into_iter()
            .collect();
        all.push(Entity::new_no_attrs(role(name), parents));
    }
    all.push(Entity::new_no_attrs(
        deployment_admins.clone(),
        HashSet::new(),
    ));
    let attrs = HashMap::from([
        (
            "archived".to_owned(),
            RestrictedExpression::new_bool(archived),
        ),
        (
            "viewers".to_owned(),
            RestrictedExpression::new_entity_uid(role("viewer")),
        ),
        (
            "contributors".to_owned(),
            RestrictedExpression::new_entity_uid(role("contributor")),
        ),
        (
            "maintainers".to_owned(),
            RestrictedExpression::new_entity_uid(role("maintainer")),
        ),
        (
            "admins".to_owned(),
            RestrictedExpression::new_entity_uid(role("admin")),
        ),
    ]);
    all.push(
        Entity::new(uid(r#"Aipm::Project::"p1""#), attrs, HashSet::new())
            .expect("a valid project entity"),
    );
    let groups: HashSet<EntityUid> = match standing {
        Standing::Outsider => HashSet::new(),
        Standing::Member(member) => HashSet::from([role(member.as_str())]),
        Standing::DeploymentAdmin => HashSet::from([deployment_admins]),
    };
    all.push(Entity::new_no_attrs(
        uid(r#"Aipm::Person::"someone""#),
        groups,
    ));
    Entities::from_entities(all, Some(schema)).expect("entities that fit the schema")
}

/// Cedar's decision encoded as the table encodes it: 0 default deny, +k permitted by policy k,
/// -k forbidden by policy k (1-based, in [`policy_ids`] order; the first of several).
fn cedar_cell(
    schema: &Schema,
    set: &PolicySet,
    ids: &[String],
    standing: Standing,
    action: Action,
    facts: Facts,
) -> i8 {
    let context = Context::from_pairs([(
        "ownsTask".to_owned(),
        RestrictedExpression::new_bool(facts.owns_task),
    )])
    .expect("a context");
    let request = Request::new(
        uid(r#"Aipm::Person::"someone""#),
        uid(&format!(r#"Aipm::Action::"{}""#, action.as_str())),
        uid(r#"Aipm::Project::"p1""#),
        context,
        Some(schema),
    )
    .unwrap_or_else(|error| panic!("{action:?}: {error:?}"));
    let answer =
        Authorizer::new().is_authorized(&request, set, &entities(schema, standing, facts.archived));
    assert!(
        answer.diagnostics().errors().next().is_none(),
        "evaluation errors for {standing:?} {action:?} {facts:?}"
    );
    let deciding = answer
        .diagnostics()
        .reason()
        .filter_map(|id| set.policy(id)?.annotation("id").map(str::to_owned))
        .filter_map(|id| ids.iter().position(|known| *known == id))
        .min();
    let Some(position) = deciding else {
        assert_eq!(answer.decision(), Decision::Deny);
        return 0;
    };
    let number = i8::try_from(position + 1).expect("fewer than 128 policies");
    match answer.decision() {
        Decision::Allow => number,
        Decision::Deny => -number,
    }
}

#[test]
fn the_policy_and_its_schema_validate_in_strict_mode() {
    let result = Validator::new(schema()).validate(&policies(), ValidationMode::Strict);
    let problems: Vec<String> = result
        .validation_errors()
        .map(|error| error.to_string())
        .chain(result.validation_warnings().map(|w| w.to_string()))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_action_of_the_code_is_an_action_of_the_schema_and_back() {
    let schema = schema();
    let declared: HashSet<String> = schema
        .actions()
        .map(|action| action.id().unescaped().to_owned())
        .collect();
    let ours: HashSet<String> = Action::ALL
        .iter()
        .map(|action| action.as_str().to_owned())
        .collect();
    assert_eq!(declared, ours);
}

#[test]
fn the_compiled_table_decides_exactly_as_cedar() {
    let schema = schema();
    let set = policies();
    let ids = policy_ids(&set);
    let mut rows = Vec::new();
    let mut differences = Vec::new();
    for action in Action::ALL {
        let mut row = Vec::new();
        for standing in Standing::ALL {
            let mut cells = Vec::new();
            for facts in Facts::ALL {
                let cell = cedar_cell(&schema, &set, &ids, standing, action, facts);
                let ours = decide(standing, action, facts);
                let expected_policy = match cell {
                    0 => "default-deny".to_owned(),
                    k => ids[usize::from(k.unsigned_abs()) - 1].clone(),
                };
                if ours.allowed != (cell > 0) || ours.policy != expected_policy {
                    differences.push(format!(
                        "{} as {} {facts:?}: table {ours:?}, Cedar allowed={} by {expected_policy}",
                        action.as_str(),
                        standing.as_str(),
                        cell > 0
                    ));
                }
                cells.push(cell.to_string());
            }
            row.push(format!("[{}]", cells.join(", ")));
        }
        rows.push(format!(
            "    // {}\n    [{}],\n",
            action.as_str(),
            row.join(", ")
        ));
    }
    let generated = format!(
        "//! The decisions of policy/aipm.cedar over every standing x action x project state,\n\
         //! generated by tests/tests/policy.rs (`AIPM_UPDATE_POLICY_TABLE=1`), which fails when this\n\
         //! file and Cedar disagree. Do not edit by hand.\n\n\
         /// The policies' `@id`s, sorted; a cell names one by its place here, from 1.\n\
         pub(super) const POLICIES: [&str; {}] = [\n{}];\n\n\
         /// [action][standing][archived * 2 + owns task]: 0 no policy permits (default deny),\n\
         /// +k permitted by `POLICIES[k - 1]`, -k forbidden by it.\n\
         #[rustfmt::skip]\n\
         pub(super) const DECISIONS: [[[i8; 4]; 6]; {}] = [\n{}];\n",
        ids.len(),
        ids.iter()
            .map(|id| format!("    \"{id}\",\n"))
            .collect::<String>(),
        Action::ALL.len(),
        rows.concat()
    );
    let path = repo_file("shared/src/authz/table.rs");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated && std::env::var_os("AIPM_UPDATE_POLICY_TABLE").is_some() {
        std::fs::write(&path, &generated).expect("cannot write the table");
        return;
    }
    assert!(
        differences.is_empty(),
        "the compiled table disagrees with Cedar (AIPM_UPDATE_POLICY_TABLE=1 cargo test -p \
         aipm-tests --test policy rewrites it):\n{}",
        differences.join("\n")
    );
    assert_eq!(
        current, generated,
        "shared/src/authz/table.rs is not what policy/ compiles to; AIPM_UPDATE_POLICY_TABLE=1 \
         cargo test -p aipm-tests --test policy rewrites it"
    );
}

#[test]
fn a_member_who_is_also_a_deployment_admin_is_decided_as_the_deployment_admin() {
    // The gate gives a deployment admin that standing whatever their membership; this pins the
    // ordering the table relies on: a deployment admin may do everything an admin may.
    for action in Action::ALL {
        for facts in Facts::ALL {
            let admin = decide(Standing::Member(Role::Admin), action, facts).allowed;
            let deployment = decide(Standing::DeploymentAdmin, action, facts).allowed;
            assert!(!admin || deployment, "{action:?} {facts:?}");
        }
    }
}
