"""Transcripts built by hand for study-kit tests: the photosynthesis lecture, a longer
three-part geology lecture, and a builder that times every word the same way."""

from __future__ import annotations

import string

from pegasus.studykit import KeyTerm, StudyKit
from pegasus.transcription.schemas import Segment, Transcript, Word

LECTURE = [
    "Good morning, everyone, and welcome back.",
    "Today we are going to talk about photosynthesis.",
    "Photosynthesis is the process that plants use to turn light energy into chemical energy.",
    "It happens inside the chloroplast, a small organelle found in leaf cells.",
    "Chlorophyll is a green pigment that absorbs red and blue light.",
    "Because chlorophyll reflects green light, leaves look green to us.",
    "Photosynthesis has two stages, called the light reactions and the Calvin cycle.",
    "The light reactions are the first stage, and they take place in the thylakoid membranes.",
    "In the light reactions, chlorophyll captures light energy and splits water, releasing oxygen.",
    "The light reactions also make ATP and NADPH, which carry energy to the second stage.",
    "The Calvin cycle is the second stage, and it happens in the stroma of the chloroplast.",
    "During the Calvin cycle, the enzyme rubisco fixes carbon dioxide into sugar.",
    "So the light reactions capture energy, and the Calvin cycle uses it to build glucose.",
    "Okay, that's it for today.",
]

WORD_SECONDS = 0.4
GAP_SECONDS = 0.5


def make_transcript(
    phrases: list[str], *, with_words: bool = True, leading_space: bool = False
) -> Transcript:
    """One segment per phrase, words 0.4 s apart (0.3 s long), 0.5 s pause between segments."""
    segments = []
    t = 1.0
    for phrase in phrases:
        start = t
        words = []
        for token in phrase.split():
            text = f" {token}" if leading_space else token
            words.append(Word(start=round(t, 3), end=round(t + 0.3, 3), word=text))
            t += WORD_SECONDS
        end = round(t - WORD_SECONDS + 0.3, 3)
        segments.append(
            Segment(
                start=round(start, 3),
                end=end,
                text=f" {phrase}",
                words=words if with_words else [],
            )
        )
        t = end + GAP_SECONDS
    return Transcript(language="en", duration_seconds=round(t, 3), segments=segments)


def first_word(transcript: Transcript, wanted: str) -> Word:
    """The first spoken word equal to ``wanted`` (case and punctuation ignored)."""
    for segment in transcript.segments:
        for word in segment.words:
            if word.word.strip().strip(string.punctuation).lower() == wanted:
                return word
    raise AssertionError(f"{wanted!r} is not in the transcript")


def segment_of(transcript: Transcript, sentence: str) -> Segment:
    return next(s for s in transcript.segments if s.text.strip() == sentence)


def terms_of(kit: StudyKit) -> dict[str, KeyTerm]:
    return {t.term.lower(): t for t in kit.key_terms}


#: Three parts about different things; each opens with a cue phrase or a clear change of
#: vocabulary and lasts about a minute at 0.4 s a word.
GEOLOGY = [
    [
        "Good morning, today we start with volcanoes.",
        "A volcano is an opening in the crust where molten rock reaches the surface.",
        "Magma is molten rock that is still underground, inside the volcano.",
        "When magma erupts and flows over the surface, we call it lava.",
        "Lava cools quickly in the open air and hardens into basalt.",
        "Basalt is a dark, fine grained rock that covers most of the ocean floor.",
        "Most volcanoes sit where tectonic plates pull apart or push together.",
        "Tectonic plates are the huge slabs of crust that drift slowly over the mantle.",
        "A volcano that has not erupted for thousands of years is called dormant.",
        "The magma chamber beneath a dormant volcano can still fill with fresh magma.",
        "Gas trapped in thick magma makes an eruption explosive and dangerous.",
        "Thin runny lava escapes gently and builds wide shield volcanoes.",
    ],
    [
        "Next, let's talk about glaciers and the ice ages.",
        "A glacier is a slow river of ice that forms where snow never melts.",
        "Each winter fresh snow presses the older snow below into dense glacier ice.",
        "Glacier ice moves downhill under its own weight, a few metres every day.",
        "As it moves, the glacier scrapes the valley floor and plucks loose boulders.",
        "The rubble a glacier pushes and leaves behind is known as a moraine.",
        "A terminal moraine marks the furthest point the glacier ice ever reached.",
        "Glaciers carve deep valleys with steep sides and a flat floor.",
        "A valley carved by glacier ice has a U shape, unlike a river valley.",
        "During the ice ages, glacier ice covered much of northern Europe.",
        "Melting glacier ice today raises the sea level around the world.",
        "Scientists drill ice cores to read the climate of past ice ages.",
    ],
    [
        "Finally, rivers shape the land more than any glacier.",
        "Erosion refers to the wearing away of rock and soil by water, wind or ice.",
        "A fast river carries sand and pebbles that grind its bed deeper.",
        "On flat land the river slows down and starts to swing from side to side.",
        "A meander is a wide loop in the channel of a slow river.",
        "The outer bank of a meander erodes, while the inner bank collects sand.",
        "Over time two meanders can join, and the old loop becomes an oxbow lake.",
        "Where a river meets the sea it drops its load of sand and mud.",
        "The fan of new land that grows at the river mouth is called a delta.",
        "The Nile delta has fed farmers for thousands of years.",
        "Floods spread fresh mud across the delta and keep the soil rich.",
        "River erosion, glacier ice and volcanoes together build the landscape we see.",
    ],
]
GEOLOGY_SENTENCES = [sentence for part in GEOLOGY for sentence in part]


def part_starts(transcript: Transcript) -> list[float]:
    """When each GEOLOGY part's first sentence starts in ``transcript`` (seconds)."""
    starts = []
    index = 0
    for part in GEOLOGY:
        starts.append(transcript.segments[index].start)
        index += len(part)
    return starts
