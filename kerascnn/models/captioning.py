"""Show and Tell (Vinyals et al. 2015): a CNN encodes the image, an RNN started from it writes the caption.

Reference:
- Vinyals, Toshev, Bengio & Erhan, "Show and Tell: A Neural Image Caption Generator" (CVPR 2015):
  the image's CNN feature, projected to the word-embedding size, is the RNN's input at t = -1; then
  the embedded words S_0 (the start token) ... S_{N-1}; the output at step t predicts S_{t+1}.

`ShowAndTell` trains with teacher forcing: `call((images, tokens))` returns at position t the logits
of the token after `tokens[:, t]` (feed a caption without its last token, predict it without its
first); padding is left out of the loss through `sample_weight`, which keeps
the loss right under `tf.distribute`. `greedy` and `beam_search` decode; `caption` turns images
into caption strings inside the graph (what the export serves). The model keeps its vocabulary
(index -> word, as `kerascnn.captions.vocabulary` made it), so a saved model captions alone.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kerascnn.captions import END, START, strings
from kerascnn.errors import RecipeError
from kerascnn.models.pixels import rescale, taking_pixels
from kerascnn.registry import models


def small_encoder(image_shape, *, filters=(32, 64, 128), name="encoder") -> keras.Model:
    """A small CNN for small images: (conv-ReLU, max-pool) per width, the feature map flattened;
    takes pixel values 0-255.

    No BatchNorm: with it the captions of the synthetic scenes were far worse in inference mode
    than with batch statistics (BLEU-4 0.53 against 0.87 after three epochs): the moving
    averages lagged the encoder's fast-changing statistics."""
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    x = rescale(inputs)
    for index, width in enumerate(filters, start=1):
        x = layers.Conv2D(
            width,
            3,
            padding="same",
            activation="relu",
            kernel_initializer="he_normal",
            name=f"conv{index}",
        )(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    # Keep where things are: a caption says what is above or left of what.
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, x, name=name)


def registered_encoder(name: str, image_shape, **args) -> keras.Model:
    """A registered classifier without its top, pooled, behind Rescaling: pixel values 0-255 in."""
    backbone = models.get(name)(
        include_top=False, pooling="avg", input_shape=tuple(image_shape), **args
    )
    return taking_pixels(backbone, name="encoder")


@keras.saving.register_keras_serializable(package="kerascnn")
class ShowAndTell(keras.Model):
    """NIC: encoder -> Dense to the embedding size -> first RNN input; embedded words after it.

    Args:
        encoder: a model from images (pixel values 0-255) to a feature vector.
        vocabulary: the words by token index: padding (0), unknown (1), then the rest, the start
            and end tokens among them (`TextVectorization.get_vocabulary()`).
        max_length: the most words in a caption: training captions are cut there, decoding
            stops after that many words and the end token.
        embedding_dim: size of the word embedding and of the projected image feature.
        units: the RNN's width.
        rnn: "lstm" (the paper's) or "gru".
        image_as: "input" (the paper's: the image is the RNN's first input) or "state" (its
            projection, through tanh, is the RNN's initial state).
        train_encoder: False freezes the encoder (BatchNorm in inference mode).
    """

    def __init__(
        self,
        encoder,
        vocabulary,
        *,
        max_length=20,
        embedding_dim=256,
        units=512,
        rnn="lstm",
        image_as="input",
        train_encoder=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if image_as not in ("input", "state"):
            raise RecipeError(
                f"show_and_tell: image_as must be 'input' or 'state', got {image_as!r}"
            )
        if rnn not in ("lstm", "gru"):
            raise RecipeError(f"show_and_tell: rnn must be 'lstm' or 'gru', got {rnn!r}")
        self.vocabulary = [str(word) for word in vocabulary]
        missing = [token for token in (START, END) if token not in self.vocabulary]
        if missing:
            raise RecipeError(
                f"show_and_tell: the vocabulary lacks {' and '.join(missing)}; make it with "
                "kerascnn.captions.vocabulary"
            )
        self.start_id = self.vocabulary.index(START)
        self.end_id = self.vocabulary.index(END)
        self.max_length = int(max_length)
        self.image_as = image_as
        self.encoder = encoder
        self.encoder.trainable = bool(train_encoder)
        vocabulary_size = len(self.vocabulary)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.rnn_kind = rnn
        self.train_encoder = bool(train_encoder)
        width = embedding_dim if image_as == "input" else units * len(self._state_sizes(rnn))
        self.project = layers.Dense(width, name="image_embedding")
        self.embed = layers.Embedding(vocabulary_size, embedding_dim, name="word_embedding")
        recurrent = layers.LSTM if rnn == "lstm" else layers.GRU
        self.rnn = recurrent(units, return_sequences=True, name=rnn)
        self.head = layers.Dense(vocabulary_size, dtype="float32", name="word_logits")

    def call(self, inputs, training=False):
        images, tokens = inputs
        image = self.project(self.encoder(images, training=training))
        words = self.embed(tokens)
        if self.image_as == "state":
            return self.head(
                self.rnn(words, initial_state=self._state_of(image), training=training)
            )
        sequence = keras.ops.concatenate([keras.ops.expand_dims(image, 1), words], axis=1)
        outputs = self.rnn(sequence, training=training)
        # The output after the image would predict the start token, which is given: drop it, so
        # position t predicts the token after tokens[:, t].
        return self.head(outputs[:, 1:, :])

    def _state_of(self, image):
        """The image as the RNN's initial state (`image_as="state"`): tanh of its projection."""
        return list(keras.ops.split(keras.ops.tanh(image), len(self._state_sizes()), axis=-1))

    # --- decoding, one step at a time with the RNN's own cell ----------------------------------

    def start(self, images):
        """The RNN state after it has seen the image (step t = -1, or its initial state)."""
        image = self.project(self.encoder(images, training=False))
        if self.image_as == "state":
            return self._state_of(image)
        batch = keras.ops.shape(image)[0]
        state = [keras.ops.zeros((batch, self.units)) for _ in self._state_sizes()]
        _, state = self.rnn.cell(image, state, training=False)
        return list(state) if isinstance(state, (list, tuple)) else [state]

    def _state_sizes(self, rnn=None):
        return [self.units] * (2 if (rnn or self.rnn_kind) == "lstm" else 1)

    def step(self, tokens, state):
        """(log-probabilities of the next token, new state) after `tokens` (batch,)."""
        output, state = self.rnn.cell(self.embed(tokens), state, training=False)
        state = list(state) if isinstance(state, (list, tuple)) else [state]
        return keras.ops.log_softmax(self.head(output), axis=-1), state

    def greedy(self, images, *, max_length: int | None = None):
        """The most likely next token at each step: (tokens (batch, max_length + 1), the
        log-probability of each sequence up to and including its end token); padding (0) after
        the end token."""
        start_id, end_id = self.start_id, self.end_id
        max_length = max_length or self.max_length
        state = self.start(images)
        batch = keras.ops.shape(images)[0]
        token = keras.ops.full((batch,), start_id, dtype="int32")
        done = keras.ops.zeros((batch,), dtype="bool")
        total = keras.ops.zeros((batch,))
        chosen = []
        for _ in range(max_length + 1):
            log_probs, state = self.step(token, state)
            token = keras.ops.cast(keras.ops.argmax(log_probs, axis=-1), "int32")
            best = keras.ops.max(log_probs, axis=-1)
            total = total + keras.ops.where(done, 0.0, best)
            token = keras.ops.where(done, 0, token)
            chosen.append(token)
            done = keras.ops.logical_or(done, keras.ops.equal(token, end_id))
        return keras.ops.stack(chosen, axis=1), total

    def caption(self, images, *, max_length: int | None = None):
        """Greedy captions of `images` as strings (batch,), decoded inside the graph."""
        tokens, _ = self.greedy(images, max_length=max_length)
        return self.to_text(tokens)

    def caption_strings(self, images) -> list[str]:
        """`caption` as Python strings."""
        return strings(self.caption(images))

    def to_text(self, tokens):
        """Token sequences (batch, length) as strings: the words before the end token, without
        padding, unknown or start tokens."""
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(tokens, self.end_id), tf.int32), 1), 0)
        keep = before_end & (tokens > 1) & tf.not_equal(tokens, self.start_id)
        words = tf.where(keep, tf.gather(tf.constant(self.vocabulary), tokens), "")
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    def beam_search(self, images, *, width: int = 3, max_length: int | None = None):
        """Beam search with `width` hypotheses per image (the greedy one kept as a candidate, so
        the result is never less likely than greedy decoding): (tokens as a list of int lists,
        their log-probabilities)."""
        start_id, end_id = self.start_id, self.end_id
        max_length = max_length or self.max_length
        greedy_tokens, greedy_scores = self.greedy(images, max_length=max_length)
        greedy_tokens = np.asarray(greedy_tokens)
        results, scores = [], []
        for index in range(int(keras.ops.shape(images)[0])):
            image = images[index : index + 1]
            best, score = self._beam_one(image, start_id, end_id, max_length + 1, width)
            fallback = _until_end(greedy_tokens[index].tolist(), end_id)
            if float(greedy_scores[index]) > score:
                best, score = fallback, float(greedy_scores[index])
            results.append(best)
            scores.append(score)
        return results, np.array(scores, np.float32)

    def beam_caption(self, images, *, width: int = 3) -> list[str]:
        """The captions `beam_search` finds, as strings."""
        tokens, _ = self.beam_search(images, width=width)
        padded = np.zeros((len(tokens), max(len(t) for t in tokens)), np.int32)
        for row, sequence in enumerate(tokens):
            padded[row, : len(sequence)] = sequence
        return strings(self.to_text(padded))

    def _beam_one(self, image, start_id, end_id, steps, width):
        state = [np.asarray(s) for s in self.start(image)]
        beams = [([], 0.0, state, start_id)]  # (tokens, log-probability, state, last token)
        finished = []
        for _ in range(steps):
            if not beams:
                break
            tokens = np.array([b[3] for b in beams], np.int32)
            states = [np.concatenate([b[2][i] for b in beams]) for i in range(len(state))]
            log_probs, new_states = self.step(tokens, states)
            log_probs = np.asarray(log_probs)
            new_states = [np.asarray(s) for s in new_states]
            candidates = []
            for row, (sequence, score, _, _) in enumerate(beams):
                for token in np.argsort(log_probs[row])[::-1][:width]:
                    candidates.append(
                        (score + float(log_probs[row, token]), row, int(token), sequence)
                    )
            candidates.sort(key=lambda c: -c[0])
            beams = []
            for score, row, token, sequence in candidates[:width]:
                extended = [*sequence, token]
                if token == end_id:
                    finished.append((extended, score))
                else:
                    beams.append((extended, score, [s[row : row + 1] for s in new_states], token))
        finished += [(sequence, score) for sequence, score, _, _ in beams]
        best, score = max(finished, key=lambda f: f[1])
        return best, score

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "vocabulary": self.vocabulary,
            "max_length": self.max_length,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "rnn": self.rnn_kind,
            "image_as": self.image_as,
            "train_encoder": self.train_encoder,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerascnn")
class CaptionWriter(keras.Model):
    """A `ShowAndTell` as served: images (pixel values 0-255) in, greedy caption strings out."""

    def __init__(self, captioner, **kwargs):
        kwargs.setdefault("name", f"{captioner.name}_captions")
        super().__init__(**kwargs)
        self.captioner = captioner
        self.built = True  # the captioner is built

    def call(self, images):
        return self.captioner.caption(images)

    def get_config(self):
        return {
            **super().get_config(),
            "captioner": keras.saving.serialize_keras_object(self.captioner),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["captioner"] = keras.saving.deserialize_keras_object(config["captioner"])
        return cls(**config)


def _until_end(tokens: list[int], end_id: int) -> list[int]:
    return tokens[: tokens.index(end_id) + 1] if end_id in tokens else tokens


@models.register(task="captioning")
def show_and_tell(
    vocabulary,
    *,
    image_shape=(64, 64, 3),
    max_length=20,
    max_words=None,
    encoder="small",
    encoder_args=None,
    embedding_dim=256,
    units=512,
    rnn="lstm",
    image_as="input",
    train_encoder=True,
    name="show_and_tell",
) -> ShowAndTell:
    """Show and Tell (Vinyals et al. 2015): a CNN encoder, an LSTM or GRU decoder started from it.

    `vocabulary` (index -> word, most frequent first) comes from the training captions (the run
    makes it); `max_words` keeps only its first entries (rarer words become unknown);
    `encoder` is "small" (`small_encoder`, for small images) or the name of a registered classifier
    (its backbone, average-pooled); see `ShowAndTell` for the rest."""
    if encoder == "small":
        cnn = small_encoder(image_shape)
    else:
        cnn = registered_encoder(encoder, image_shape, **dict(encoder_args or {}))
    if max_words is not None:
        kept = list(vocabulary)[: int(max_words)]
        vocabulary = kept + [t for t in (START, END) if t in vocabulary and t not in kept]
    model = ShowAndTell(
        cnn,
        vocabulary,
        max_length=max_length,
        embedding_dim=embedding_dim,
        units=units,
        rnn=rnn,
        image_as=image_as,
        train_encoder=train_encoder,
        name=name,
    )
    # Built like a Functional model: every weight exists before compile, fit or a checkpoint load.
    model((np.zeros((1, *image_shape), np.float32), np.zeros((1, 1), np.int32)))
    return model
