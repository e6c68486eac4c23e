// feature.js — a story as a Gherkin `.feature` file: the story as the Feature, each acceptance
// test a Scenario tagged with its key (@AT-n), so a Cucumber suite can start from it and its
// results map back to the tests. Loaded when someone asks for the file.

/** Gherkin keeps one step per line; a line break inside a step would start a new one. */
const line = (text) => String(text).replace(/\s*[\r\n]+\s*/g, ' ').trim();

function steps(keyword, list) {
  return list.map((step, index) => `    ${index === 0 ? keyword : 'And'} ${line(step)}`);
}

/** The `.feature` text of `story` with its tests; `label` is the story's KEY-n. */
export function featureFile(story, label) {
  const out = [`@${label}`, `Feature: ${line(story.title)}`];
  if (story.asA || story.iWant || story.soThat) {
    if (story.asA) out.push(`  As a ${line(story.asA)}`);
    if (story.iWant) out.push(`  I want ${line(story.iWant)}`);
    if (story.soThat) out.push(`  So that ${line(story.soThat)}`);
  }
  for (const test of story.acceptanceTests || []) {
    out.push('');
    if (test.key) out.push(`  @${test.key}`);
    out.push(`  Scenario: ${line(test.title)}`);
    out.push(...steps('Given', test.given || []), ...steps('When', test.when || []), ...steps('Then', test.then || []));
  }
  return `${out.join('\n')}\n`;
}
