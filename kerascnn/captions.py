"""Captions as model input and as a score: the vocabulary (Keras' TextVectorization with start and
end tokens) and corpus BLEU-1...4 against every reference (nltk's implementation)."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np

from kerascnn import viz

START, END = "<start>", "<end>"
_NOT_A_WORD = re.compile(r"[^a-z0-9<>' ]+")


def normalize(caption: str) -> str:
    """Lower case, punctuation to spaces, single spaces: how captions are compared and learned."""
    return " ".join(_NOT_A_WORD.sub(" ", caption.lower()).split())


def make_vocabulary(captions, *, max_length: int | None, max_tokens: int | None = None):
    """A `TextVectorization` adapted to `captions` (strings): each caption becomes
    `<start> words <end>` padded with 0 to `max_length + 2` tokens (a longer one is cut, its
    end token with it; None: as long as the longest)."""
    vectorize = vectorizer(max_length, max_tokens=max_tokens)
    vectorize.adapt(np.array([f"{START} {normalize(c)} {END}" for c in captions]))
    return vectorize


def vocabulary(captions) -> list[str]:
    """The words of `captions` by token index: padding, unknown, then the most frequent first
    (the start and end tokens among them)."""
    return make_vocabulary(captions, max_length=None).get_vocabulary()


def vectorizer(max_length: int | None, *, vocabulary=None, max_tokens: int | None = None):
    """The `TextVectorization` of `make_vocabulary`, unadapted or with a known `vocabulary`
    (index -> word, as `get_vocabulary()` returns it)."""
    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=None,
        split="whitespace",
        output_sequence_length=None if max_length is None else max_length + 2,
        vocabulary=None if vocabulary is None else list(vocabulary),
        name="vocabulary",
    )


def caption_pairs(vectorize, references: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Every (image, caption) pair of `references` (each image's captions): (image index (n,),
    tokens (n, max_length + 2))."""
    images = np.array([i for i, group in enumerate(references) for _ in group], np.int64)
    return images, to_tokens(vectorize, [c for group in references for c in group])


def to_tokens(vectorize, captions) -> np.ndarray:
    """Captions (strings) as int token sequences (n, max_length + 2)."""
    return np.asarray(vectorize(np.array([f"{START} {normalize(c)} {END}" for c in captions])))


def strings(texts) -> list[str]:
    """A tensor or array of UTF-8 byte strings (what `ShowAndTell.caption` and the export
    return) as Python strings."""
    return [text.decode("utf-8") for text in np.asarray(texts)]


def to_words(vectorize, tokens) -> list[str]:
    """Token sequences back to captions, stopping at the end token, without start or padding."""
    vocabulary = vectorize.get_vocabulary()
    end = vocabulary.index(END)
    captions = []
    for row in np.asarray(tokens).tolist() if not isinstance(tokens, list) else tokens:
        words = []
        for token in row:
            if token == end:
                break
            if token > 1 and vocabulary[token] != START:  # 0: padding, 1: unknown
                words.append(vocabulary[token])
        captions.append(" ".join(words))
    return captions


def bleu(references: list[list[str]], hypotheses: list[str]) -> dict[str, float]:
    """Corpus BLEU-1 to BLEU-4 of `hypotheses` against all of each image's `references`
    (Papineni et al. 2002, as nltk computes it, without smoothing), in [0, 1]."""
    # Here, not at the top: nltk takes a second to import and only scoring needs it.
    from nltk.translate.bleu_score import corpus_bleu

    refs = [[normalize(r).split() for r in group] for group in references]
    hyps = [normalize(h).split() for h in hypotheses]
    weights = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]
    with warnings.catch_warnings():
        # nltk warns when no n-gram matches and then returns ~1e-155 for what is 0.
        warnings.simplefilter("ignore", UserWarning)
        scores = corpus_bleu(refs, hyps, weights=weights)
    return {f"bleu{n}": float(s) if s > 1e-9 else 0.0 for n, s in enumerate(scores, start=1)}


class HeldOut:
    """Held-out images and their references: what a captioning model is scored and shown on."""

    def __init__(self, images: np.ndarray, references: list[list[str]], *, batch_size: int = 250):
        self.images = images
        self.references = references
        self.batch_size = batch_size

    def caption(self, model, count: int | None = None) -> list[str]:
        """`model`'s greedy captions of the first `count` images (all by default)."""
        images = self.images[: count or len(self.images)]
        texts = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size].astype(np.float32)
            texts += model.caption_strings(batch)
        return texts

    def bleu(self, generated: list[str]) -> dict[str, float]:
        """BLEU-1...4 of captions of the first `len(generated)` images."""
        return bleu(self.references[: len(generated)], generated)

    def grid(self, generated: list[str], *, title: str = ""):
        """A figure of the first `len(generated)` images with their captions and a reference."""

        count = len(generated)
        first = [group[0] for group in self.references[:count]]
        return viz.caption_grid(self.images[:count], generated, first, title=title)
