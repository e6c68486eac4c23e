//! Who is asking: the person behind a request, as the deployment's sign-in vouches for them.
//!
//! Deployed stages sign people in (API Gateway's JWT authorizer; only its part of the request
//! context is read) or run the single-person mode whose name says it is unsafe to share. The
//! local stack's stand-in for sign-in (pick a local person with a header) works only on the
//! stage `local`, which template.yaml cannot deploy.

use std::fmt;

use lambda_http::{Request, RequestExt};
use serde::Deserialize;

use crate::config::vars;

/// The header that names the local person a request comes from (local stack only).
pub const LOCAL_PERSON_HEADER: &str = "x-aipm-person";

/// The person everyone is on the single-person stage, and locally when no person is picked.
pub const SINGLE_PERSON: &str = "single-person";

/// The stages template.yaml can deploy (its `Stage` parameter's values); the local stand-in for
/// sign-in refuses to start on them, whatever the environment says.
pub const DEPLOYABLE_STAGES: [&str; 2] = ["dev", "prod"];

/// A person as a request identifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Cognito's `sub`: immutable, what memberships and records name.
    pub sub: String,
    /// For display only (a name, an email or the user name the token carries).
    pub name: Option<String>,
    /// In the deployment's admin group: admin in every project, audited.
    pub deployment_admin: bool,
    /// The verified email the sign-in carries, if any: an invitation addressed to another
    /// email is not theirs to accept.
    pub email: Option<String>,
}

/// One person of the local stack (scripts/local-people.json).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalPerson {
    pub sub: String,
    pub name: String,
    #[serde(default)]
    pub deployment_admin: bool,
    #[serde(default)]
    pub email: Option<String>,
}

/// How requests are tied to people on this stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMode {
    /// API Gateway's JWT authorizer verified the token; `admin_group` is the Cognito group of
    /// deployment admins.
    Jwt { admin_group: String },
    /// No sign-in: every request is the one person, a deployment admin. Never for a shared stage.
    SinglePersonUnsafe,
    /// The local stack: the person is picked by [`LOCAL_PERSON_HEADER`], the first one by default.
    LocalPeople(Vec<LocalPerson>),
    /// A consumer of records (the webhook): no request carries a person; it acts for the people
    /// its records name, through [`crate::authz::gate::Gate::act_for`].
    Records,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdentitySetting(pub String);

impl fmt::Display for InvalidIdentitySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidIdentitySetting {}

impl IdentityMode {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, InvalidIdentitySetting> {
        let value = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        match value(vars::AUTH_MODE).as_deref() {
            Some("jwt") => Ok(IdentityMode::Jwt {
                admin_group: value(vars::ADMIN_GROUP).unwrap_or_else(|| "aipm-admins".into()),
            }),
            Some("single-person-unsafe") => Ok(IdentityMode::SinglePersonUnsafe),
            Some("local-people") => {
                let stage = value(vars::STAGE).unwrap_or_default();
                if DEPLOYABLE_STAGES.contains(&stage.as_str()) {
                    return Err(InvalidIdentitySetting(format!(
                        "{}=local-people is the local stack's stand-in for sign-in and never works \
                         on a deployable stage ({}={stage})",
                        vars::AUTH_MODE,
                        vars::STAGE
                    )));
                }
                let path = value(vars::LOCAL_PEOPLE_FILE).unwrap_or_default();
                let people = read_local_people(&path)?;
                Ok(IdentityMode::LocalPeople(people))
            }
            other => Err(InvalidIdentitySetting(format!(
                "{} is {:?}; expected jwt, single-person-unsafe or (locally) local-people",
                vars::AUTH_MODE,
                other.unwrap_or("")
            ))),
        }
    }

    /// The person behind the request, or None when nobody signed in.
    pub fn caller(&self, request: &Request) -> Option<Caller> {
        match self {
            IdentityMode::Jwt { admin_group } => {
                let claims = jwt_claims(request)?;
                let sub = claims.get("sub").filter(|sub| !sub.is_empty())?.clone();
                let name = ["name", "email", "username", "cognito:username"]
                    .iter()
                    .find_map(|claim| claims.get(*claim).filter(|v| !v.is_empty()).cloned());
                let deployment_admin = claims
                    .get("cognito:groups")
                    .is_some_and(|groups| groups_claim(groups).any(|group| group == admin_group));
                // Cognito says whether the address was verified; an unverified one proves nothing.
                let email = claims
                    .get("email")
                    .filter(|_| claims.get("email_verified").is_some_and(|v| v == "true"))
                    .cloned();
                Some(Caller {
                    sub,
                    name,
                    deployment_admin,
                    email,
                })
            }
            IdentityMode::Records => None,
            IdentityMode::SinglePersonUnsafe => Some(Caller {
                sub: SINGLE_PERSON.to_owned(),
                name: Some("Single person".to_owned()),
                deployment_admin: true,
                email: None,
            }),
            IdentityMode::LocalPeople(people) => {
                let picked = request
                    .headers()
                    .get(LOCAL_PERSON_HEADER)
                    .and_then(|value| value.to_str().ok());
                let person = match picked {
                    Some(sub) => people.iter().find(|person| person.sub == sub)?,
                    None => people.first()?,
                };
                Some(Caller {
                    sub: person.sub.clone(),
                    name: Some(person.name.clone()),
                    deployment_admin: person.deployment_admin,
                    email: person.email.clone(),
                })
            }
        }
    }
}

/// The local people from their file (scripts/local-people.json): at least one.
pub fn read_local_people(path: &str) -> Result<Vec<LocalPerson>, InvalidIdentitySetting> {
    let problem = |what: String| {
        InvalidIdentitySetting(format!("{} ({path}): {what}", vars::LOCAL_PEOPLE_FILE))
    };
    let text = std::fs::read_to_string(path).map_err(|error| problem(error.to_string()))?;
    let people: Vec<LocalPerson> =
        serde_json::from_str(&text).map_err(|error| problem(error.to_string()))?;
    if people.is_empty() {
        return Err(problem("it names nobody".to_owned()));
    }
    Ok(people)
}

fn jwt_claims(request: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match request.request_context_ref()? {
        lambda_http::request::RequestContext::ApiGatewayV2(context) => {
            Some(&context.authorizer.as_ref()?.jwt.as_ref()?.claims)
        }
        _ => None,
    }
}

/// API Gateway hands a token's list claims over as one string, `[admins writers]`; a plain
/// string or JSON array text is read the same way.
fn groups_claim(text: &str) -> impl Iterator<Item = &str> {
    text.trim_matches(|c| c == '[' || c == ']')
        .split([' ', ','])
        .map(|group| group.trim_matches('"'))
        .filter(|group| !group.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{authorized_with_claims, request};
    use lambda_http::http::Method;

    fn local() -> IdentityMode {
        IdentityMode::LocalPeople(vec![
            LocalPerson {
                sub: "local-admin".into(),
                name: "Ada".into(),
                deployment_admin: false,
                email: None,
            },
            LocalPerson {
                sub: "local-operator".into(),
                name: "Olu".into(),
                deployment_admin: true,
                email: None,
            },
        ])
    }

    #[test]
    fn the_local_stand_in_needs_the_local_stage() {
        let file = std::env::temp_dir().join(format!("aipm-people-{}.json", std::process::id()));
        std::fs::write(&file, r#"[{"sub":"a","name":"A","role":"admin"}]"#).unwrap();
        let path = file.display().to_string();
        let env = |stage: &'static str| {
            let path = path.clone();
            move |name: &str| match name {
                vars::AUTH_MODE => Some("local-people".to_owned()),
                vars::STAGE => Some(stage.to_owned()),
                vars::LOCAL_PEOPLE_FILE => Some(path.clone()),
                _ => None,
            }
        };
        assert!(IdentityMode::from_lookup(env("local")).is_ok());
        let refused = IdentityMode::from_lookup(env("dev")).unwrap_err();
        assert!(
            refused.0.contains("never works on a deployable stage"),
            "{refused}"
        );
        assert!(IdentityMode::from_lookup(env("prod")).is_err());
        assert!(IdentityMode::from_lookup(env("fuzz")).is_ok());
        std::fs::remove_file(&file).unwrap();
        let unreadable = IdentityMode::from_lookup(env("local")).unwrap_err();
        assert!(
            unreadable.0.contains("AIPM_LOCAL_PEOPLE_FILE"),
            "{unreadable}"
        );
        let unknown =
            IdentityMode::from_lookup(|name| (name == vars::AUTH_MODE).then(|| "none".to_owned()));
        assert!(unknown.is_err());
    }

    #[test]
    fn a_local_request_names_its_person_and_defaults_to_the_first() {
        let mode = local();
        let plain = request(Method::GET, "/stories", "");
        assert_eq!(mode.caller(&plain).unwrap().sub, "local-admin");
        let mut picked = request(Method::GET, "/stories", "");
        picked
            .headers_mut()
            .insert(LOCAL_PERSON_HEADER, "local-operator".parse().unwrap());
        let operator = mode.caller(&picked).unwrap();
        assert!(operator.deployment_admin);
        let mut stranger = request(Method::GET, "/stories", "");
        stranger
            .headers_mut()
            .insert(LOCAL_PERSON_HEADER, "nobody".parse().unwrap());
        assert_eq!(mode.caller(&stranger), None);
    }

    #[test]
    fn a_token_in_the_admin_group_is_a_deployment_admin_and_headers_count_for_nothing() {
        let mode = IdentityMode::Jwt {
            admin_group: "aipm-admins".into(),
        };
        let mut admin = authorized_with_claims(
            request(Method::GET, "/stories", ""),
            &[("sub", "u-1"), ("cognito:groups", "[writers aipm-admins]")],
        );
        admin
            .headers_mut()
            .insert(LOCAL_PERSON_HEADER, "local-admin".parse().unwrap());
        let caller = mode.caller(&admin).unwrap();
        assert_eq!(caller.sub, "u-1");
        assert!(caller.deployment_admin);
        let member = authorized_with_claims(
            request(Method::GET, "/stories", ""),
            &[("sub", "u-2"), ("cognito:groups", "[aipm-admins-old]")],
        );
        assert!(!mode.caller(&member).unwrap().deployment_admin);
        assert_eq!(mode.caller(&request(Method::GET, "/", "")), None);
    }
}
