// Live status of one lecture: the server's state, pushed by Server-Sent Events
// (GET /api/v1/lectures/{id}/events), polled from GET /api/v1/lectures/{id} when the stream
// is not available. The page was rendered from the same state, so a reload or another
// device shows the same thing; this only keeps it current.

import { apiFetch, ApiError } from "/static/js/api.js";
import { clock, learnerMessage, stageMessage } from "/static/js/flow-format.js";

const config = JSON.parse(document.getElementById("status-config").textContent);
const lectureId = config.lecture.id;
const TERMINAL = new Set(["succeeded", "failed"]);
const POLL_MS = 3000;
/** Without a first event in this long, the stream is treated as unavailable. */
const FIRST_EVENT_MS = 8000;

let lecture = config.lecture;
let source = null;
let pollTimer = null;
let watchdog = null;

const overall = document.getElementById("overall");
const overallBadge = document.getElementById("overall-badge");
const overallText = document.getElementById("overall-text");

function setBadge(el, status, label) {
  el.className = `badge badge--${status}`;
  el.textContent = label;
}

function overallSentence(status) {
  switch (status) {
    case "succeeded":
      return "Your study kit is ready.";
    case "failed":
      return "Processing stopped. See the step marked Failed.";
    case "queued":
      return "Waiting for its turn. You can leave this page; processing goes on.";
    default:
      return "Processing. You can leave this page; processing goes on.";
  }
}

function elapsedText(item) {
  const started = item.dataset.started ? Date.parse(item.dataset.started) : NaN;
  if (Number.isNaN(started)) return "";
  const end = item.dataset.finished ? Date.parse(item.dataset.finished) : Date.now();
  const seconds = Math.max(0, (end - started) / 1000);
  if (!item.dataset.finished) return `${clock(seconds)} so far`;
  if (item.dataset.status === "failed") return `Stopped after ${clock(seconds)}`;
  return seconds < 1 ? "Took under a second" : `Took ${clock(seconds)}`;
}

function render(next) {
  lecture = next;
  const label = config.statusLabels[next.status] || next.status;
  if (overall.dataset.status !== next.status) {
    overall.dataset.status = next.status;
    setBadge(overallBadge, next.status, label);
    overallText.textContent = overallSentence(next.status);
    document.title = document.title.replace(/^[^:]*:/, `${label}:`);
  }
  const runs = Object.fromEntries(next.stages.map((s) => [s.stage, s]));
  for (const item of document.querySelectorAll(".flow-stage")) {
    const run = runs[item.dataset.stage];
    const status = run ? run.status : "waiting";
    const part = (name) => item.querySelector(`[data-part="${name}"]`);
    item.dataset.status = status;
    item.dataset.started = (run && run.started_at) || "";
    item.dataset.finished = (run && run.finished_at) || "";
    setBadge(part("badge"), status, config.statusLabels[status] || status);
    const progress = item.querySelector(".progress");
    progress.className = `progress progress--${status}`;
    const fraction = status === "succeeded" ? 1 : run ? run.progress : 0;
    part("bar").style.width = `${Math.round(fraction * 1000) / 10}%`;
    part("message").textContent = status === "queued" || status === "running" ? run.message : "";
    part("elapsed").textContent = elapsedText(item);
    const failure = part("failure");
    if (status === "failed" && run.error) {
      const message = stageMessage(config.messages, run.error.code);
      part("happened").textContent = message.happened;
      part("todo").textContent = message.todo;
      failure.hidden = false;
    } else {
      failure.hidden = true;
    }
  }
  document.getElementById("done").hidden = next.status !== "succeeded";
  document.getElementById("live-note").hidden = TERMINAL.has(next.status);
  if (TERMINAL.has(next.status)) stopWatching();
}

function stopWatching() {
  if (source) source.close();
  source = null;
  clearTimeout(pollTimer);
  clearTimeout(watchdog);
  pollTimer = null;
}

async function poll() {
  try {
    render(await apiFetch(`/api/v1/lectures/${encodeURIComponent(lectureId)}`));
  } catch (err) {
    if (err instanceof ApiError && err.code === "auth.required") {
      window.location.reload(); // signed out: the page sends the learner to sign in
      return;
    }
    // network or busy: keep trying
  }
  if (!TERMINAL.has(lecture.status)) pollTimer = setTimeout(poll, POLL_MS);
}

function startPolling() {
  if (source) source.close();
  source = null;
  clearTimeout(pollTimer);
  poll();
}

function watch() {
  stopWatching();
  if (typeof EventSource === "undefined") {
    startPolling();
    return;
  }
  source = new EventSource(`/api/v1/lectures/${encodeURIComponent(lectureId)}/events`);
  watchdog = setTimeout(startPolling, FIRST_EVENT_MS);
  source.addEventListener("lecture", (event) => {
    clearTimeout(watchdog);
    render(JSON.parse(event.data));
  });
  source.addEventListener("error", () => {
    // The browser reconnects by itself unless the stream was refused (e.g. 404, 503).
    if (source && source.readyState === EventSource.CLOSED && !TERMINAL.has(lecture.status)) {
      startPolling();
    }
  });
}

async function retry(event) {
  event.preventDefault();
  const button = event.target.querySelector("button");
  button.disabled = true;
  try {
    render(
      await apiFetch(`/api/v1/lectures/${encodeURIComponent(lectureId)}/retry`, { method: "POST" }),
    );
    watch();
  } catch (err) {
    const code = err instanceof ApiError ? err.code : "http.error";
    const message = learnerMessage(config.messages, code === "network" ? "service.busy" : code);
    const item = event.target.closest(".flow-stage");
    item.querySelector('[data-part="happened"]').textContent = message.happened;
    item.querySelector('[data-part="todo"]').textContent = message.todo;
    if (code === "lecture.nothing_to_retry") watch();
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll('[data-part="retry-form"]')) {
  form.addEventListener("submit", retry);
}

// Elapsed times tick every second for the stage that is running.
setInterval(() => {
  for (const item of document.querySelectorAll(".flow-stage")) {
    const el = item.querySelector('[data-part="elapsed"]');
    const text = elapsedText(item);
    if (el.textContent !== text) el.textContent = text;
  }
}, 1000);

// Coming back to the page (phone unlocked, tab shown): make sure it is live again.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && !TERMINAL.has(lecture.status) && !source && !pollTimer) {
    watch();
  }
});

render(lecture);
if (!TERMINAL.has(lecture.status)) watch();
