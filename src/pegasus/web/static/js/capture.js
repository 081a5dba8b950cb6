// The Upload or Record page: a resumable upload of a picked file, or a recording saved slice
// by slice to IndexedDB and then uploaded the same way. Recordings never sent are offered
// for upload when the page is opened again.

import { byteProgress, clock, learnerMessage, timeOfDay } from "/static/js/flow-format.js";
import { Recorder, canRecord, pickMimeType } from "/static/js/recorder.js";
import * as store from "/static/js/recording-store.js";
import { startUpload } from "/static/js/upload.js";

const config = JSON.parse(document.getElementById("flow-config").textContent);
const $ = (id) => document.getElementById(id);

const form = $("upload-form");
const fileInput = $("file");
const titleInput = $("title");
const progressBox = $("upload-progress");
const bar = $("upload-bar");
const progressText = $("upload-text");
const statusText = $("upload-status");
const errorBox = $("upload-error");
let current = null; // the running upload

function busy(on) {
  for (const el of document.querySelectorAll("#upload-button, #file, #rec-start, #unsent-upload, #unsent-discard")) {
    el.disabled = on;
  }
}

function showError({ code }) {
  const message = learnerMessage(config.messages, code === "network" ? "service.busy" : code);
  $("upload-error-happened").textContent =
    code === "network" ? "Pegasus cannot be reached right now." : message.happened;
  $("upload-error-todo").textContent =
    code === "network" ? "Check your connection, then press Try again. The upload continues where it stopped." : message.todo;
  errorBox.hidden = false;
  errorBox.dataset.code = code;
  statusText.textContent = "";
  busy(false);
}

/** Upload a File (picked or made from a recording); go to the lecture's status page. */
function upload(file, { title, courseId, preset, key, onDone }) {
  errorBox.hidden = true;
  progressBox.hidden = false;
  progressText.textContent = byteProgress(0, file.size);
  statusText.textContent = "Uploading. You can keep this page open or come back later.";
  busy(true);
  current = startUpload(
    file,
    { courseId, preset, title, chunkSize: config.chunkSize, key },
    {
      onProgress(sent, total) {
        bar.value = total ? (100 * sent) / total : 0;
        progressText.textContent = byteProgress(sent, total);
        statusText.textContent = "Uploading.";
      },
      onWaiting() {
        statusText.textContent = "The connection dropped. The upload continues when you are back online.";
      },
      async onSuccess(lectureId) {
        statusText.textContent = "Uploaded. Opening the lecture…";
        if (onDone) await onDone();
        window.location.assign(`/lectures/${encodeURIComponent(lectureId)}`);
      },
      onError: showError,
    },
  );
}

$("upload-again").addEventListener("click", () => {
  errorBox.hidden = true;
  if (current && current.retry) {
    busy(true);
    current.retry();
  }
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = fileInput.files && fileInput.files[0];
  if (!file) {
    errorBox.hidden = false;
    $("upload-error-happened").textContent = "No file is selected.";
    $("upload-error-todo").textContent = "Choose a recording or video, then press Upload.";
    fileInput.focus();
    return;
  }
  if (file.size > config.maxBytes) {
    showError({ code: "media.too_large" });
    return;
  }
  upload(file, {
    title: titleInput.value.trim(),
    courseId: config.courseId,
    preset: config.preset,
  });
});

// --- recordings ------------------------------------------------------------------------

function extensionOf(mimeType) {
  return mimeType.startsWith("audio/mp4") ? "m4a" : mimeType.includes("ogg") ? "ogg" : "webm";
}

async function uploadSaved(recordingId) {
  const { recording, blob } = await store.loadRecording(recordingId);
  if (!recording || blob.size === 0) return;
  const started = new Date(recording.startedAt);
  const name = `Recording ${started.toISOString().slice(0, 16).replace("T", " ")}.${extensionOf(recording.mimeType)}`;
  const file = new File([blob], name, {
    type: recording.mimeType.split(";")[0],
    lastModified: started.getTime(),
  });
  upload(file, {
    title: recording.title || titleInput.value.trim() || `Recording of ${started.toLocaleString()}`,
    courseId: recording.courseId,
    preset: recording.preset,
    key: `recording:${recording.id}:${blob.size}`,
    // The saved copy is deleted only once the server has every byte.
    onDone: () => store.deleteRecording(recording.id),
  });
}

async function offerUnsent() {
  if (!store.available()) return;
  let unsent = [];
  try {
    unsent = await store.listRecordings();
  } catch (ignored) {
    return; // private mode without IndexedDB: nothing could have been saved
  }
  const box = $("unsent");
  const first = unsent[0];
  if (!first) {
    box.hidden = true;
    return;
  }
  const more = unsent.length > 1 ? ` (and ${unsent.length - 1} more)` : "";
  $("unsent-text").textContent =
    `You have an unsent recording of ${clock(first.seconds)} from ${timeOfDay(new Date(first.startedAt))}${more}. ` +
    "Upload it now, or discard it.";
  box.dataset.recordingId = first.id;
  box.hidden = false;
}

$("unsent-upload").addEventListener("click", () => {
  const id = $("unsent").dataset.recordingId;
  $("unsent").hidden = true;
  if (id) uploadSaved(id);
});

$("unsent-discard").addEventListener("click", async () => {
  const id = $("unsent").dataset.recordingId;
  if (id && window.confirm("Discard this recording? It cannot be brought back.")) {
    await store.deleteRecording(id);
    await offerUnsent();
  }
});

function setupRecorder() {
  if (!canRecord() || !store.available() || pickMimeType() === null) return;
  $("record-unavailable").hidden = true;
  $("recorder").hidden = false;
  const buttons = {
    start: $("rec-start"),
    pause: $("rec-pause"),
    resume: $("rec-resume"),
    stop: $("rec-stop"),
    upload: $("rec-upload"),
    discard: $("rec-discard"),
  };
  const stateText = $("rec-state");
  const timeText = $("rec-time");
  const level = $("rec-level");
  let recorder = null;
  let recording = null;
  let timer = null;

  const show = (...names) => {
    for (const [name, button] of Object.entries(buttons)) button.hidden = !names.includes(name);
  };
  const tick = () => {
    if (recorder) timeText.textContent = clock(recorder.elapsedSeconds());
  };

  buttons.start.addEventListener("click", async () => {
    stateText.textContent = "Asking for the microphone…";
    recorder = new Recorder({
      onSlice: (blob, seq, seconds) =>
        store.addSlice(recording.id, seq, blob, seconds).catch(() => {
          stateText.textContent =
            "This device could not save the recording as it goes. Keep the page open until you upload.";
        }),
      onLevel: (value) => {
        level.style.width = `${Math.round(value * 100)}%`;
      },
      onState: (state) => {
        document.body.dataset.recorder = state;
      },
    });
    try {
      recording = await store.createRecording({
        courseId: config.courseId,
        preset: config.preset,
        title: titleInput.value.trim(),
        mimeType: pickMimeType() || "audio/webm",
      });
      await recorder.start();
      await store.updateRecording(recording.id, { mimeType: recorder.mimeType });
    } catch (err) {
      if (recording) await store.deleteRecording(recording.id);
      recorder = null;
      stateText.textContent =
        "Pegasus cannot use the microphone. Allow microphone access for this site in your browser's settings, or upload a file instead.";
      return;
    }
    timer = setInterval(tick, 250);
    stateText.textContent = "Recording. What you record is saved every few seconds.";
    show("pause", "stop", "discard");
    busy(true);
  });

  buttons.pause.addEventListener("click", () => {
    recorder.pause();
    tick();
    stateText.textContent = "Paused.";
    show("resume", "stop", "discard");
  });

  buttons.resume.addEventListener("click", () => {
    recorder.resume();
    stateText.textContent = "Recording.";
    show("pause", "stop", "discard");
  });

  buttons.stop.addEventListener("click", async () => {
    await recorder.stop();
    clearInterval(timer);
    tick();
    await store.updateRecording(recording.id, { stopped: true, seconds: recorder.elapsedSeconds() });
    stateText.textContent = `Recorded ${clock(recorder.elapsedSeconds())}. Upload it now; it stays saved on this device until it is uploaded.`;
    show("upload", "discard");
    buttons.upload.focus();
  });

  buttons.upload.addEventListener("click", () => {
    show();
    stateText.textContent = "Uploading the recording.";
    uploadSaved(recording.id);
  });

  buttons.discard.addEventListener("click", async () => {
    if (!window.confirm("Discard this recording? It cannot be brought back.")) return;
    await recorder.discard();
    clearInterval(timer);
    await store.deleteRecording(recording.id);
    recorder = null;
    recording = null;
    timeText.textContent = clock(0);
    stateText.textContent = "Discarded. Ready to record.";
    show("start");
    busy(false);
  });
}

setupRecorder();
offerUnsent();
