// Recording from the microphone with MediaRecorder: slices every few seconds (each handed to
// onSlice as it arrives), elapsed time without pauses, a sound level, and a screen wake lock
// held while recording and requested again whenever the page becomes visible.

/** Slice length: a crash or a locked phone loses at most this much. */
export const SLICE_MS = 3000;

/** The type to record: webm/opus where the browser can, else mp4/aac (iOS Safari). */
export function pickMimeType() {
  if (typeof MediaRecorder === "undefined") return null;
  const candidates = ["audio/webm;codecs=opus", "audio/mp4", "audio/webm", "audio/ogg;codecs=opus"];
  for (const type of candidates) {
    if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(type)) return type;
  }
  return "";
}

export function canRecord() {
  return (
    typeof MediaRecorder !== "undefined" &&
    !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)
  );
}

export class Recorder {
  /**
   * @param {object} handlers onSlice(blob, seq, seconds) -> Promise, onLevel(0..1),
   *   onState(state) with state one of "recording", "paused", "stopped".
   */
  constructor({ onSlice, onLevel, onState }) {
    this.onSlice = onSlice;
    this.onLevel = onLevel || (() => {});
    this.onState = onState || (() => {});
    this.state = "idle";
    this.seq = 0;
    this.accumulatedMs = 0;
    this.resumedAt = null;
    this.pendingSaves = [];
    this.wakeLock = null;
    this._visibility = (event) => this._onVisibility(event);
  }

  /** Ask for the microphone and start; rejects if the learner refuses it. */
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    this.mimeType = pickMimeType();
    const options = this.mimeType ? { mimeType: this.mimeType } : {};
    this.media = new MediaRecorder(this.stream, options);
    this.mimeType = this.media.mimeType || this.mimeType || "audio/webm";
    this.media.ondataavailable = (event) => {
      if (!event.data || event.data.size === 0) return;
      const seq = this.seq++;
      this.pendingSaves.push(Promise.resolve(this.onSlice(event.data, seq, this.elapsedSeconds())));
    };
    this._startLevel();
    this.media.start(SLICE_MS);
    this.resumedAt = performance.now();
    this._setState("recording");
    document.addEventListener("visibilitychange", this._visibility);
    window.addEventListener("pagehide", this._visibility);
    await this._lockScreen();
  }

  elapsedSeconds() {
    const running = this.resumedAt === null ? 0 : performance.now() - this.resumedAt;
    return (this.accumulatedMs + running) / 1000;
  }

  pause() {
    if (this.state !== "recording") return;
    this.media.pause();
    this.media.requestData();
    this.accumulatedMs += performance.now() - this.resumedAt;
    this.resumedAt = null;
    this._setState("paused");
  }

  resume() {
    if (this.state !== "paused") return;
    this.media.resume();
    this.resumedAt = performance.now();
    this._setState("recording");
    this._lockScreen();
  }

  /** Stop; resolves once the last slice has been handed over and saved. */
  async stop() {
    if (this.state === "idle" || this.state === "stopped") return;
    const stopped = new Promise((resolve) => {
      this.media.addEventListener("stop", resolve, { once: true });
    });
    if (this.resumedAt !== null) this.accumulatedMs += performance.now() - this.resumedAt;
    this.resumedAt = null;
    this.media.stop();
    await stopped;
    await Promise.all(this.pendingSaves);
    this._release();
    this._setState("stopped");
  }

  /** Stop without keeping anything (the caller deletes what was saved). */
  async discard() {
    this.onSlice = () => Promise.resolve();
    await this.stop();
  }

  _setState(state) {
    this.state = state;
    this.onState(state);
  }

  _startLevel() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    this.audio = new Context();
    const source = this.audio.createMediaStreamSource(this.stream);
    const analyser = this.audio.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      if (this.state === "stopped" || !this.audio) return;
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const rms = Math.sqrt(sum / samples.length);
      // Speech sits around 0.02-0.3 RMS; a square root spreads it over the meter.
      this.onLevel(this.state === "recording" ? Math.min(1, Math.sqrt(rms * 3)) : 0);
      this.levelFrame = requestAnimationFrame(tick);
    };
    this.levelFrame = requestAnimationFrame(tick);
  }

  async _lockScreen() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    if (this.wakeLock && !this.wakeLock.released) return;
    try {
      this.wakeLock = await navigator.wakeLock.request("screen");
    } catch (ignored) {
      // Refused (battery saver, no user gesture): recording goes on; slices are saved anyway.
      this.wakeLock = null;
    }
  }

  _onVisibility(event) {
    if (this.state !== "recording" && this.state !== "paused") return;
    if (document.visibilityState === "hidden" || event.type === "pagehide") {
      // Save what has been recorded so far now: the page may not come back.
      if (this.state === "recording") this.media.requestData();
    } else if (this.state === "recording") {
      this._lockScreen(); // the browser dropped the lock while the page was hidden
    }
  }

  _release() {
    document.removeEventListener("visibilitychange", this._visibility);
    window.removeEventListener("pagehide", this._visibility);
    if (this.levelFrame) cancelAnimationFrame(this.levelFrame);
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.audio) this.audio.close().catch(() => {});
    this.audio = null;
    if (this.wakeLock) this.wakeLock.release().catch(() => {});
    this.wakeLock = null;
    this.onLevel(0);
  }
}
