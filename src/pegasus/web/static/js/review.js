// The review page: tap a line (or a chapter, note or key term) to play the recording from
// there, the line being said is highlighted while it plays, `#t=<seconds>` in the address
// seeks on load, and a line can be corrected in place.
//
// Corrections use optimistic concurrency: each line carries its ETag (data-etag); Save sends
// it as If-Match. When someone else saved that line first, the server answers 412
// (edit.conflict): the page shows their version, keeps the learner's text in the box and
// takes the new ETag, so saving again puts the learner's text on top of theirs. Nothing is
// lost silently.

import { apiFetch, ApiError } from "/static/js/api.js";
import { messageFor, sentenceFor } from "/static/js/messages.js";

const audio = document.getElementById("audio");
const list = document.getElementById("transcript");
const lectureId = list ? list.dataset.lecture : "";
const segments = list ? Array.from(list.querySelectorAll(".segment")) : [];
const starts = segments.map((li) => Number.parseFloat(li.dataset.start));
const status = document.getElementById("review-status");
const playerNow = document.getElementById("player-now");

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function say(node, text, kind = "") {
  if (!node) return;
  node.textContent = text;
  node.className = node.className.replace(/\bnotice(--\w+)?\b/g, "").trim();
  if (text && kind) node.classList.add("notice", `notice--${kind}`);
}

// --- where the recording is: highlight ---------------------------------------------------

let current = -1;

function indexAt(seconds) {
  // The last line that starts at or before `seconds` (lines are in time order).
  let lo = 0;
  let hi = starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= seconds + 0.05) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function highlight(seconds) {
  const index = indexAt(seconds);
  if (index === current) return;
  if (current >= 0 && segments[current]) {
    segments[current].classList.remove("is-current");
    segments[current].removeAttribute("aria-current");
  }
  current = index;
  if (index >= 0) {
    segments[index].classList.add("is-current");
    segments[index].setAttribute("aria-current", "true");
  }
}

// --- seeking -------------------------------------------------------------------------------

function seekTo(seconds, { play = true } = {}) {
  if (!audio || !Number.isFinite(seconds)) return;
  const target = Math.max(0, seconds);
  // Before the metadata is known (iOS loads nothing until asked) the position is kept as the
  // start position; set it again once the metadata arrives in case the browser did not.
  audio.currentTime = target;
  if (audio.readyState < 1) {
    audio.addEventListener(
      "loadedmetadata",
      () => {
        if (Math.abs(audio.currentTime - target) > 0.5) audio.currentTime = target;
      },
      { once: true },
    );
  }
  highlight(target);
  if (playerNow) playerNow.textContent = `Playing from ${clock(target)}.`;
  if (play) {
    const started = audio.play();
    if (started && typeof started.catch === "function") {
      started.catch(() => {
        if (playerNow) playerNow.textContent = `Ready at ${clock(target)}: press play.`;
      });
    }
  }
}

function seekFromHash({ play = false } = {}) {
  const match = /^#t=(\d+(?:\.\d+)?)$/.exec(window.location.hash);
  if (!match) return;
  const seconds = Number.parseFloat(match[1]);
  seekTo(seconds, { play });
  const index = indexAt(seconds);
  if (index >= 0) {
    segments[index].scrollIntoView({ block: "center" });
    const button = segments[index].querySelector(".segment__seek");
    if (button) button.focus({ preventScroll: true });
  }
}

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-seek]") : null;
  if (!target) return;
  event.preventDefault();
  const seconds = Number.parseFloat(target.dataset.seek);
  seekTo(seconds);
  const fragment = `#t=${seconds}`;
  if (window.location.hash !== fragment) window.history.replaceState(null, "", fragment);
});

window.addEventListener("hashchange", () => seekFromHash({ play: true }));

if (audio) {
  audio.addEventListener("timeupdate", () => highlight(audio.currentTime));
  audio.addEventListener("seeked", () => highlight(audio.currentTime));
  audio.addEventListener("error", () => {
    if (playerNow) {
      playerNow.textContent =
        "The recording cannot be played here. You can still read and correct the transcript.";
    }
  });
}

// --- correcting a line ---------------------------------------------------------------------

function segmentPath(position) {
  return `/api/v1/lectures/${encodeURIComponent(lectureId)}/transcript/segments/${position}`;
}

// The ETag of one line, built from the transcript JSON as pegasus.lectures.etags documents.
function segmentEtag(position, version) {
  return `"segment.${lectureId}.${position}.${version}"`;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function textOf(li) {
  return li.querySelector(".segment__text").textContent;
}

function openEditor(li) {
  const position = li.dataset.position;
  const editor = li.querySelector(".segment__editor");
  const editButton = li.querySelector('[data-action="edit"]');
  const at = clock(Number.parseFloat(li.dataset.start));
  editor.replaceChildren();
  const label = el("label", { for: `edit-text-${position}` }, `Correct the line at ${at}`);
  const box = el("textarea", {
    id: `edit-text-${position}`,
    rows: "4",
    maxlength: "5000",
    class: "segment__box",
  });
  box.value = textOf(li);
  const conflict = el("div", { class: "conflict notice notice--warning", hidden: "" });
  conflict.setAttribute("role", "alert");
  const actions = el("div", { class: "button-row" });
  const save = el("button", { type: "button", class: "button primary", "data-action": "save" }, "Save");
  const cancel = el("button", { type: "button", class: "button", "data-action": "cancel" }, "Cancel");
  actions.append(save, cancel);
  const note = el("p", { class: "editor-status", role: "status", "aria-live": "polite" });
  editor.append(label, box, conflict, actions, note);
  editor.hidden = false;
  editButton.hidden = true;
  editButton.setAttribute("aria-expanded", "true");
  box.focus();
}

function closeEditor(li) {
  const editor = li.querySelector(".segment__editor");
  const editButton = li.querySelector('[data-action="edit"]');
  editor.hidden = true;
  editor.replaceChildren();
  editButton.hidden = false;
  editButton.setAttribute("aria-expanded", "false");
  editButton.focus();
}

function showConflict(li, theirText) {
  const box = li.querySelector(".segment__box");
  const conflict = li.querySelector(".conflict");
  const { happened } = messageFor("edit.conflict");
  conflict.replaceChildren(
    el("p", { class: "conflict__title" }, happened),
    el("p", {}, "Their version:"),
    el("blockquote", { class: "conflict__theirs" }, theirText),
    el(
      "p",
      {},
      "Your text is still in the box. Press \u201cSave my version\u201d to put it in place of " +
        "theirs, or Cancel to keep theirs.",
    ),
  );
  conflict.hidden = false;
  li.querySelector('[data-action="save"]').textContent = "Save my version";
  box.focus();
}

async function latestVersion(li) {
  // After a 412: the line as it is stored now, and the ETag to save on top of it.
  const position = Number.parseInt(li.dataset.position, 10);
  const transcript = await apiFetch(
    `/api/v1/lectures/${encodeURIComponent(lectureId)}/transcript`,
    { cache: "no-store" },
  );
  const segment = transcript.segments[position];
  return { text: segment.text.trim(), etag: segmentEtag(position, segment.version || 1) };
}

async function save(li) {
  const position = Number.parseInt(li.dataset.position, 10);
  const box = li.querySelector(".segment__box");
  const note = li.querySelector(".editor-status");
  const saveButton = li.querySelector('[data-action="save"]');
  const text = box.value.trim();
  if (!text) {
    say(note, "A line cannot be empty. Type what was said, or press Cancel.", "error");
    box.focus();
    return;
  }
  saveButton.disabled = true;
  say(note, "Saving\u2026");
  try {
    const headers = {};
    if (li.dataset.etag) headers["If-Match"] = li.dataset.etag;
    const response = await apiFetch(segmentPath(position), {
      method: "PATCH",
      json: { text },
      headers,
      raw: true,
    });
    const body = await response.json();
    const saved = body && Array.isArray(body.segments) ? body.segments[position] : body;
    li.querySelector(".segment__text").textContent = (saved && saved.text) || text;
    const etag = response.headers.get("ETag");
    if (etag) li.dataset.etag = etag;
    else if (saved && saved.version) li.dataset.etag = segmentEtag(position, saved.version);
    li.classList.add("is-edited");
    closeEditor(li);
    say(status, `Saved your correction of the line at ${clock(Number.parseFloat(li.dataset.start))}.`, "success");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 412 || err.code === "edit.conflict")) {
      try {
        const theirs = await latestVersion(li);
        li.dataset.etag = theirs.etag;
        li.querySelector(".segment__text").textContent = theirs.text;
        say(note, "");
        showConflict(li, theirs.text);
      } catch (inner) {
        say(note, sentenceFor(inner instanceof ApiError ? inner.code : "fallback"), "error");
      }
    } else {
      say(note, sentenceFor(err instanceof ApiError ? err.code : "fallback"), "error");
    }
  } finally {
    saveButton.disabled = false;
  }
}

if (list) {
  for (const button of list.querySelectorAll('[data-action="edit"]')) button.hidden = false;
  list.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    if (!button) return;
    const li = button.closest(".segment");
    const action = button.dataset.action;
    if (action === "edit") openEditor(li);
    else if (action === "cancel") closeEditor(li);
    else if (action === "save") save(li);
  });
  list.addEventListener("keydown", (event) => {
    // Escape leaves the editor without saving; Ctrl/Cmd+Enter saves.
    if (!(event.target instanceof HTMLTextAreaElement)) return;
    const li = event.target.closest(".segment");
    if (event.key === "Escape") closeEditor(li);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      save(li);
    }
  });
}

// --- regenerate ----------------------------------------------------------------------------

const regenerate = document.getElementById("regenerate");
if (regenerate) {
  const note = document.getElementById("regenerate-status");
  regenerate.hidden = false;
  regenerate.addEventListener("click", async () => {
    regenerate.disabled = true;
    say(note, "Starting\u2026");
    try {
      await apiFetch(`/api/v1/lectures/${encodeURIComponent(lectureId)}/regenerate`, {
        method: "POST",
      });
      window.location.assign(`/lectures/${encodeURIComponent(lectureId)}`);
    } catch (err) {
      say(note, sentenceFor(err instanceof ApiError ? err.code : "fallback"), "error");
      regenerate.disabled = false;
    }
  });
}

seekFromHash();
document.documentElement.dataset.reviewReady = "true";
