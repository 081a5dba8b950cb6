// Small formatting helpers shared by the flow pages' scripts.

/** Seconds as m:ss, or h:mm:ss from an hour on. */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Bytes as megabytes with one decimal (1 MB = 1,000,000 bytes, as phones show sizes). */
export function megabytes(bytes) {
  return (bytes / 1e6).toFixed(1);
}

/** "12.3 of 48.0 MB" */
export function byteProgress(sent, total) {
  return `${megabytes(sent)} of ${megabytes(total)} MB`;
}

/** A time of day as the learner's device writes it, e.g. 10:02. */
export function timeOfDay(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** The learner's message {happened, todo, action} for an error code, from the table the
 *  server embeds in the page (pegasus.web.messages.client_table). */
export function learnerMessage(table, code) {
  const codes = table.codes || {};
  if (codes[code]) return codes[code];
  const family = (table.families || {})[String(code || "").split(".")[0]];
  return codes[family] || table.fallback;
}

/** The message for a failed processing step (pegasus.web.messages.stage_message_for). */
export function stageMessage(table, code) {
  const stageCodes = new Set(table.stageCodes || []);
  const codes = table.codes || {};
  if (stageCodes.has(code)) return codes[code];
  const family = (table.families || {})[String(code || "").split(".")[0]];
  return codes[stageCodes.has(family) ? family : table.stageFallback];
}
