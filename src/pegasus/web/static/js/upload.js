// Resumable upload to Pegasus's tus endpoint with the vendored tus-js-client (global `tus`,
// loaded by a classic <script> before this module).
//
// The upload's URL is remembered in localStorage under a fingerprint of the file, the course
// and the preset, so a reload, a dropped connection or a closed tab continues from the byte
// the server has (it answers HEAD with Upload-Offset). When the last byte has arrived the
// server creates the lecture and names it in the `Pegasus-Lecture-Id` response header.

import { csrfToken } from "/static/js/api.js";

export const ENDPOINT = "/api/v1/uploads";
/** Waits between automatic retries of a failed request (ms). */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
const LECTURE_HEADER = "Pegasus-Lecture-Id";

/** Statuses worth retrying: the server or the network, not the request itself. */
function shouldRetry(err) {
  if (!navigator.onLine) return false; // onError waits for the "online" event instead
  const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
  if (status === 0 || status >= 500) return true;
  return status === 409 || status === 423 || status === 429;
}

/** The error body Pegasus sends, as {status, code}; network failures are code "network". */
export function errorOf(err) {
  const response = err && err.originalResponse;
  if (!response) return { status: 0, code: "network" };
  const status = response.getStatus();
  let code = status === 413 ? "media.too_large" : "http.error";
  try {
    const body = JSON.parse(response.getBody() || "{}");
    if (body && body.error && body.error.code) code = body.error.code;
  } catch (ignored) {
    // not Pegasus's JSON (a proxy's page): keep the status-based code
  }
  return { status, code };
}

/**
 * Start (or continue) uploading `file` for a new lecture.
 *
 * handlers: onProgress(sent, total), onSuccess(lectureId), onError({status, code}),
 *           onWaiting() while offline between attempts.
 * Returns {abort()}.
 */
export function startUpload(file, { courseId, preset, title, chunkSize, key }, handlers) {
  if (typeof window.tus === "undefined") {
    handlers.onError({ status: 0, code: "http.error" });
    return { abort() {} };
  }
  let lectureId = null;
  let stopped = false;
  const identity = key || [file.name, file.type, file.size, file.lastModified].join("|");

  const upload = new window.tus.Upload(file, {
    endpoint: ENDPOINT,
    chunkSize,
    retryDelays: RETRY_DELAYS,
    metadata: {
      filename: file.name || "recording",
      filetype: file.type || "application/octet-stream",
      course_id: courseId,
      preset,
      title: title || "",
    },
    headers: { "X-CSRF-Token": csrfToken() },
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    fingerprint: () => Promise.resolve(["pegasus", courseId, preset, identity].join("::")),
    onShouldRetry: (err) => shouldRetry(err),
    onProgress: (sent, total) => handlers.onProgress(sent, total),
    onAfterResponse: (req, res) => {
      const id = res.getHeader(LECTURE_HEADER);
      if (id) lectureId = id;
    },
    onSuccess: async () => {
      if (!lectureId && upload.url) lectureId = await askForLecture(upload.url);
      if (lectureId) handlers.onSuccess(lectureId);
      else handlers.onError({ status: 0, code: "http.error" });
    },
    onError: (err) => {
      if (stopped) return;
      if (!navigator.onLine) {
        // Out of retries while offline: continue as soon as the connection is back.
        handlers.onWaiting();
        window.addEventListener("online", () => !stopped && upload.start(), { once: true });
        return;
      }
      handlers.onError(errorOf(err));
    },
  });

  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
  return {
    abort() {
      stopped = true;
      upload.abort();
    },
    retry() {
      stopped = false;
      upload.start();
    },
  };
}

/** HEAD of a finished upload names its lecture (the final PATCH's answer may be lost). */
async function askForLecture(url) {
  try {
    const response = await fetch(url, {
      method: "HEAD",
      headers: { "Tus-Resumable": "1.0.0" },
      credentials: "same-origin",
    });
    return response.headers.get(LECTURE_HEADER);
  } catch (ignored) {
    return null;
  }
}
