//! The live channel's handlers on the in-memory adapters: tickets, the socket's routes and the
//! broadcast of recorded changes.

use super::*;
use crate::adapters::memory_live::MemoryLive;
use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
use crate::handlers::test_support::{as_person, error_code, json};
use crate::history::{Author, HistoryAction};
use crate::http::respond;
use lambda_http::http::Method;

async fn ticket_for(live: &MemoryLive, projects: &MemoryProjects, person: &str) -> Response<Body> {
    respond(
        &CreateLiveTicket::new(
            live.clone(),
            local_gate_over(projects.clone()),
            Some("wss://live.example/prod".into()),
        ),
        as_person(
            person,
            Method::POST,
            "/projects/AIPM/live-tickets",
            "",
            &[("key", "AIPM")],
        ),
    )
    .await
}

fn connect_event(connection: &str, ticket: &str) -> Value {
    json!({
        "requestContext": { "routeKey": "$connect", "connectionId": connection, "eventType": "CONNECT" },
        "queryStringParameters": { "ticket": ticket },
    })
}

async fn open(live: &MemoryLive, projects: &MemoryProjects, person: &str, connection: &str) {
    let answer = json(&ticket_for(live, projects, person).await);
    let ticket = answer["ticket"].as_str().unwrap();
    let socket = LiveSocket::new(live.clone());
    assert_eq!(
        socket.handle(&connect_event(connection, ticket)).await["statusCode"],
        200
    );
}

/// A stream record as Lambda hands it over, for `entry` stored as the adapter stores it.
fn record_of(entry: &HistoryEntry, sequence: &str) -> Value {
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(entry).unwrap();
    item.insert(
        "pk".into(),
        serde_dynamo::AttributeValue::S(entry.partition()),
    );
    json!({
        "eventName": "INSERT",
        "dynamodb": { "NewImage": item, "SequenceNumber": sequence },
    })
}

fn edit(project: u32, story: u64) -> HistoryEntry {
    HistoryEntry::new(
        project,
        Some(story),
        Utc::now(),
        Author::new("local-admin", Some("Ada")),
        HistoryAction::StoryEdited,
    )
}

#[tokio::test]
async fn a_ticket_opens_one_socket_once_and_only_for_a_member() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    let issued = ticket_for(&live, &projects, "local-viewer").await;
    assert_eq!(issued.status(), 201);
    let answer = json(&issued);
    assert_eq!(answer["url"], "wss://live.example/prod");
    let ticket = answer["ticket"].as_str().unwrap().to_owned();

    let outsider = ticket_for(&live, &projects, "local-outsider").await;
    assert_eq!(outsider.status(), 404, "a non-member learns nothing");
    assert_eq!(error_code(&outsider), "PROJECT_NOT_FOUND");
    assert_eq!(live.ticket_count(), 1);

    let socket = LiveSocket::new(live.clone());
    let guessed = "0".repeat(64);
    assert_eq!(
        socket.handle(&connect_event("c-guess", &guessed)).await["statusCode"],
        403
    );
    assert_eq!(
        socket.handle(&connect_event("c-1", "not a ticket")).await["statusCode"],
        403
    );
    assert_eq!(
        socket.handle(&connect_event("c-1", &ticket)).await["statusCode"],
        200
    );
    assert_eq!(
        socket.handle(&connect_event("c-2", &ticket)).await["statusCode"],
        403,
        "a ticket opens one socket"
    );
    assert_eq!(live.connection_ids(), vec!["c-1".to_owned()]);

    let disconnect =
        json!({ "requestContext": { "routeKey": "$disconnect", "connectionId": "c-1" } });
    assert_eq!(socket.handle(&disconnect).await["statusCode"], 200);
    assert!(live.connection_ids().is_empty());
}

#[tokio::test]
async fn a_ping_is_answered_and_anything_else_refused() {
    let socket = LiveSocket::new(MemoryLive::default());
    let message = |body: &str| json!({ "requestContext": { "routeKey": "$default", "connectionId": "c" }, "body": body });
    let pong = socket.handle(&message(r#"{"action":"ping"}"#)).await;
    assert_eq!(pong["statusCode"], 200);
    assert_eq!(pong["body"], r#"{"type":"pong"}"#);
    let other = socket.handle(&message("hello")).await;
    assert_eq!(other["statusCode"], 400);
    assert!(other["body"].as_str().unwrap().contains("UNKNOWN_MESSAGE"));
}

#[tokio::test]
async fn a_store_that_is_down_refuses_the_socket_with_503() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    let ticket = json(&ticket_for(&live, &projects, "local-admin").await)["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    live.fail(true);
    let socket = LiveSocket::new(live.clone());
    assert_eq!(
        socket.handle(&connect_event("c", &ticket)).await["statusCode"],
        503
    );
    let refused = ticket_for(&live, &projects, "local-admin").await;
    assert_eq!(refused.status(), 503);
}

#[tokio::test]
async fn a_change_reaches_every_socket_of_its_project_and_no_other() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    projects.add_project("OTHER", "local-outsider");
    open(&live, &projects, "local-admin", "admin").await;
    open(&live, &projects, "local-viewer", "viewer").await;
    let other = {
        let answer = respond(
            &CreateLiveTicket::new(live.clone(), local_gate_over(projects.clone()), None),
            as_person(
                "local-outsider",
                Method::POST,
                "/p",
                "",
                &[("key", "OTHER")],
            ),
        )
        .await;
        assert_eq!(answer.status(), 201);
        json(&answer)["ticket"].as_str().unwrap().to_owned()
    };
    let socket = LiveSocket::new(live.clone());
    assert_eq!(
        socket.handle(&connect_event("other", &other)).await["statusCode"],
        200
    );

    let broadcaster = Broadcaster::new(
        live.clone(),
        live.clone(),
        local_gate_over(projects.clone()),
    );
    let entry = edit(0, 7);
    let failed = broadcaster.handle(&[record_of(&entry, "1")]).await;
    assert!(failed.is_empty());
    for connection in ["admin", "viewer"] {
        let received = live.received(connection);
        assert_eq!(received.len(), 1, "{connection}");
        let frame: Value = serde_json::from_str(&received[0]).unwrap();
        assert_eq!(frame["type"], "changes");
        let notice = &frame["notices"][0];
        assert_eq!(notice["entry"], entry.id.as_str());
        assert_eq!(notice["storyId"], 7);
        assert_eq!(notice["by"], "Ada");
    }
    assert!(
        live.received("other").is_empty(),
        "another project's socket hears nothing"
    );
}

#[tokio::test]
async fn a_gone_socket_is_forgotten_and_a_failure_is_retried_from_its_record() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    open(&live, &projects, "local-admin", "kept").await;
    open(&live, &projects, "local-viewer", "gone").await;
    live.drop_socket("gone");
    let broadcaster = Broadcaster::new(
        live.clone(),
        live.clone(),
        local_gate_over(projects.clone()),
    );
    assert!(
        broadcaster
            .handle(&[record_of(&edit(0, 1), "1")])
            .await
            .is_empty()
    );
    assert_eq!(live.connection_ids(), vec!["kept".to_owned()]);

    // Not a history insert: skipped, not failed.
    let other = json!({ "eventName": "MODIFY", "dynamodb": { "SequenceNumber": "2" } });
    assert!(broadcaster.handle(&[other]).await.is_empty());

    live.fail(true);
    let failed = broadcaster
        .handle(&[record_of(&edit(0, 2), "3"), record_of(&edit(0, 3), "4")])
        .await;
    assert_eq!(
        failed,
        vec!["3".to_owned()],
        "retried from the first failure on"
    );
    live.fail(false);
    assert_eq!(live.received("kept").len(), 1);
}

#[tokio::test]
async fn a_removed_member_loses_the_channel_with_the_change_that_removed_them() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    open(&live, &projects, "local-admin", "admin").await;
    open(&live, &projects, "local-viewer", "viewer").await;
    projects.remove_from_default_project("local-viewer");
    let removal = HistoryEntry::new(
        0,
        None,
        Utc::now(),
        Author::new("local-admin", None),
        HistoryAction::MemberRemoved,
    );
    let broadcaster = Broadcaster::new(
        live.clone(),
        live.clone(),
        local_gate_over(projects.clone()),
    );
    assert!(
        broadcaster
            .handle(&[record_of(&removal, "9")])
            .await
            .is_empty()
    );
    assert_eq!(live.closed(), vec!["viewer".to_owned()]);
    assert_eq!(live.connection_ids(), vec!["admin".to_owned()]);
    assert!(live.received("viewer").is_empty());
    assert_eq!(live.received("admin").len(), 1);
    // Later changes reach only who is left.
    broadcaster.handle(&[record_of(&edit(0, 5), "10")]).await;
    assert!(live.received("viewer").is_empty());
}

#[tokio::test]
async fn a_burst_of_changes_goes_out_as_one_frame_per_socket_in_order() {
    let live = MemoryLive::default();
    let projects = MemoryProjects::with_default_project();
    open(&live, &projects, "local-admin", "admin").await;
    let broadcaster = Broadcaster::new(
        live.clone(),
        live.clone(),
        local_gate_over(projects.clone()),
    );
    let burst: Vec<HistoryEntry> = (1..=60).map(|story| edit(0, story)).collect();
    let records: Vec<Value> = burst
        .iter()
        .enumerate()
        .map(|(n, entry)| record_of(entry, &n.to_string()))
        .collect();
    assert!(broadcaster.handle(&records).await.is_empty());
    let frames = live.received("admin");
    assert_eq!(frames.len(), 2, "50 notices to a frame");
    let heard: Vec<String> = frames
        .iter()
        .flat_map(|frame| {
            let frame: Value = serde_json::from_str(frame).unwrap();
            frame["notices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|notice| notice["entry"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let sent: Vec<String> = burst.iter().map(|entry| entry.id.clone()).collect();
    assert_eq!(heard, sent);
    assert!(frames.iter().all(|frame| frame.len() < 32 * 1024));
}
