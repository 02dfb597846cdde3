"""Show and Tell's parts (issue 6, in progress): teacher forcing agrees with step-by-step decoding,
padding stays out of the loss, beam search is never less likely than greedy decoding, the vocabulary
round-trips, BLEU is nltk's corpus BLEU, and the model serializes."""

import keras
import numpy as np
import pytest

from kerascnn import captions
from kerascnn.data.scenes import make_scenes
from kerascnn.models.captioning import show_and_tell


def tiny(rnn="lstm", image_as="input", vocabulary_size=20):
    keras.utils.set_random_seed(0)
    return show_and_tell(
        vocabulary_size,
        image_shape=(16, 16, 3),
        embedding_dim=8,
        units=16,
        rnn=rnn,
        image_as=image_as,
    )


IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
TOKENS = np.array([[2, 5, 7, 9, 3], [2, 4, 4, 3, 0], [2, 8, 3, 0, 0]], np.int32)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("image_as", ["input", "state"])
def test_teacher_forcing_and_step_decoding_agree(rnn, image_as):
    model = tiny(rnn, image_as)
    logits = np.asarray(model((IMAGES, TOKENS[:, :-1])))
    assert logits.shape == (3, 4, 20) and logits.dtype == np.float32
    state = model.start(IMAGES)
    for position in range(4):
        log_probs, state = model.step(TOKENS[:, position], state)
        expected = np.asarray(keras.ops.log_softmax(logits[:, position]))
        np.testing.assert_allclose(np.asarray(log_probs), expected, atol=1e-5)


def test_padding_is_out_of_the_loss():
    model = tiny()
    targets = TOKENS[:, 1:]
    weights = (targets != 0).astype("float32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = model((IMAGES, TOKENS[:, :-1]))
    changed = targets.copy()
    changed[weights == 0] = 11  # what a padded position "should" predict does not matter
    assert float(loss(targets, logits, sample_weight=weights)) == pytest.approx(
        float(loss(changed, logits, sample_weight=weights))
    )


def test_beam_search_is_never_less_likely_than_greedy():
    model = tiny(vocabulary_size=12)
    greedy_tokens, greedy_scores = model.greedy(IMAGES, start_id=2, end_id=3, max_length=6)
    for width in (1, 2, 4):
        beams, scores = model.beam_search(IMAGES, start_id=2, end_id=3, max_length=6, width=width)
        assert len(beams) == 3 and all(1 <= len(b) <= 6 for b in beams)
        assert np.all(scores >= np.asarray(greedy_scores) - 1e-5)
        # Each returned score is its sequence's log-probability under the model.
        for image, sequence, score in zip(IMAGES, beams, scores, strict=True):
            state, token, total = model.start(image[None]), 2, 0.0
            for next_token in sequence:
                log_probs, state = model.step(np.array([token], np.int32), state)
                total += float(np.asarray(log_probs)[0, next_token])
                token = next_token
            assert total == pytest.approx(float(score), abs=1e-4)


def test_vocabulary_round_trips_captions():
    _, references = make_scenes(40, seed=0)
    texts = [c for group in references for c in group]
    vectorize = captions.make_vocabulary(texts, max_length=16)
    tokens = captions.to_tokens(vectorize, texts[:5])
    assert tokens.shape == (5, 18) and (tokens[:, 0] == tokens[0, 0]).all()  # all start alike
    vocabulary = vectorize.get_vocabulary()
    assert vocabulary[tokens[0, 0]] == captions.START
    assert captions.to_words(vectorize, tokens[:, 1:]) == [captions.normalize(t) for t in texts[:5]]


def test_bleu_is_corpus_bleu_against_every_reference():
    references = [["a red circle", "there is a red circle"], ["a blue square above a red circle"]]
    hypotheses = ["there is a red circle", "a blue square above a red circle"]
    assert captions.bleu(references, hypotheses)["bleu4"] == pytest.approx(1.0)
    partial = captions.bleu(
        references, ["there is a red circle", "a blue square below a red circle"]
    )
    assert 0.3 < partial["bleu4"] < 1.0 and partial["bleu1"] > partial["bleu4"]


def test_the_model_serializes(tmp_path):
    model = tiny(rnn="gru", image_as="state")
    expected = np.asarray(model((IMAGES, TOKENS[:, :-1])))
    model.save(tmp_path / "captioner.keras")
    loaded = keras.saving.load_model(tmp_path / "captioner.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded((IMAGES, TOKENS[:, :-1]))), expected, atol=1e-6)
    assert loaded.rnn_kind == "gru" and loaded.image_as == "state"
