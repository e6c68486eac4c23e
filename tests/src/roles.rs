//! The role × operation matrix: every API operation that acts in a project, the policy action
//! it asks for, and what the policy answers each kind of person. `docs/ROLES.md` is generated
//! from it; `tests/tests/roles_e2e.rs` checks the running stack answers exactly that.

use aipm::authz::{Action, Facts, Role, Standing, decide};

/// One operation as the matrix lists it.
pub struct Operation {
    /// `METHOD /path` as the router has it.
    pub route: &'static str,
    /// The policy action it asks for.
    pub action: Action,
    /// Whether it acts on a code task the person started themselves (the matrix uses a task
    /// another person started, so contributors are refused).
    pub own_task: bool,
    /// What it is about, for the table.
    pub note: &'static str,
}

pub const OPERATIONS: &[Operation] = &[
    op("GET /stories", Action::ViewProject, "list stories"),
    op("GET /stories/{id}", Action::ViewProject, "read a story"),
    op("POST /stories", Action::CreateStory, "create a story"),
    op(
        "PATCH /stories/{id}",
        Action::EditStory,
        "edit the narrative",
    ),
    op(
        "PATCH /stories/{id} (status)",
        Action::ChangeStatus,
        "move Draft → Ready",
    ),
    op(
        "PUT /projects/{key}/stories/{id}/links",
        Action::EditStory,
        "mark a story blocked by another",
    ),
    op(
        "PUT /projects/{key}/stories/{id}/documents",
        Action::EditStory,
        "attach a reference link",
    ),
    op(
        "POST /projects/{key}/stories/{id}/documents/uploads",
        Action::EditStory,
        "upload a reference file",
    ),
    op(
        "GET /projects/{key}/stories/{id}/documents/files/{fileId}",
        Action::ViewProject,
        "download a reference file",
    ),
    op(
        "GET /projects/{key}/stories/{id}/history",
        Action::ViewProject,
        "read a story's history",
    ),
    op(
        "GET /projects/{key}/history",
        Action::ViewProject,
        "read the project's feed",
    ),
    op(
        "POST /projects/{key}/live-tickets",
        Action::ViewProject,
        "open the live channel",
    ),
    op(
        "GET /projects/{key}/trash",
        Action::ViewProject,
        "see the trash",
    ),
    op(
        "POST /projects/{key}/trash/{id}/restore",
        Action::DeleteStory,
        "restore a deleted story",
    ),
    op(
        "DELETE /projects/{key}/trash/{id}",
        Action::ArchiveProject,
        "purge a deleted story for good",
    ),
    op(
        "DELETE /stories/{id}",
        Action::DeleteStory,
        "delete a leaf story",
    ),
    op(
        "DELETE /stories/{id}?cascade=true",
        Action::DeleteSubtree,
        "delete a story with its children",
    ),
    op(
        "POST /stories/{id}/tests",
        Action::EditTests,
        "add an acceptance test",
    ),
    op(
        "PATCH /stories/{id}/tests/{testId}",
        Action::EditTests,
        "mark a test Pass",
    ),
    op(
        "DELETE /stories/{id}/tests/{testId}",
        Action::EditTests,
        "delete a test",
    ),
    op(
        "POST /stories/{id}/generate-code",
        Action::GenerateCode,
        "Generate code & PR",
    ),
    op(
        "GET /code-tasks/{taskId}",
        Action::ViewProject,
        "read a code task",
    ),
    op(
        "POST /code-tasks/{taskId}/cancel",
        Action::CancelTask,
        "cancel someone else's task",
    ),
    op(
        "POST /code-tasks/{taskId}/retry",
        Action::RetryTask,
        "retry someone else's task",
    ),
    op(
        "POST /stories/{id}/change-requests",
        Action::RequestChanges,
        "request changes on someone else's task",
    ),
    op(
        "POST /story-drafts",
        Action::UseAiAssist,
        "draft a story with AI",
    ),
    op(
        "POST /stories/{id}/test-drafts",
        Action::UseAiAssist,
        "draft tests with AI",
    ),
    op(
        "POST /stories/{id}/invest-review",
        Action::UseAiAssist,
        "ask for the AI INVEST review",
    ),
    op("POST /projects", Action::CreateProject, "start a project"),
    op(
        "PATCH /projects/{key}",
        Action::EditSettings,
        "rename the project, link its repository",
    ),
    op(
        "PATCH /projects/{key} (archived)",
        Action::ArchiveProject,
        "archive the project (and restore it)",
    ),
    op(
        "GET /projects/{key}/repositories",
        Action::EditSettings,
        "see the repositories the GitHub App reaches",
    ),
    op(
        "POST /projects/{key}/upload-token",
        Action::EditSettings,
        "issue the CI upload token",
    ),
    op(
        "DELETE /projects/{key}/upload-token",
        Action::EditSettings,
        "revoke the CI upload token",
    ),
    op(
        "GET /projects/{key}/traceability",
        Action::ViewProject,
        "see the traceability matrix",
    ),
    op(
        "GET /projects/{key}/me",
        Action::ViewProject,
        "what I may do",
    ),
    op(
        "GET /projects/{key}/members",
        Action::ViewProject,
        "list members",
    ),
    op(
        "PUT /projects/{key}/members/{sub}",
        Action::ManageMembers,
        "give someone a role",
    ),
    op(
        "DELETE /projects/{key}/members/{sub}",
        Action::ManageMembers,
        "remove a member",
    ),
    op(
        "GET /projects/{key}/invitations",
        Action::ManageMembers,
        "list invitations",
    ),
    op(
        "POST /projects/{key}/invitations",
        Action::ManageMembers,
        "invite by email",
    ),
    op(
        "DELETE /projects/{key}/invitations/{invitationId}",
        Action::ManageMembers,
        "revoke an invitation",
    ),
    op(
        "POST /projects/{key}/invitations/{invitationId}/resend",
        Action::ManageMembers,
        "re-send an invitation",
    ),
    op(
        "POST /invitations/accept",
        Action::AcceptInvitation,
        "join with an invitation link",
    ),
];

const fn op(route: &'static str, action: Action, note: &'static str) -> Operation {
    Operation {
        route,
        action,
        own_task: false,
        note,
    }
}

/// The people of the matrix, as the local stack has them, with their standing in its default
/// project.
pub const PEOPLE: &[(&str, Standing)] = &[
    ("local-viewer", Standing::Member(Role::Viewer)),
    ("local-contributor", Standing::Member(Role::Contributor)),
    ("local-maintainer", Standing::Member(Role::Maintainer)),
    ("local-admin", Standing::Member(Role::Admin)),
    ("local-outsider", Standing::Outsider),
    ("local-operator", Standing::DeploymentAdmin),
];

/// What a person gets for an operation: `allowed`, or the status the gate answers (403 when
/// they may see the project, 404 when it is invisible to them).
pub fn expected(operation: &Operation, standing: Standing) -> &'static str {
    let facts = Facts {
        archived: false,
        owns_task: operation.own_task,
    };
    if decide(standing, operation.action, facts).allowed {
        "allowed"
    } else if decide(standing, Action::ViewProject, facts).allowed {
        "403"
    } else {
        "404"
    }
}

/// docs/ROLES.md: the roles, then the matrix of every operation × person.
pub fn document() -> String {
    let mut text = String::from(
        "# Roles and what they may do\n\n\
         Generated from the policy (`policy/aipm.cedar`) by `tests/src/roles.rs`; \
         `tests/tests/roles_e2e.rs` sends every operation as each of these people to a stack \
         started by `scripts/local-up` and checks each answer is this table's. Regenerate with \
         `AIPM_UPDATE_ROLES=1 cargo test -p aipm-tests --test roles_doc`.\n\n\
         | Role | May |\n|---|---|\n\
         | viewer | read the project: stories, tests, tasks, the board, members |\n\
         | contributor | + stories, acceptance tests, status moves, Generate code & PR, AI assist; \
         retry, cancel and request changes on the tasks they started |\n\
         | maintainer | + any task, deleting a story with its children, repositories, project settings |\n\
         | admin | + members, roles and invitations, archiving |\n\
         | deployment admin (Cognito group) | admin in every project; audited |\n\n\
         Not a member: 404 (the project is invisible). A role too low: 403 `PERMISSION_DENIED` \
         naming the permission. An archived project is read-only for everyone. Whoever holds \
         a pending invitation link (sent to their email) joins with its role.\n\n",
    );
    text.push_str("| Operation | Action |");
    for (person, _) in PEOPLE {
        text.push_str(&format!(" {} |", person.trim_start_matches("local-")));
    }
    text.push_str("\n|---|---|");
    text.push_str(&"---|".repeat(PEOPLE.len()));
    text.push('\n');
    for operation in OPERATIONS {
        text.push_str(&format!(
            "| `{}` ({}) | {} |",
            operation.route,
            operation.note,
            operation.action.as_str()
        ));
        for (_, standing) in PEOPLE {
            let cell = match expected(operation, *standing) {
                "allowed" => "✓",
                other => other,
            };
            text.push_str(&format!(" {cell} |"));
        }
        text.push('\n');
    }
    text.push_str(
        "\n`outsider` is a member of nothing; `operator` is in the deployment's admin group.\n",
    );
    text
}
