// Share an export to another app on the phone with the Web Share API (files), where the
// browser can share files; elsewhere the section stays hidden and the download buttons remain.
//
// The file is fetched on the first tap. Browsers allow share() only shortly after a tap, so
// when the download took longer the page keeps the file and asks for one more tap.

import { apiFetch, ApiError } from "/static/js/api.js";
import { sentenceFor } from "/static/js/messages.js";

const section = document.getElementById("share");
const note = document.getElementById("share-status");
const ready = new Map(); // format -> File

function canShareFiles() {
  if (!navigator.canShare || !navigator.share || typeof File !== "function") return false;
  try {
    return navigator.canShare({ files: [new File(["x"], "probe.txt", { type: "text/plain" })] });
  } catch (ignored) {
    return false;
  }
}

async function fileFor(button) {
  const fmt = button.dataset.share;
  if (ready.has(fmt)) return ready.get(fmt);
  const response = await apiFetch(button.dataset.href, { raw: true });
  const blob = await response.blob();
  const type = (blob.type || "application/octet-stream").split(";")[0];
  const file = new File([blob], button.dataset.filename, { type });
  ready.set(fmt, file);
  return file;
}

async function share(button) {
  button.disabled = true;
  note.textContent = "Preparing the file\u2026";
  try {
    const file = await fileFor(button);
    if (!navigator.canShare({ files: [file] })) {
      note.textContent = "This file type cannot be shared from this browser; use the download button above.";
      return;
    }
    await navigator.share({ files: [file], title: section.dataset.title });
    note.textContent = "";
  } catch (err) {
    if (err && err.name === "AbortError") {
      note.textContent = "";
    } else if (err && err.name === "NotAllowedError") {
      note.textContent = "The file is ready. Tap the share button again to send it.";
    } else {
      note.textContent = sentenceFor(err instanceof ApiError ? err.code : "fallback");
    }
  } finally {
    button.disabled = false;
  }
}

if (section && note && canShareFiles()) {
  section.hidden = false;
  for (const button of section.querySelectorAll("[data-share]")) {
    button.addEventListener("click", () => share(button));
  }
}
