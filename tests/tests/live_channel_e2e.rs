//! The live channel against `scripts/local-up`: a ticket opens one socket for a member, and
//! nothing for anyone else; each change to a project reaches that project's sockets (and no
//! other project's) as a notice naming the story, the action, the fields and the person; a ping
//! is answered; a person removed from the project loses the socket; a socket closed by the
//! server is forgotten.

use std::time::Duration;

use aipm_tests::LocalUp;
use aipm_tests::live::{LiveClient, open_sockets, socket_url, ticket};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(5);

async fn send_as(
    stack: &LocalUp,
    person: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.url))
        .header(aipm::authz::identity::LOCAL_PERSON_HEADER, person);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The next frame that is a notice about `story` (pongs and other stories' notices skipped).
async fn notice_about(client: &mut LiveClient, story: u64) -> Value {
    loop {
        let (_, frame) = client
            .next_within(SOON)
            .await
            .unwrap_or_else(|| panic!("no notice about story {story} within {SOON:?}"));
        if frame["type"] == "change" && frame["storyId"] == story {
            return frame;
        }
    }
}

#[tokio::test]
async fn the_live_channel_tells_a_projects_people_and_nobody_else() {
    let mut stack = LocalUp::start_with("live-channel", &[("AIPM_LOCAL_WORKER", "off")]).await;

    // Who may open it: a member; not an outsider (the same 404 as any read), not a guessed or
    // reused ticket.
    let (status, refused) = ticket(&stack.url, "local-outsider", "AIPM").await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(refused["error"]["code"], "PROJECT_NOT_FOUND");
    let guessed = socket_url(&stack.url, &Value::Null, &"a".repeat(64));
    assert_eq!(LiveClient::connect(&guessed).await.err(), Some(403));
    let (status, issued) = ticket(&stack.url, "local-viewer", "AIPM").await;
    assert_eq!(status, 201, "{issued}");
    let url = socket_url(&stack.url, &issued, issued["ticket"].as_str().unwrap());
    let mut viewer = LiveClient::connect(&url)
        .await
        .expect("the ticket opens a socket");
    assert_eq!(
        LiveClient::connect(&url).await.err(),
        Some(403),
        "a ticket opens one socket"
    );
    let mut admin = LiveClient::open(&stack.url, "local-admin", "AIPM")
        .await
        .expect("an admin's socket");

    // Another project's socket, whose owner is not in AIPM.
    let (status, _) = send_as(
        &stack,
        "local-outsider",
        "POST",
        "/projects",
        Some(json!({"key": "ELSE", "name": "Elsewhere"})),
    )
    .await;
    assert_eq!(status, 201);
    let mut elsewhere = LiveClient::open(&stack.url, "local-outsider", "ELSE")
        .await
        .expect("the outsider's own project");

    // A ping is answered.
    viewer.send(r#"{"action":"ping"}"#);
    let (_, pong) = viewer.next_within(SOON).await.expect("a pong");
    assert_eq!(pong, json!({"type": "pong"}));

    // A new story, an edit and a status move reach both AIPM sockets, named and in order.
    let (status, story) = send_as(
        &stack,
        "local-contributor",
        "POST",
        "/projects/AIPM/stories",
        Some(json!({"title": "Live one", "asA": "PM", "iWant": "live updates", "soThat": "we agree"})),
    )
    .await;
    assert_eq!(status, 201, "{story}");
    let id = story["id"].as_u64().unwrap();
    for client in [&mut viewer, &mut admin] {
        let created = notice_about(client, id).await;
        assert_eq!(created["action"], "storyCreated");
        assert_eq!(created["by"], "Cy Contributor");
        assert_eq!(created["bySub"], "local-contributor");
    }
    let (status, _) = send_as(
        &stack,
        "local-admin",
        "PATCH",
        &format!("/projects/AIPM/stories/{id}"),
        Some(json!({"title": "Live one, renamed"})),
    )
    .await;
    assert_eq!(status, 200);
    let edited = notice_about(&mut viewer, id).await;
    assert_eq!(edited["action"], "storyEdited");
    assert_eq!(edited["fields"], json!(["title"]));
    assert_eq!(edited["version"], 2);
    assert!(
        !edited.to_string().contains("renamed"),
        "a notice carries no values: {edited}"
    );
    assert_eq!(notice_about(&mut admin, id).await["entry"], edited["entry"]);

    // Nothing of AIPM reached the other project's socket.
    let heard = elsewhere.drain(Duration::from_millis(500)).await;
    assert!(heard.is_empty(), "{heard:?}");

    // The viewer is removed: their socket closes, and the admin's stays.
    let (status, _) = send_as(
        &stack,
        "local-admin",
        "DELETE",
        "/projects/AIPM/members/local-viewer",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        viewer.closes_within(SOON).await,
        "a removed person loses the channel"
    );
    let (status, _) = send_as(
        &stack,
        "local-admin",
        "PATCH",
        &format!("/projects/AIPM/stories/{id}"),
        Some(json!({"title": "After the removal"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(notice_about(&mut admin, id).await["action"], "storyEdited");

    // A socket the server closes (API Gateway's two-hour limit, a deploy) is forgotten: the
    // broadcaster's next post finds it gone and the registry no longer lists it.
    let before = open_sockets(&stack.url).await;
    assert_eq!(before.len(), 2, "{before:?}");
    for id in &before {
        let closed = reqwest::Client::new()
            .delete(format!("{}/_live/@connections/{id}", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(closed.status(), 200);
    }
    assert!(admin.closes_within(SOON).await);
    assert!(elsewhere.closes_within(SOON).await);
    let gone = reqwest::Client::new()
        .post(format!("{}/_live/@connections/{}", stack.url, before[0]))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410, "API Gateway's GoneException");
    stack.stop().await;
}
