//! Authorization: who may do what in a project, decided in one place for every operation.
//!
//! The policy is Cedar text in `policy/` (schema and policies). Cedar itself is not linked into
//! the functions: it would more than double every binary (docs/PERFORMANCE.md, "Authorization").
//! Instead its decisions over every standing × action × project state are compiled into
//! [`table`], which `tests/tests/policy.rs` proves equal to Cedar's, so the policy files stay the
//! one source of truth. [`gate::Gate`] is the one place handlers call.

pub mod gate;
pub mod identity;
mod table;

use serde::{Deserialize, Serialize};

/// A member's role in one project, on GitHub's and GitLab's ladder: each includes the ones below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Viewer,
    Contributor,
    Maintainer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Viewer,
        Role::Contributor,
        Role::Maintainer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Contributor => "contributor",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// Where a person stands towards one project when a decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// Not a member: the project is invisible to them.
    Outsider,
    Member(Role),
    /// In the deployment's admin group (Cognito): admin everywhere, and audited for it.
    DeploymentAdmin,
}

impl Standing {
    pub const ALL: [Standing; 6] = [
        Standing::Outsider,
        Standing::Member(Role::Viewer),
        Standing::Member(Role::Contributor),
        Standing::Member(Role::Maintainer),
        Standing::Member(Role::Admin),
        Standing::DeploymentAdmin,
    ];

    /// The name the decision table, the audit log and error details use.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Outsider => "non-member",
            Standing::Member(role) => role.as_str(),
            Standing::DeploymentAdmin => "deployment-admin",
        }
    }

    fn index(self) -> usize {
        match self {
            Standing::Outsider => 0,
            Standing::Member(Role::Viewer) => 1,
            Standing::Member(Role::Contributor) => 2,
            Standing::Member(Role::Maintainer) => 3,
            Standing::Member(Role::Admin) => 4,
            Standing::DeploymentAdmin => 5,
        }
    }
}

/// What a person asks to do, as business verbs named like the policy's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ViewProject,
    CreateStory,
    EditStory,
    ChangeStatus,
    DeleteStory,
    EditTests,
    GenerateCode,
    UseAiAssist,
    RetryTask,
    CancelTask,
    RequestChanges,
    DeleteSubtree,
    EditSettings,
    ManageRepositories,
    ManageMembers,
    ArchiveProject,
    CreateProject,
    /// Joining a project by an invitation link (the link itself is checked by the handler).
    AcceptInvitation,
}

impl Action {
    /// In the order of the decision table's rows.
    pub const ALL: [Action; 18] = [
        Action::ViewProject,
        Action::CreateStory,
        Action::EditStory,
        Action::ChangeStatus,
        Action::DeleteStory,
        Action::EditTests,
        Action::GenerateCode,
        Action::UseAiAssist,
        Action::RetryTask,
        Action::CancelTask,
        Action::RequestChanges,
        Action::DeleteSubtree,
        Action::EditSettings,
        Action::ManageRepositories,
        Action::ManageMembers,
        Action::ArchiveProject,
        Action::CreateProject,
        Action::AcceptInvitation,
    ];

    /// The action's id in policy/aipm.cedar, also the permission a 403 names.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewProject => "viewProject",
            Action::CreateStory => "createStory",
            Action::EditStory => "editStory",
            Action::ChangeStatus => "changeStatus",
            Action::DeleteStory => "deleteStory",
            Action::EditTests => "editTests",
            Action::GenerateCode => "generateCode",
            Action::UseAiAssist => "useAiAssist",
            Action::RetryTask => "retryTask",
            Action::CancelTask => "cancelTask",
            Action::RequestChanges => "requestChanges",
            Action::DeleteSubtree => "deleteSubtree",
            Action::EditSettings => "editSettings",
            Action::ManageRepositories => "manageRepositories",
            Action::ManageMembers => "manageMembers",
            Action::ArchiveProject => "archiveProject",
            Action::CreateProject => "createProject",
            Action::AcceptInvitation => "acceptInvitation",
        }
    }

    fn index(self) -> usize {
        Action::ALL
            .iter()
            .position(|action| *action == self)
            .unwrap_or_default()
    }
}

/// The state of the project and request a decision depends on besides the person and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Facts {
    pub archived: bool,
    /// The code task acted on was started by the person asking.
    pub owns_task: bool,
}

impl Facts {
    pub const ALL: [Facts; 4] = [
        Facts {
            archived: false,
            owns_task: false,
        },
        Facts {
            archived: false,
            owns_task: true,
        },
        Facts {
            archived: true,
            owns_task: false,
        },
        Facts {
            archived: true,
            owns_task: true,
        },
    ];

    fn index(self) -> usize {
        usize::from(self.archived) * 2 + usize::from(self.owns_task)
    }
}

/// The policy's answer and the policy that gave it (for the audit log and the 403's details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The `@id` of the deciding policy, or `default-deny` when no policy permitted.
    pub policy: &'static str,
}

/// The policy's decision: a lookup in the table compiled from policy/aipm.cedar.
pub fn decide(standing: Standing, action: Action, facts: Facts) -> Decision {
    let cell = table::DECISIONS[action.index()][standing.index()][facts.index()];
    let policy = |index: i8| {
        table::POLICIES
            .get(usize::from(index.unsigned_abs()) - 1)
            .copied()
            .unwrap_or("default-deny")
    };
    match cell {
        0 => Decision {
            allowed: false,
            policy: "default-deny",
        },
        permit if permit > 0 => Decision {
            allowed: true,
            policy: policy(permit),
        },
        forbid => Decision {
            allowed: false,
            policy: policy(forbid),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_holds_for_every_action_in_an_active_project() {
        // Whatever a role may do, every role above it may do too.
        for action in Action::ALL {
            for facts in Facts::ALL.into_iter().filter(|facts| !facts.archived) {
                let allowed: Vec<bool> = Standing::ALL[1..5]
                    .iter()
                    .map(|standing| decide(*standing, action, facts).allowed)
                    .collect();
                assert!(
                    allowed.windows(2).all(|pair| pair[0] <= pair[1]),
                    "{action:?} {facts:?}: {allowed:?}"
                );
            }
        }
    }

    #[test]
    fn an_archived_project_is_read_only_even_for_deployment_admins() {
        let archived = Facts {
            archived: true,
            owns_task: true,
        };
        let denied = decide(Standing::DeploymentAdmin, Action::EditStory, archived);
        assert_eq!(
            denied,
            Decision {
                allowed: false,
                policy: "archived-read-only"
            }
        );
        assert!(
            decide(
                Standing::Member(Role::Viewer),
                Action::ViewProject,
                archived
            )
            .allowed
        );
        assert!(
            decide(
                Standing::Member(Role::Admin),
                Action::ArchiveProject,
                archived
            )
            .allowed
        );
    }

    #[test]
    fn contributors_act_on_their_own_tasks_and_maintainers_on_any() {
        let own = Facts {
            archived: false,
            owns_task: true,
        };
        let other = Facts::default();
        let contributor = Standing::Member(Role::Contributor);
        assert!(decide(contributor, Action::RetryTask, own).allowed);
        assert!(!decide(contributor, Action::RetryTask, other).allowed);
        assert!(
            decide(
                Standing::Member(Role::Maintainer),
                Action::CancelTask,
                other
            )
            .allowed
        );
        assert!(!decide(Standing::Outsider, Action::ViewProject, other).allowed);
        assert!(decide(Standing::Outsider, Action::CreateProject, other).allowed);
    }
}
