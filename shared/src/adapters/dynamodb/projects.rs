//! The projects table: one partition per project holding its record (`sk = project`) and its
//! memberships (`sk = member#<sub>`, indexed by `memberSub` for "my projects"); key
//! reservations (`pk = key#<KEY>`), never deleted, so a key is never reused and a renamed key
//! keeps resolving; and the audit log (`pk = audit#<project id>`, sorted by time).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};

use super::stories::failed_conditions;
use crate::adapters::sdk_error;
use crate::authz::Role;
use crate::error::{Error, Result};
use crate::ports::{
    AcceptOutcome, MemberChange, MemberChangeOutcome, ProjectDirectory, ProjectUpdateOutcome,
};
use crate::project::{AuditEntry, Invitation, Membership, Project};

const PROJECTS: &str = "projects table";

/// The index of memberships by person.
pub const MEMBER_INDEX: &str = "memberSub-index";
/// Projects by the GitHub account of their repository (`linkOwner`, lower case; only on
/// projects that link one), for the App's installation events.
pub const LINK_OWNER_INDEX: &str = "linkOwner-index";

#[derive(Debug, Clone)]
pub struct DynamoProjectDirectory {
    client: Client,
    table: String,
}

pub(super) type Item = HashMap<String, AttributeValue>;

/// A projects-table key: every item of the table (projects, evidence) is addressed by pk and sk.
pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

fn project_key(project_id: &str) -> Item {
    key(format!("project#{project_id}"), "project".to_owned())
}

fn member_key(project_id: &str, member_sub: &str) -> Item {
    key(
        format!("project#{project_id}"),
        format!("member#{member_sub}"),
    )
}

fn invitation_key(project_id: &str, invitation_id: &str) -> Item {
    key(
        format!("project#{project_id}"),
        format!("invite#{invitation_id}"),
    )
}

pub(super) fn with_key(value: &impl serde::Serialize, item_key: Item) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(value)
        .map_err(|error| Error::Internal(format!("serializing a projects item: {error}")))?;
    item.extend(item_key);
    Ok(item)
}

fn read<T: serde::de::DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item)
        .map_err(|error| Error::Internal(format!("reading a projects item: {error}")))
}

fn built<T, E: std::fmt::Display>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|error| Error::Internal(error.to_string()))
}

impl DynamoProjectDirectory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The two writes of a membership change: the membership, conditioned on it being as
    /// read, and the project's admin count, which may not fall to zero. Also the count's change.
    fn membership_writes(&self, change: &MemberChange) -> Result<([TransactWriteItem; 2], i64)> {
        let was = change.current.as_ref().map(|member| member.role);
        let will = change.next.as_ref().map(|member| member.role);
        let delta: i64 = match (was == Some(Role::Admin), will == Some(Role::Admin)) {
            (true, false) => -1,
            (false, true) => 1,
            _ => 0,
        };
        let item_key = member_key(&change.project_id, &change.member_sub);
        let (condition, old_role) = match was {
            Some(role) => (
                "attribute_exists(pk) AND #role = :was",
                Some(AttributeValue::S(role.as_str().to_owned())),
            ),
            None => ("attribute_not_exists(pk)", None),
        };
        let member_write = match &change.next {
            Some(next) => {
                let mut item = with_key(next, item_key)?;
                item.insert(
                    "memberSub".into(),
                    AttributeValue::S(next.member_sub.clone()),
                );
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition);
                let put = match &old_role {
                    Some(role) => put
                        .expression_attribute_names("#role", "role")
                        .expression_attribute_values(":was", role.clone()),
                    None => put,
                };
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build()
            }
            None => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key))
                    .condition_expression(condition);
                let delete = match &old_role {
                    Some(role) => delete
                        .expression_attribute_names("#role", "role")
                        .expression_attribute_values(":was", role.clone()),
                    None => delete,
                };
                TransactWriteItem::builder()
                    .delete(built(delete.build())?)
                    .build()
            }
        };
        let guard = if delta < 0 {
            "attribute_exists(pk) AND adminCount > :one"
        } else {
            "attribute_exists(pk)"
        };
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(project_key(&change.project_id)))
                .update_expression("SET adminCount = adminCount + :delta, version = version + :one")
                .condition_expression(guard)
                .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build(),
        )?;
        Ok((
            [
                member_write,
                TransactWriteItem::builder().update(update).build(),
            ],
            delta,
        ))
    }

    /// One conditional write and its audit entry, together; false when the write's condition
    /// did not hold (nothing was written).
    async fn write_with_audit(&self, write: TransactWriteItem, audit: &AuditEntry) -> Result<bool> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(write)
            .transact_items(self.audit_put(audit)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(false),
                _ => Err(sdk_error(PROJECTS, error)),
            },
        }
    }

    fn audit_put(&self, entry: &AuditEntry) -> Result<TransactWriteItem> {
        self.put(audit_item(entry)?, None)
    }

    /// Strongly consistent reads of up to 100 keys in one call, re-asking for what DynamoDB
    /// left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build(),
            )?);
            for _ in 0..8 {
                let Some(request) = pending.take() else { break };
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|error| sdk_error(PROJECTS, error))?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .filter(|rest| !rest.keys().is_empty());
            }
            if pending.is_some() {
                return Err(Error::DependencyUnavailable {
                    dependency: PROJECTS,
                    message: "reads stayed unprocessed".into(),
                });
            }
        }
        Ok(found)
    }

    /// Every membership a query finds, page after page: a project's (consistent) or a
    /// person's (on the index, which DynamoDB reads only eventually consistently).
    async fn memberships(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Membership>> {
        self.query_all(query).await
    }

    /// Every item `query` finds, page after page.
    async fn query_all<T: serde::de::DeserializeOwned>(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<T>> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(PROJECTS, error))?;
            for item in output.items.unwrap_or_default() {
                found.push(read(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}

/// A project's item: the project, and the owner of its repository for [`LINK_OWNER_INDEX`].
fn project_item(project: &Project) -> Result<Item> {
    let mut item = with_key(project, project_key(&project.id))?;
    if let Some(link) = &project.repository {
        item.insert(
            "linkOwner".into(),
            AttributeValue::S(link.owner.to_ascii_lowercase()),
        );
    }
    Ok(item)
}

fn audit_item(entry: &AuditEntry) -> Result<Item> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    with_key(
        entry,
        key(
            format!("audit#{}", entry.project_id),
            format!(
                "{}#{}",
                entry.at.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
                &suffix[..8]
            ),
        ),
    )
}

impl ProjectDirectory for DynamoProjectDirectory {
    async fn project_id_for_key(&self, project_key_text: &str) -> Result<Option<String>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("key#{project_key_text}"),
                "key".to_owned(),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(PROJECTS, error))?;
        Ok(output
            .item
            .and_then(|item| item.get("projectId")?.as_s().ok().cloned()))
    }

    async fn access(
        &self,
        project_id: &str,
        member_sub: &str,
    ) -> Result<(Option<Project>, Option<Membership>)> {
        let items = self
            .batch_get(vec![
                project_key(project_id),
                member_key(project_id, member_sub),
            ])
            .await?;
        let mut project = None;
        let mut membership = None;
        for item in items {
            match item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
            {
                Some("project") => project = Some(read(item)?),
                Some(_) => membership = Some(read(item)?),
                None => {}
            }
        }
        Ok((project, membership))
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit_item(entry)?))
            .send()
            .await
            .map_err(|error| sdk_error(PROJECTS, error))?;
        Ok(())
    }

    async fn allocate_ordinal(&self) -> Result<u32> {
        const LAST: &str = "lastOrdinal";
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key("counter#projects".into(), "counter".into())))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", LAST)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|error| sdk_error(PROJECTS, error))?;
        output
            .attributes()
            .and_then(|attributes| attributes.get(LAST))
            .and_then(|value| value.as_n().ok())
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| Error::Internal("the project counter returned no ordinal".into()))
    }

    async fn create_project(
        &self,
        project: &Project,
        admin: &Membership,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut reservation = key(format!("key#{}", project.key), "key".to_owned());
        reservation.insert("projectId".into(), AttributeValue::S(project.id.clone()));
        let mut member = with_key(admin, member_key(&project.id, &admin.member_sub))?;
        member.insert(
            "memberSub".into(),
            AttributeValue::S(admin.member_sub.clone()),
        );
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(reservation, Some("attribute_not_exists(pk)"))?)
            .transact_items(self.put(project_item(project)?, Some("attribute_not_exists(pk)"))?)
            .transact_items(self.put(member, None)?)
            .transact_items(self.audit_put(audit)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.iter().any(|failed| *failed) => Ok(false),
                _ => Err(sdk_error(PROJECTS, error)),
            },
        }
    }

    async fn update_project(
        &self,
        project: &Project,
        expected_version: u64,
        new_key: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<ProjectUpdateOutcome> {
        let record = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(project_item(project)?))
                .condition_expression("attribute_exists(pk) AND version = :version")
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(expected_version.to_string()),
                )
                .build(),
        )?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build());
        if let Some(new_key) = new_key {
            let mut reservation = key(format!("key#{new_key}"), "key".to_owned());
            reservation.insert("projectId".into(), AttributeValue::S(project.id.clone()));
            transaction = transaction
                .transact_items(self.put(reservation, Some("attribute_not_exists(pk)"))?);
        }
        let result = transaction
            .transact_items(self.audit_put(audit)?)
            .send()
            .await;
        let Err(error) = result else {
            return Ok(ProjectUpdateOutcome::Updated);
        };
        match failed_conditions(&error) {
            Some(failed) if failed.first() == Some(&true) => Ok(ProjectUpdateOutcome::Conflict),
            Some(failed) if failed.get(1) == Some(&true) => Ok(ProjectUpdateOutcome::KeyTaken),
            _ => Err(sdk_error(PROJECTS, error)),
        }
    }

    async fn put_invitation(
        &self,
        invitation: &Invitation,
        audit: &AuditEntry,
        resend: bool,
    ) -> Result<bool> {
        let item = with_key(
            invitation,
            invitation_key(&invitation.project_id, &invitation.invitation_id),
        )?;
        let put = if resend {
            built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_exists(pk) AND #status = :pending")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                    .build(),
            )
            .map(|put| TransactWriteItem::builder().put(put).build())?
        } else {
            self.put(item, Some("attribute_not_exists(pk)"))?
        };
        self.write_with_audit(put, audit).await
    }

    async fn invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
    ) -> Result<Option<Invitation>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(invitation_key(project_id, invitation_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(PROJECTS, error))?;
        output.item.map(read).transpose()
    }

    async fn invitations(&self, project_id: &str) -> Result<Vec<Invitation>> {
        let mut found: Vec<Invitation> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND begins_with(sk, :invite)")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("project#{project_id}")),
                )
                .expression_attribute_values(":invite", AttributeValue::S("invite#".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(PROJECTS, error))?;
            for item in output.items.unwrap_or_default() {
                found.push(read(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                found.sort_by_key(|invitation| std::cmp::Reverse(invitation.invited_at));
                return Ok(found);
            }
        }
    }

    async fn revoke_invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(invitation_key(project_id, invitation_id)))
                .update_expression("SET #status = :revoked")
                .condition_expression("attribute_exists(pk) AND #status = :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":revoked", AttributeValue::S("revoked".into()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                .build(),
        )?;
        self.write_with_audit(TransactWriteItem::builder().update(update).build(), audit)
            .await
    }

    async fn accept_invitation(
        &self,
        accepted: &Invitation,
        change: Option<&MemberChange>,
        audit: &AuditEntry,
        entry: Option<&crate::history::HistoryEntry>,
    ) -> Result<AcceptOutcome> {
        let accepted_by = accepted.accepted_by.clone().unwrap_or_default();
        let accepted_at = accepted
            .accepted_at
            .map(|at| at.to_rfc3339())
            .unwrap_or_default();
        // Expiry was checked on the read; the secret and the status are checked here, so a
        // re-send or a revoke in between wins.
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(invitation_key(
                    &accepted.project_id,
                    &accepted.invitation_id,
                )))
                .update_expression("SET #status = :accepted, acceptedBy = :by, acceptedAt = :at")
                .condition_expression(
                    "attribute_exists(pk) AND #status = :pending AND secretHash = :hash",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":accepted", AttributeValue::S("accepted".into()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                .expression_attribute_values(
                    ":hash",
                    AttributeValue::S(accepted.secret_hash.clone()),
                )
                .expression_attribute_values(":by", AttributeValue::S(accepted_by))
                .expression_attribute_values(":at", AttributeValue::S(accepted_at))
                .build(),
        )?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(change) = change {
            let (writes, _) = self.membership_writes(change)?;
            for write in writes {
                transaction = transaction.transact_items(write);
            }
        }
        transaction = transaction.transact_items(self.audit_put(audit)?);
        if let Some(entry) = entry {
            transaction =
                transaction.transact_items(super::history::history_put(&self.table, entry)?);
        }
        let result = transaction.send().await;
        let Err(error) = result else {
            return Ok(AcceptOutcome::Accepted);
        };
        match failed_conditions(&error) {
            Some(failed) if failed.first() == Some(&true) => Ok(AcceptOutcome::InvitationGone),
            Some(failed) if failed.get(1) == Some(&true) => Ok(AcceptOutcome::Conflict),
            Some(failed) if failed.get(2) == Some(&true) => Ok(AcceptOutcome::ProjectMissing),
            _ => Err(sdk_error(PROJECTS, error)),
        }
    }

    async fn memberships_of(&self, member_sub: &str) -> Result<Vec<Membership>> {
        self.memberships(
            self.client
                .query()
                .table_name(&self.table)
                .index_name(MEMBER_INDEX)
                .key_condition_expression("memberSub = :sub")
                .expression_attribute_values(":sub", AttributeValue::S(member_sub.to_owned())),
        )
        .await
    }

    async fn projects(&self, project_ids: &[String]) -> Result<Vec<Project>> {
        let keys = project_ids.iter().map(|id| project_key(id)).collect();
        self.batch_get(keys).await?.into_iter().map(read).collect()
    }

    async fn projects_linking_owner(&self, owner: &str) -> Result<Vec<Project>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name(LINK_OWNER_INDEX)
                .key_condition_expression("linkOwner = :owner")
                .expression_attribute_values(
                    ":owner",
                    AttributeValue::S(owner.to_ascii_lowercase()),
                ),
        )
        .await
    }

    async fn members(&self, project_id: &str) -> Result<Vec<Membership>> {
        self.memberships(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :member)")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("project#{project_id}")),
                )
                .expression_attribute_values(":member", AttributeValue::S("member#".into()))
                .consistent_read(true),
        )
        .await
    }

    async fn change_member(
        &self,
        change: &MemberChange,
        audit: &AuditEntry,
        entry: &crate::history::HistoryEntry,
    ) -> Result<MemberChangeOutcome> {
        let ([member_write, count_update], delta) = self.membership_writes(change)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(member_write)
            .transact_items(count_update)
            .transact_items(self.audit_put(audit)?)
            .transact_items(super::history::history_put(&self.table, entry)?)
            .send()
            .await;
        let Err(error) = result else {
            return Ok(MemberChangeOutcome::Done);
        };
        match failed_conditions(&error) {
            Some(failed) if failed.first() == Some(&true) => Ok(MemberChangeOutcome::Conflict),
            Some(failed) if failed.get(1) == Some(&true) => {
                let (project, _) = self.access(&change.project_id, "").await?;
                Ok(match project {
                    None => MemberChangeOutcome::ProjectMissing,
                    Some(project) if delta < 0 && project.admin_count <= 1 => {
                        MemberChangeOutcome::LastAdmin
                    }
                    Some(_) => MemberChangeOutcome::Conflict,
                })
            }
            _ => Err(sdk_error(PROJECTS, error)),
        }
    }
}
