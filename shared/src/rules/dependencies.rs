//! Links between the stories of one project — "blocked by" (read the other way: "blocking") and
//! "relates to" — the rules a change of them must keep, and what is derived from them.
//!
//! A project's links are one graph, written as a whole under a version, so a change is checked
//! against every other link at once: two concurrent changes that would each be fine alone but
//! close a cycle together cannot both land.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// Links one story may have of each kind; a story waiting on more than this is not one story.
pub const MAX_LINKS_PER_KIND: usize = 50;
/// Links one project may hold: the graph is one DynamoDB item (400 KB), ~45 bytes a link.
pub const MAX_LINKS_PER_PROJECT: usize = 5_000;
/// Ancestor chains longer than this are cut short rather than walked forever.
pub const MAX_DEPTH: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LinkKind {
    /// `story` cannot be finished before `other` is Done.
    BlockedBy,
    /// Informational and symmetric; kept with `story < other`.
    RelatesTo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub story: u64,
    pub other: u64,
    pub kind: LinkKind,
}

/// A project's links with the version every change of them is conditioned on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkGraph {
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub links: Vec<Link>,
}

/// A change of one story's links: each list given replaces that relation of the story.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub blocked_by: Option<Vec<u64>>,
    pub blocking: Option<Vec<u64>>,
    pub relates_to: Option<Vec<u64>>,
}

impl LinkChange {
    /// Every story the change links to, each once.
    pub fn linked(&self) -> Vec<u64> {
        let all: BTreeSet<u64> = [&self.blocked_by, &self.blocking, &self.relates_to]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        all.into_iter().collect()
    }

    /// The stories on either side of a "blocked by" link this change makes.
    fn blocking_relations(&self) -> impl Iterator<Item = u64> + '_ {
        [&self.blocked_by, &self.blocking]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
    }
}

/// Why a change of links was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// A story linked to itself.
    ToSelf,
    /// The change closes a loop of "blocked by": the stories along it, first and last the same.
    Cycle(Vec<u64>),
    /// A blocking link between a story and its ancestor or descendant, which would deadlock
    /// with "a parent is Done only when its children are".
    Lineage {
        other: u64,
        other_is: Lineage,
    },
    TooMany {
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Lineage {
    Ancestor,
    Descendant,
}

impl std::fmt::Display for Lineage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Lineage::Ancestor => "ancestor",
            Lineage::Descendant => "descendant",
        })
    }
}

/// One story's links as the API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryLinkIds {
    pub blocked_by: Vec<u64>,
    pub blocking: Vec<u64>,
    pub relates_to: Vec<u64>,
}

impl StoryLinkIds {
    pub fn is_empty(&self) -> bool {
        self.blocked_by.is_empty() && self.blocking.is_empty() && self.relates_to.is_empty()
    }
}

impl LinkGraph {
    pub fn of(&self, id: u64) -> StoryLinkIds {
        let mut ids = StoryLinkIds::default();
        for link in &self.links {
            match link.kind {
                LinkKind::BlockedBy if link.story == id => ids.blocked_by.push(link.other),
                LinkKind::BlockedBy if link.other == id => ids.blocking.push(link.story),
                LinkKind::RelatesTo if link.story == id => ids.relates_to.push(link.other),
                LinkKind::RelatesTo if link.other == id => ids.relates_to.push(link.story),
                _ => {}
            }
        }
        for list in [&mut ids.blocked_by, &mut ids.blocking, &mut ids.relates_to] {
            list.sort_unstable();
        }
        ids
    }

    /// Every story's blockers, for a listing.
    pub fn blockers(&self) -> HashMap<u64, Vec<u64>> {
        let mut blockers: HashMap<u64, Vec<u64>> = HashMap::new();
        for link in &self.links {
            if link.kind == LinkKind::BlockedBy {
                blockers.entry(link.story).or_default().push(link.other);
            }
        }
        blockers
    }

    /// The links after `change` replaces the relations it names of story `id`, sorted and
    /// without repeats.
    pub fn changed(&self, id: u64, change: &LinkChange) -> Vec<Link> {
        let replaced = |link: &Link| match link.kind {
            LinkKind::BlockedBy => {
                (link.story == id && change.blocked_by.is_some())
                    || (link.other == id && change.blocking.is_some())
            }
            LinkKind::RelatesTo => {
                (link.story == id || link.other == id) && change.relates_to.is_some()
            }
        };
        let mut links: BTreeSet<Link> = self
            .links
            .iter()
            .filter(|link| !replaced(link))
            .copied()
            .collect();
        for &other in change.blocked_by.iter().flatten() {
            links.insert(Link {
                story: id,
                other,
                kind: LinkKind::BlockedBy,
            });
        }
        for &story in change.blocking.iter().flatten() {
            links.insert(Link {
                story,
                other: id,
                kind: LinkKind::BlockedBy,
            });
        }
        for &other in change.relates_to.iter().flatten() {
            links.insert(Link {
                story: id.min(other),
                other: id.max(other),
                kind: LinkKind::RelatesTo,
            });
        }
        links.into_iter().collect()
    }

    /// The links without any that touch `ids` (stories that are gone).
    pub fn without(&self, ids: &HashSet<u64>) -> Vec<Link> {
        self.links
            .iter()
            .filter(|link| !ids.contains(&link.story) && !ids.contains(&link.other))
            .copied()
            .collect()
    }
}

/// Checks `change` of story `id` against the rest of the graph. `ancestors` holds, for `id` and
/// every story the change links to, its chain of parents (nearest first).
pub fn check_change(
    graph: &LinkGraph,
    id: u64,
    change: &LinkChange,
    ancestors: &HashMap<u64, Vec<u64>>,
) -> Result<Vec<Link>, LinkRefusal> {
    let linked = change.linked();
    if linked.contains(&id) {
        return Err(LinkRefusal::ToSelf);
    }
    for list in [&change.blocked_by, &change.blocking, &change.relates_to]
        .into_iter()
        .flatten()
    {
        if list.len() > MAX_LINKS_PER_KIND {
            return Err(LinkRefusal::TooMany {
                limit: MAX_LINKS_PER_KIND,
            });
        }
    }
    let own_ancestors = ancestors.get(&id).map(Vec::as_slice).unwrap_or_default();
    for other in change.blocking_relations() {
        if own_ancestors.contains(&other) {
            return Err(LinkRefusal::Lineage {
                other,
                other_is: Lineage::Ancestor,
            });
        }
        if ancestors
            .get(&other)
            .is_some_and(|chain| chain.contains(&id))
        {
            return Err(LinkRefusal::Lineage {
                other,
                other_is: Lineage::Descendant,
            });
        }
    }
    let links = graph.changed(id, change);
    if links.len() > MAX_LINKS_PER_PROJECT && links.len() > graph.links.len() {
        return Err(LinkRefusal::TooMany {
            limit: MAX_LINKS_PER_PROJECT,
        });
    }
    // The graph had no cycle before, so any cycle now runs through one of this story's links,
    // and so through the story itself.
    if let Some(cycle) = cycle_through(&links, id) {
        return Err(LinkRefusal::Cycle(cycle));
    }
    Ok(links)
}

/// A path of "blocked by" from `start` back to itself, if there is one: a depth-first walk
/// that keeps the path it is on.
fn cycle_through(links: &[Link], start: u64) -> Option<Vec<u64>> {
    let mut blockers: HashMap<u64, Vec<u64>> = HashMap::new();
    for link in links.iter().filter(|link| link.kind == LinkKind::BlockedBy) {
        blockers.entry(link.story).or_default().push(link.other);
    }
    let mut seen = HashSet::from([start]);
    // Each entry: a story on the path and how many of its blockers have been tried.
    let mut path: Vec<(u64, usize)> = vec![(start, 0)];
    while let Some((story, tried)) = path.last().copied() {
        let next = blockers
            .get(&story)
            .and_then(|list| list.get(tried))
            .copied();
        let Some(next) = next else {
            path.pop();
            continue;
        };
        if let Some(top) = path.last_mut() {
            top.1 += 1;
        }
        if next == start {
            let mut cycle: Vec<u64> = path.iter().map(|(story, _)| *story).collect();
            cycle.push(start);
            return Some(cycle);
        }
        if seen.insert(next) {
            path.push((next, 0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blocked(story: u64, other: u64) -> Link {
        Link {
            story,
            other,
            kind: LinkKind::BlockedBy,
        }
    }

    fn graph(links: &[Link]) -> LinkGraph {
        LinkGraph {
            version: 3,
            links: links.to_vec(),
        }
    }

    fn blocked_by(ids: &[u64]) -> LinkChange {
        LinkChange {
            blocked_by: Some(ids.to_vec()),
            ..LinkChange::default()
        }
    }

    fn roots(ids: &[u64]) -> HashMap<u64, Vec<u64>> {
        ids.iter().map(|id| (*id, Vec::new())).collect()
    }

    #[test]
    fn a_story_cannot_wait_for_itself() {
        let refused = check_change(&graph(&[]), 1, &blocked_by(&[2, 1]), &roots(&[1, 2]));
        assert_eq!(refused, Err(LinkRefusal::ToSelf));
        let related = LinkChange {
            relates_to: Some(vec![1]),
            ..LinkChange::default()
        };
        assert_eq!(
            check_change(&graph(&[]), 1, &related, &roots(&[1])),
            Err(LinkRefusal::ToSelf)
        );
    }

    #[test]
    fn a_link_that_closes_a_loop_is_refused_with_the_loop() {
        // 2 waits for 3, 3 waits for 1: 1 waiting for 2 closes 1 → 2 → 3 → 1.
        let existing = graph(&[blocked(2, 3), blocked(3, 1), blocked(4, 2)]);
        let refused = check_change(&existing, 1, &blocked_by(&[2]), &roots(&[1, 2]));
        assert_eq!(refused, Err(LinkRefusal::Cycle(vec![1, 2, 3, 1])));
        // The same loop, made from the other side: 2 says it is blocking 1.
        let from_blocking = LinkChange {
            blocking: Some(vec![1]),
            ..LinkChange::default()
        };
        assert_eq!(
            check_change(&existing, 2, &from_blocking, &roots(&[1, 2])),
            Err(LinkRefusal::Cycle(vec![2, 3, 1, 2]))
        );
        // …while a chain without a loop is fine.
        let chain = check_change(&existing, 5, &blocked_by(&[4]), &roots(&[4, 5])).unwrap();
        assert!(chain.contains(&blocked(5, 4)));
    }

    #[test]
    fn blocking_links_to_an_ancestor_or_descendant_are_refused_relates_to_is_not() {
        // 1 → 2 → 3 in the tree.
        let ancestors = HashMap::from([(3, vec![2, 1]), (2, vec![1]), (1, vec![])]);
        assert_eq!(
            check_change(&graph(&[]), 3, &blocked_by(&[1]), &ancestors),
            Err(LinkRefusal::Lineage {
                other: 1,
                other_is: Lineage::Ancestor
            })
        );
        let blocking_child = LinkChange {
            blocking: Some(vec![3]),
            ..LinkChange::default()
        };
        assert_eq!(
            check_change(&graph(&[]), 1, &blocking_child, &ancestors),
            Err(LinkRefusal::Lineage {
                other: 3,
                other_is: Lineage::Descendant
            })
        );
        let related = LinkChange {
            relates_to: Some(vec![3]),
            ..LinkChange::default()
        };
        assert!(check_change(&graph(&[]), 1, &related, &ancestors).is_ok());
    }

    #[test]
    fn a_change_replaces_only_the_relations_it_names() {
        let existing = graph(&[
            blocked(1, 2),
            blocked(3, 1),
            Link {
                story: 1,
                other: 4,
                kind: LinkKind::RelatesTo,
            },
        ]);
        let links = existing.changed(1, &blocked_by(&[5]));
        let after = LinkGraph { version: 4, links };
        assert_eq!(
            after.of(1),
            StoryLinkIds {
                blocked_by: vec![5],
                blocking: vec![3],
                relates_to: vec![4],
            }
        );
        assert_eq!(after.of(4).relates_to, vec![1]);
        assert_eq!(after.of(5).blocking, vec![1]);
        let gone = after.without(&HashSet::from([1]));
        assert!(gone.is_empty(), "{gone:?}");
    }

    #[test]
    fn too_many_links_of_a_kind_are_refused() {
        let many: Vec<u64> = (2..=(MAX_LINKS_PER_KIND as u64 + 2)).collect();
        let ancestors = roots(&many);
        assert_eq!(
            check_change(&graph(&[]), 1, &blocked_by(&many), &ancestors),
            Err(LinkRefusal::TooMany {
                limit: MAX_LINKS_PER_KIND
            })
        );
    }

    proptest! {
        /// Whatever links are added one by one, the accepted ones never form a cycle, and
        /// every refused one would have.
        #[test]
        fn accepted_links_never_form_a_cycle(edges in proptest::collection::vec((1u64..12, 1u64..12), 0..60)) {
            let mut current = LinkGraph::default();
            for (story, other) in edges {
                let mut blockers = current.of(story).blocked_by;
                blockers.push(other);
                let change = blocked_by(&blockers);
                match check_change(&current, story, &change, &HashMap::new()) {
                    Ok(links) => current = LinkGraph { version: current.version + 1, links },
                    Err(LinkRefusal::Cycle(cycle)) => {
                        prop_assert_eq!(cycle.first(), Some(&story));
                        prop_assert_eq!(cycle.last(), Some(&story));
                        // Each step of the reported loop is a real "blocked by" link.
                        let proposed = current.changed(story, &change);
                        for pair in cycle.windows(2) {
                            prop_assert!(proposed.contains(&blocked(pair[0], pair[1])));
                        }
                    }
                    Err(LinkRefusal::ToSelf) => prop_assert_eq!(story, other),
                    Err(other) => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            for link in &current.links {
                prop_assert!(cycle_through(&current.links, link.story).is_none());
            }
        }
    }
}
