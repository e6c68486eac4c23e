// person.js — the local stack's stand-in for sign-in: which local person the page acts as,
// sent to the API as `x-aipm-person` and kept per browser. Offered only when config.json says
// the stage runs local people; a deployed stage signs people in instead.

const STORAGE_KEY = 'aipm.localPerson';
let people = [];

export function configure(config) {
  people = config.authMode === 'local-people' ? config.localPeople || [] : [];
}

export function localPeople() {
  return people;
}

/** The local person the page acts as, or null when the stage has none. */
export function currentPerson() {
  if (people.length === 0) return null;
  const chosen = localStorage.getItem(STORAGE_KEY);
  return people.find((person) => person.sub === chosen) || people[0];
}

/** Acts as another local person: everything reloads as them, as after signing in. */
export function switchPerson(sub) {
  localStorage.setItem(STORAGE_KEY, sub);
  location.reload();
}
