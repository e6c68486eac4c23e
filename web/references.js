// references.js — a story's reference documents: links to pages elsewhere and uploaded files.
// A file goes from the browser straight to the documents bucket through a PUT the API signed,
// with its progress shown; it belongs to the story once the API has checked what arrived.

import { html, useState, useEffect } from './vendor-htm-preact.js';
import { api, ApiError } from './api.js';
import { ErrorNote, useAction } from './ui.js';
import { loadStory, showStory } from './stories.js';
import { Why, can } from './access.js';
import { scoped } from './project.js';

/** The kinds a story takes, as the API allows them (rules::documents::FileKind). */
const KINDS = {
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  md: 'text/markdown',
  markdown: 'text/markdown',
  txt: 'text/plain',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};
export const MAX_FILE_BYTES = 25 * 1024 * 1024;
const ACCEPT = Object.keys(KINDS).map((extension) => `.${extension}`).join(',');

/** The content type the API expects for a file name, or null when the kind is not allowed. */
export function contentTypeOf(name) {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? null : KINDS[name.slice(dot + 1).toLowerCase()] || null;
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Why a chosen file cannot be taken, before anything is sent; null when it can. */
export function fileProblem(file) {
  if (!contentTypeOf(file.name)) {
    return `${file.name} is not a kind a story takes: PDF, PNG, JPEG, Markdown, text or Word (.docx).`;
  }
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > MAX_FILE_BYTES) {
    return `${file.name} is ${formatSize(file.size)}; a story takes files up to 25 MB.`;
  }
  return null;
}

const fileEntries = (documents) => documents.files.map((file) => ({ id: file.id }));

/**
 * Writes the story's documents as `change` makes them from the current ones. When someone
 * changed the story meanwhile, the change is made again on theirs, so neither is lost.
 */
async function saveDocuments(story, change) {
  let current = story;
  for (let attempt = 0; ; attempt += 1) {
    const documents = current.documents || { links: [], files: [] };
    try {
      const { data } = await api('PUT', scoped(`/stories/${current.id}/documents`), {
        body: change(documents),
        headers: { 'if-match': `"${current.version}"` },
      });
      showStory(data);
      return data;
    } catch (failure) {
      if (failure.status !== 412 || attempt >= 2) {
        if (failure.status === 412) loadStory(story.id);
        throw failure;
      }
      ({ data: current } = await api('GET', scoped(`/stories/${story.id}`)));
    }
  }
}

/** Sends the bytes with the signed request; `onProgress` gets the fraction sent. */
function sendBytes(signed, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(signed.method, signed.url);
    for (const [name, value] of Object.entries(signed.headers || {})) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => (request.status >= 200 && request.status < 300
      ? resolve()
      : reject(new ApiError(503, 'UPLOAD_FAILED', `The file store refused the upload (${request.status}). Try again.`)));
    request.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload was cut off. Check your connection and try again.'));
    request.send(file);
  });
}

/** Fetches a fresh signed link and lets the browser download the file under its name. */
async function download(story, file) {
  const { data } = await api('GET', scoped(`/stories/${story.id}/documents/files/${file.id}`));
  const anchor = document.createElement('a');
  anchor.href = data.download.url;
  anchor.rel = 'noopener';
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

function LinkForm({ story, editing }) {
  const [url, setUrl] = useState('');
  const [title, setTitle] = useState('');
  const [add, adding, error, setError] = useAction(async () => {
    const link = { url: url.trim(), title: title.trim() || url.trim() };
    await saveDocuments(story, (documents) => ({
      links: [...documents.links, link],
      files: fileEntries(documents),
    }));
    setUrl('');
    setTitle('');
  });
  useEffect(() => setError(null), [story.id]);
  return html`<form class="inline-form reference-link-form" onSubmit=${(event) => { event.preventDefault(); add(); }}>
    <label for="reference-url">Link</label>
    <input id="reference-url" type="url" value=${url} placeholder="https://…" required
      onInput=${(event) => { setUrl(event.target.value); setError(null); }} />
    <label class="visually-hidden" for="reference-title">Title</label>
    <input id="reference-title" value=${title} placeholder="Title" maxlength="200"
      onInput=${(event) => setTitle(event.target.value)} />
    <button type="submit" disabled=${adding || !url.trim() || !editing.allowed}>${adding ? 'Adding…' : 'Add link'}</button>
  </form>
  <${ErrorNote} error=${error} onRetry=${add} onDismiss=${() => setError(null)} />`;
}

function UploadForm({ story, editing }) {
  const [progress, setProgress] = useState(null);
  const [problem, setProblem] = useState(null);
  const [chosen, setChosen] = useState(null);
  const [upload, uploading, error, setError] = useAction(async (file) => {
    setProgress({ name: file.name, sent: 0 });
    try {
      const { data: asked } = await api('POST', scoped(`/stories/${story.id}/documents/uploads`), {
        body: { name: file.name, contentType: contentTypeOf(file.name), size: file.size },
      });
      await sendBytes(asked.upload, file, (sent) => setProgress({ name: file.name, sent }));
      await saveDocuments(story, (documents) => ({
        links: documents.links,
        files: [...fileEntries(documents), { id: asked.id, name: file.name }],
      }));
      setChosen(null);
    } finally {
      setProgress(null);
    }
  });
  useEffect(() => { setError(null); setProblem(null); setChosen(null); }, [story.id]);
  const choose = (event) => {
    const file = event.target.files[0];
    event.target.value = '';
    if (!file) return;
    setError(null);
    const why = fileProblem(file);
    setProblem(why);
    setChosen(why ? null : file);
    if (!why) upload(file);
  };
  return html`<div class="reference-upload">
    <label for="reference-file">${uploading ? 'Uploading…' : 'Upload a file'}</label>
    <input id="reference-file" type="file" accept=${ACCEPT}
      disabled=${!editing.allowed || uploading} onChange=${choose}
      aria-describedby="reference-file-hint" />
    <span class="muted hint" id="reference-file-hint">PDF, PNG, JPEG, Markdown, text or .docx, up to 25 MB</span>
    ${progress ? html`<div class="upload-progress" role="status">
      <progress max="1" value=${progress.sent} aria-label=${`Uploading ${progress.name}`}></progress>
      <span>${progress.name}: ${Math.round(progress.sent * 100)} %</span></div>` : null}
    ${problem ? html`<p class="error-note" role="alert">${problem}</p>` : null}
    <${ErrorNote} error=${error} onRetry=${chosen ? () => upload(chosen) : undefined}
      onDismiss=${() => setError(null)} />
  </div>`;
}

export function ReferenceDocuments({ story }) {
  const documents = story.documents || { links: [], files: [] };
  const editing = can('editStory');
  const [remove, removing, removeError, setRemoveError] = useAction(async (kind, which) => {
    await saveDocuments(story, (current) => ({
      links: kind === 'link' ? current.links.filter((link) => link.url !== which) : current.links,
      files: fileEntries(current).filter((file) => kind !== 'file' || file.id !== which),
    }));
  });
  const [fetchFile, fetching, fetchError, setFetchError] = useAction((file) => download(story, file));
  useEffect(() => { setRemoveError(null); setFetchError(null); }, [story.id]);
  const empty = documents.links.length === 0 && documents.files.length === 0;

  return html`<section class="panel references" aria-labelledby="references-heading">
    <h3 id="references-heading">Reference documents</h3>
    ${empty ? html`<p class="muted">No reference documents yet.</p>` : html`<ul class="reference-list">
      ${documents.links.map((link) => html`<li class="reference-link">
        <a href=${link.url} target="_blank" rel="noopener noreferrer">${link.title}</a>
        <span class="muted"> ${hostOf(link.url)}</span>
        ${editing.allowed ? html`<button type="button" class="link" disabled=${removing}
          aria-label=${`Remove the link ${link.title}`} onClick=${() => remove('link', link.url)}>Remove</button>` : null}
      </li>`)}
      ${documents.files.map((file) => html`<li class="reference-file">
        <button type="button" class="link" disabled=${fetching}
          aria-label=${`Download ${file.name}`} onClick=${() => fetchFile(file)}>${file.name}</button>
        <span class="muted"> ${formatSize(file.size)}</span>
        ${editing.allowed ? html`<button type="button" class="link" disabled=${removing}
          aria-label=${`Remove the file ${file.name}`} onClick=${() => remove('file', file.id)}>Remove</button>` : null}
      </li>`)}
    </ul>`}
    <${ErrorNote} error=${removeError} onDismiss=${() => setRemoveError(null)} />
    <${ErrorNote} error=${fetchError} onDismiss=${() => setFetchError(null)} />
    <${LinkForm} story=${story} editing=${editing} />
    <${UploadForm} story=${story} editing=${editing} />
    <${Why} check=${editing} id="references-denied" />
  </section>`;
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
