"""Captions as model input and as a score: the vocabulary (Keras' TextVectorization with start and
end tokens) and corpus BLEU-1...4 against every reference (nltk's implementation)."""

from __future__ import annotations

import re

import keras
import numpy as np

START, END = "<start>", "<end>"
_NOT_A_WORD = re.compile(r"[^a-z0-9<>' ]+")


def normalize(caption: str) -> str:
    """Lower case, punctuation to spaces, single spaces: how captions are compared and learned."""
    return " ".join(_NOT_A_WORD.sub(" ", caption.lower()).split())


def make_vocabulary(captions, *, max_length: int, max_tokens: int | None = None):
    """A `TextVectorization` adapted to `captions` (strings): each caption becomes
    `<start> words <end>` padded with 0 to `max_length + 2` tokens."""
    vectorize = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=None,
        split="whitespace",
        output_sequence_length=max_length + 2,
        name="vocabulary",
    )
    vectorize.adapt(np.array([f"{START} {normalize(c)} {END}" for c in captions]))
    return vectorize


def to_tokens(vectorize, captions) -> np.ndarray:
    """Captions (strings) as int token sequences (n, max_length + 2)."""
    return np.asarray(vectorize(np.array([f"{START} {normalize(c)} {END}" for c in captions])))


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
    from nltk.translate.bleu_score import corpus_bleu

    refs = [[normalize(r).split() for r in group] for group in references]
    hyps = [normalize(h).split() for h in hypotheses]
    weights = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]
    scores = corpus_bleu(refs, hyps, weights=weights)
    return {f"bleu{n}": float(score) for n, score in enumerate(scores, start=1)}
