// Recordings kept in IndexedDB slice by slice, so a crash, a reload or a locked phone loses
// at most the slice being recorded. A recording stays here until its upload has completed.
//
//   recordings: {id, courseId, preset, title, mimeType, startedAt, updatedAt, seconds,
//                slices, stopped}
//   slices:     {recordingId, seq, data (ArrayBuffer)}   key [recordingId, seq]
//
// Slices are stored as ArrayBuffers: every browser stores those (some Safari versions could
// not store Blobs in IndexedDB).

const DB_NAME = "pegasus-recordings";
const DB_VERSION = 1;

let opened = null;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

export function available() {
  return typeof indexedDB !== "undefined";
}

function db() {
  if (!opened) {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const database = request.result;
      if (!database.objectStoreNames.contains("recordings")) {
        database.createObjectStore("recordings", { keyPath: "id" });
      }
      if (!database.objectStoreNames.contains("slices")) {
        database.createObjectStore("slices", { keyPath: ["recordingId", "seq"] });
      }
    };
    opened = promised(request);
  }
  return opened;
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

/** Start a recording's entry; returns it (with its new id). */
export async function createRecording({ courseId, preset, title, mimeType }) {
  const now = new Date().toISOString();
  const recording = {
    id: newId(),
    courseId,
    preset,
    title: title || "",
    mimeType,
    startedAt: now,
    updatedAt: now,
    seconds: 0,
    slices: 0,
    stopped: false,
  };
  const tx = (await db()).transaction("recordings", "readwrite");
  tx.objectStore("recordings").put(recording);
  await done(tx);
  return recording;
}

/** Store slice ``seq`` of a recording and its length so far, in one transaction. */
export async function addSlice(recordingId, seq, blob, seconds) {
  const data = await blob.arrayBuffer();
  const tx = (await db()).transaction(["recordings", "slices"], "readwrite");
  tx.objectStore("slices").put({ recordingId, seq, data });
  const recordings = tx.objectStore("recordings");
  const recording = await promised(recordings.get(recordingId));
  if (recording) {
    recording.slices = Math.max(recording.slices, seq + 1);
    recording.seconds = Math.max(recording.seconds, seconds);
    recording.updatedAt = new Date().toISOString();
    recordings.put(recording);
  }
  await done(tx);
}

/** Change fields of a recording (e.g. ``{stopped: true, seconds}``). */
export async function updateRecording(recordingId, changes) {
  const tx = (await db()).transaction("recordings", "readwrite");
  const store = tx.objectStore("recordings");
  const recording = await promised(store.get(recordingId));
  if (recording) store.put({ ...recording, ...changes, updatedAt: new Date().toISOString() });
  await done(tx);
}

/** Every recording not yet uploaded, oldest first (only those with at least one slice). */
export async function listRecordings() {
  const tx = (await db()).transaction("recordings", "readonly");
  const all = await promised(tx.objectStore("recordings").getAll());
  return all.filter((r) => r.slices > 0).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** The recording's slices joined into one Blob of its type, and the recording. */
export async function loadRecording(recordingId) {
  const tx = (await db()).transaction(["recordings", "slices"], "readonly");
  const recording = await promised(tx.objectStore("recordings").get(recordingId));
  const range = IDBKeyRange.bound([recordingId, 0], [recordingId, Number.MAX_SAFE_INTEGER]);
  const slices = await promised(tx.objectStore("slices").getAll(range));
  slices.sort((a, b) => a.seq - b.seq);
  const blob = new Blob(
    slices.map((s) => s.data),
    { type: (recording && recording.mimeType) || "audio/webm" },
  );
  return { recording, blob };
}

/** Remove a recording and its slices (after its upload completed, or when discarded). */
export async function deleteRecording(recordingId) {
  const tx = (await db()).transaction(["recordings", "slices"], "readwrite");
  tx.objectStore("recordings").delete(recordingId);
  tx.objectStore("slices").delete(
    IDBKeyRange.bound([recordingId, 0], [recordingId, Number.MAX_SAFE_INTEGER]),
  );
  await done(tx);
}
