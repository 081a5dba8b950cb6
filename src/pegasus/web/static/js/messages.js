// The learner's sentences for error codes, as the server put them into the page
// (<script type="application/json" id="learner-messages">, from pegasus.web.messages).
//
//   import { messageFor } from "/static/js/messages.js";
//   const { happened, todo } = messageFor(err.code);

let table = null;

function load() {
  if (table) return table;
  table = {};
  const node = document.getElementById("learner-messages");
  if (node) {
    try {
      table = JSON.parse(node.textContent || "{}");
    } catch (ignored) {
      table = {};
    }
  }
  return table;
}

const LAST_RESORT = {
  happened: "Something went wrong.",
  todo: "Reload the page and try again.",
};

export function messageFor(code) {
  const messages = load();
  if (code === "network") {
    return {
      happened: "Pegasus cannot be reached.",
      todo: "Check your connection and try again. Nothing you typed is lost.",
    };
  }
  return messages[code] || messages.fallback || LAST_RESORT;
}

// One sentence pair as text: "What happened. What to do."
export function sentenceFor(code) {
  const { happened, todo } = messageFor(code);
  return `${happened} ${todo}`;
}
