// Flashcard study mode: one card at a time from the deck the page lists. Flip it (the button,
// a tap on the card, Space or Enter), then "Again" (the card comes back at the end of the
// deck) or "Got it". Progress reads "Card 3 of 20"; cards marked again add to the count.
// Without this script the page is a plain list of cards with their answers folded away.

const section = document.getElementById("study");
const deckItems = Array.from(document.querySelectorAll(".deck__card"));

const cards = deckItems.map((li) => ({
  front: li.dataset.front,
  back: li.dataset.back,
  href: li.dataset.href,
  clock: li.dataset.clock,
}));

const progress = document.getElementById("study-progress");
const bar = document.getElementById("study-bar");
const card = document.getElementById("flashcard");
const side = document.getElementById("flashcard-side");
const face = document.getElementById("flashcard-face");
const source = document.getElementById("flashcard-source");
const flip = document.getElementById("flip");
const grades = document.getElementById("grades");
const again = document.getElementById("again");
const gotIt = document.getElementById("got-it");
const done = document.getElementById("study-done");
const doneText = document.getElementById("study-done-text");
const restart = document.getElementById("restart");

let queue = [];
let step = 0;
let learned = 0;
let repeats = 0;
let showingBack = false;

function render() {
  const current = cards[queue[step]];
  showingBack = false;
  card.classList.remove("is-flipped");
  side.textContent = "Question";
  face.textContent = current.front;
  source.replaceChildren();
  flip.textContent = "Show answer";
  flip.setAttribute("aria-pressed", "false");
  grades.hidden = true;
  progress.textContent = `Card ${step + 1} of ${queue.length}`;
  bar.value = learned;
  bar.setAttribute("aria-valuetext", `${learned} of ${cards.length} learned`);
}

function turn() {
  if (done.hidden === false) return;
  const current = cards[queue[step]];
  showingBack = !showingBack;
  card.classList.toggle("is-flipped", showingBack);
  side.textContent = showingBack ? "Answer" : "Question";
  face.textContent = showingBack ? current.back : current.front;
  flip.textContent = showingBack ? "Show question" : "Show answer";
  flip.setAttribute("aria-pressed", String(showingBack));
  source.replaceChildren();
  if (showingBack && current.href) {
    const link = document.createElement("a");
    link.href = current.href;
    link.textContent = `Hear it in the lecture at ${current.clock}`;
    source.append(link);
  }
  if (showingBack) grades.hidden = false;
}

function finish() {
  card.hidden = true;
  flip.hidden = true;
  grades.hidden = true;
  bar.value = learned;
  progress.textContent = `Done: ${learned} of ${cards.length} cards learned`;
  doneText.textContent =
    repeats === 0
      ? `You knew all ${cards.length} cards the first time.`
      : `You learned all ${cards.length} cards; ${repeats} needed another go.`;
  done.hidden = false;
  done.focus();
}

function grade(knewIt) {
  if (!showingBack) return;
  if (knewIt) {
    learned += 1;
  } else {
    queue.push(queue[step]);
    repeats += 1;
  }
  step += 1;
  if (step >= queue.length) {
    finish();
    return;
  }
  render();
  flip.focus();
}

function start() {
  queue = cards.map((_, index) => index);
  step = 0;
  learned = 0;
  repeats = 0;
  card.hidden = false;
  flip.hidden = false;
  done.hidden = true;
  render();
}

if (section && cards.length) {
  section.hidden = false;
  // The plain list is the page without scripts; study mode replaces it.
  document.getElementById("deck").hidden = true;
  flip.addEventListener("click", turn);
  card.addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("a")) return;
    turn();
  });
  again.addEventListener("click", () => grade(false));
  gotIt.addEventListener("click", () => grade(true));
  restart.addEventListener("click", () => {
    start();
    flip.focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target instanceof Element ? event.target : null;
    // Space and Enter on the flip button turn the card here, not through the button's own
    // activation (a click on key-up), so a key press turns it exactly once, at once.
    const control = target && target !== flip && target.closest("button, a, input, textarea, select, summary");
    if (control) {
      if (event.key !== "1" && event.key !== "2") return;
    }
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      turn();
    } else if (event.key === "1") {
      grade(false);
    } else if (event.key === "2") {
      grade(true);
    }
  });
  start();
}
