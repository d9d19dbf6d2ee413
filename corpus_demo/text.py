"""Text pools: the sentences pages are written from, the ones held back for prose_cloze, and word edits."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from corpus.prose import stdlib_headings, stdlib_sentences
from corpus_demo.config import DemoConfig, rng_for


@dataclass(frozen=True)
class TextPool:
    """Sentences for documents, and sentences held back for the prose_cloze benchmark."""

    document_sentences: tuple[str, ...]
    cloze_sentences: tuple[str, ...]
    vocabulary: tuple[str, ...]  # words to substitute/insert when editing near duplicates
    headings: tuple[str, ...]
    short_sentences: tuple[str, ...]  # sentences of at most 12 words, for thin pages

    @classmethod
    def build(cls, config: DemoConfig) -> TextPool:
        sentences = list(stdlib_sentences())
        rng_for(config, "sentence-split").shuffle(sentences)
        reserved = int(len(sentences) * config.cloze_sentence_share)
        cloze = sentences[:reserved]
        # The stdlib repeats itself ("This is a powerful way to inspect the program being debugged"):
        # drop document sentences sharing a 13-gram with a cloze sentence, so contamination is only planted.
        cloze_grams = set().union(*(word_ngrams(s, 13) for s in cloze))
        documents = tuple(s for s in sentences[reserved:] if cloze_grams.isdisjoint(word_ngrams(s, 13)))
        vocabulary = sorted({w.strip('.,;:()"\'').lower() for s in documents for w in s.split()} - {""})
        return cls(documents, tuple(cloze), tuple(vocabulary), stdlib_headings(),
                   tuple(s for s in documents if len(s.split()) <= 12))

    def paragraphs(self, rng: random.Random, words: int, paragraphs: int) -> list[str]:
        """About `words` words in `paragraphs` paragraphs of sentences sampled without replacement."""
        chosen: list[str] = []
        used: set[int] = set()
        total = 0
        while total < words and len(used) < len(self.document_sentences):
            index = rng.randrange(len(self.document_sentences))
            if index not in used:
                used.add(index)
                chosen.append(self.document_sentences[index])
                total += len(chosen[-1].split())
        paragraphs = max(1, min(paragraphs, len(chosen)))
        cuts = sorted(rng.sample(range(1, len(chosen)), paragraphs - 1)) if paragraphs > 1 else []
        bounds = [0, *cuts, len(chosen)]
        return [" ".join(chosen[a:b]) for a, b in zip(bounds, bounds[1:])]

    def title(self, rng: random.Random) -> str:
        heading = rng.choice(self.headings)
        pattern = rng.choice(("{h}", "Notes on {l}", "{h}: what you need to know", "A closer look at {l}",
                              "Understanding {l}", "{h} explained", "How {l} works", "Ask the expert: {l}"))
        return pattern.format(h=heading, l=heading[0].lower() + heading[1:])


def edit_words(text: str, fraction: float, rng: random.Random, vocabulary: tuple[str, ...]) -> tuple[str, float]:
    """Edit round(fraction * words) word positions of `text` (replace, insert after, or delete).

    Edited positions are never adjacent, so a word-level diff (difflib) sees each edit on its own and
    measures about the recorded fraction; fractions up to 0.5 are possible. Paragraph breaks ("\\n\\n")
    are kept. Returns the edited text and the edit fraction applied (edits / words of the original),
    which is what truth.json records.
    """
    paragraphs = [p.split() for p in text.split("\n\n")]
    positions = [(p, w) for p, words in enumerate(paragraphs) for w in range(len(words))]
    edits = max(1, round(fraction * len(positions))) if fraction > 0 else 0
    assert 2 * edits <= len(positions) + 1, f"cannot spread {edits} edits over {len(positions)} words"
    # Sorted draws from a range shortened by edits - 1, then shifted by rank: a gap of >= 1 word between.
    spread = [drawn + rank for rank, drawn in enumerate(sorted(rng.sample(range(len(positions) - edits + 1), edits)))]
    operations: dict[tuple[int, int], str] = {
        positions[index]: rng.choice(("replace", "replace", "insert", "delete")) for index in spread
    }

    def substitute(original: str) -> str:
        while True:
            word = rng.choice(vocabulary)
            if word != original.lower().strip('.,;:()"\''):
                return word

    edited: list[str] = []
    for p, words in enumerate(paragraphs):
        out: list[str] = []
        for w, word in enumerate(words):
            operation = operations.get((p, w))
            if operation == "replace":
                out.append(substitute(word))
            elif operation == "insert":
                out.extend((word, substitute(word)))
            elif operation != "delete":
                out.append(word)
        edited.append(" ".join(out))
    return "\n\n".join(p for p in edited if p), edits / max(1, len(positions))


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """n-grams of lowercased words, punctuation as a word break: the decontamination stage's grams."""
    words = re.sub(r"[^0-9a-z]+", " ", text.lower()).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
