//! A story's links as responses show them, and the open blockers that hold a story back: read
//! once here for get-story, update-story, set-story-links and generate-code.

use serde::Serialize;

use crate::error::Result;
use crate::model::{LinkedStory, Story, StoryStatus};
use crate::ports::{LinkStore, StoryRepository};
use crate::project::{Project, story_key};
use crate::rules::dependencies::{LinkGraph, MAX_DEPTH};

/// One story's links with the stories they name. A link to a story that no longer exists (a
/// delete interrupted before it forgot its links) is left out.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryLinksView {
    pub blocked_by: Vec<LinkedStory>,
    pub blocking: Vec<LinkedStory>,
    pub relates_to: Vec<LinkedStory>,
}

impl StoryLinksView {
    /// The blockers that are not Done: what makes the story blocked.
    pub fn open_blockers(&self) -> Vec<LinkedStory> {
        self.blocked_by
            .iter()
            .filter(|blocker| blocker.status != StoryStatus::Done)
            .cloned()
            .collect()
    }
}

pub fn linked_story(project: &Project, story: &Story) -> LinkedStory {
    LinkedStory {
        id: story.id,
        key: story_key(&project.key, story.id),
        title: story.title.clone(),
        status: story.status,
    }
}

/// The project's graph and story `id`'s links in it, with the linked stories read.
pub async fn read_links<S: StoryRepository, L: LinkStore>(
    stories: &S,
    links: &L,
    project: &Project,
    id: u64,
) -> Result<(LinkGraph, StoryLinksView)> {
    let graph = links.graph(&project.id).await?;
    let ids = graph.of(id);
    if ids.is_empty() {
        return Ok((graph, StoryLinksView::default()));
    }
    let all: Vec<u64> = [&ids.blocked_by, &ids.blocking, &ids.relates_to]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let found = stories.get_many(&all).await?;
    let named = |list: &[u64]| {
        list.iter()
            .filter_map(|id| found.iter().find(|story| story.id == *id))
            .map(|story| linked_story(project, story))
            .collect()
    };
    let view = StoryLinksView {
        blocked_by: named(&ids.blocked_by),
        blocking: named(&ids.blocking),
        relates_to: named(&ids.relates_to),
    };
    Ok((graph, view))
}

/// A story's chain of parents, nearest first (cut at [`MAX_DEPTH`]).
pub async fn ancestors<S: StoryRepository>(stories: &S, story: &Story) -> Result<Vec<u64>> {
    let mut chain = Vec::new();
    let mut next = story.parent_id;
    while let Some(parent) = next {
        if chain.len() >= MAX_DEPTH || chain.contains(&parent) {
            break;
        }
        chain.push(parent);
        next = stories.get(parent).await?.and_then(|story| story.parent_id);
    }
    Ok(chain)
}
