// Quiz practice mode: choose an option, see at once whether it is right, with the
// explanation and a link that plays the lecture where the answer was said; after the last
// question, the score. Without this script each question has its answer folded away.

const quiz = document.getElementById("quiz");
const items = quiz ? Array.from(quiz.querySelectorAll(".quiz__item")) : [];
const scoreBox = document.getElementById("quiz-score");
const scoreText = document.getElementById("quiz-score-text");
const restart = document.getElementById("quiz-restart");
const LETTERS = "ABCD";

let answered = 0;
let right = 0;

function choose(item, button) {
  if (item.dataset.chosen) return;
  const answer = Number.parseInt(item.dataset.answer, 10);
  const chosen = Number.parseInt(button.dataset.index, 10);
  const correct = chosen === answer;
  item.dataset.chosen = String(chosen);
  item.classList.add(correct ? "is-right" : "is-wrong");
  const options = Array.from(item.querySelectorAll(".quiz__option"));
  for (const option of options) {
    const index = Number.parseInt(option.dataset.index, 10);
    option.setAttribute("aria-disabled", "true");
    if (index === answer) option.classList.add("is-answer");
    if (index === chosen) {
      option.classList.add("is-chosen");
      option.setAttribute("aria-pressed", "true");
    }
  }
  const feedback = item.querySelector(".quiz__feedback");
  const answerText = item.querySelector(`.quiz__option[data-index="${answer}"] .quiz__text`);
  feedback.replaceChildren();
  const verdict = document.createElement("p");
  verdict.className = `quiz__verdict ${correct ? "quiz__verdict--right" : "quiz__verdict--wrong"}`;
  verdict.textContent = correct
    ? "Right."
    : `Not quite. The answer is ${LETTERS[answer]}: ${answerText ? answerText.textContent : ""}`;
  const explanation = document.createElement("p");
  explanation.textContent = item.querySelector(".quiz__explanation").textContent;
  const link = item.querySelector(".quiz__source").cloneNode(true);
  const where = document.createElement("p");
  where.append(link);
  feedback.append(verdict, explanation, where);
  item.querySelector(".quiz__answer").hidden = true;
  answered += 1;
  if (correct) right += 1;
  if (answered === items.length) showScore();
}

function showScore() {
  const percent = Math.round((100 * right) / items.length);
  scoreText.textContent = `You got ${right} of ${items.length} right (${percent}%).`;
  scoreBox.hidden = false;
  scoreBox.focus();
}

function reset() {
  answered = 0;
  right = 0;
  for (const item of items) {
    delete item.dataset.chosen;
    item.classList.remove("is-right", "is-wrong");
    item.querySelector(".quiz__feedback").replaceChildren();
    item.querySelector(".quiz__answer").hidden = true;
    for (const option of item.querySelectorAll(".quiz__option")) {
      option.classList.remove("is-answer", "is-chosen");
      option.removeAttribute("aria-disabled");
      option.setAttribute("aria-pressed", "false");
    }
  }
  scoreBox.hidden = true;
  const first = items[0] && items[0].querySelector(".quiz__option");
  if (first) first.focus();
}

if (quiz && items.length) {
  for (const item of items) {
    // Practice mode answers through the options; the folded answer is the no-script way.
    item.querySelector(".quiz__answer").hidden = true;
    for (const option of item.querySelectorAll(".quiz__option")) {
      option.disabled = false;
      option.setAttribute("aria-pressed", "false");
      option.addEventListener("click", () => choose(item, option));
    }
  }
  if (restart) restart.addEventListener("click", reset);
  quiz.dataset.ready = "true";
}
