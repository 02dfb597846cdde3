"""Show and Tell (issue 6): teacher forcing agrees with step-by-step decoding, padding stays out of
the loss, beam search finds the most likely caption where greedy decoding does not, the
vocabulary round-trips, BLEU is nltk's corpus BLEU, the model serializes; the captioning recipe
trains, scores, shows and exports."""

import keras
import numpy as np
import pytest

from kerascnn import captions
from kerascnn.data.scenes import make_scenes
from kerascnn.models.captioning import show_and_tell

# Padding, unknown, then start (2) and end (3) as in TOKENS.
VOCABULARY = ["", "[UNK]", captions.START, captions.END, *(f"w{i}" for i in range(4, 20))]


def tiny(rnn="lstm", image_as="input", vocabulary_size=20, max_length=5):
    keras.utils.set_random_seed(0)
    return show_and_tell(
        VOCABULARY[:vocabulary_size],
        image_shape=(16, 16, 3),
        max_length=max_length,
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


def test_beam_search_scores_are_the_log_probabilities_of_its_captions():
    model = tiny(vocabulary_size=12)
    greedy_tokens, _ = model.greedy(IMAGES)
    assert greedy_tokens.shape == (3, 6)  # five words and the end token at most
    for width in (1, 2, 4):
        beams, scores = model.beam_search(IMAGES, width=width)
        assert len(beams) == 3 and all(1 <= len(b) <= 6 for b in beams)
        # Each returned score is its sequence's log-probability under the model.
        for image, sequence, score in zip(IMAGES, beams, scores, strict=True):
            state, token, total = model.start(image[None]), 2, 0.0
            for next_token in sequence:
                log_probs, state = model.step(np.array([token], np.int32), state)
                total += float(np.asarray(log_probs)[0, next_token])
                token = next_token
            assert total == pytest.approx(float(score), abs=1e-4)


def most_likely_caption(model, image, steps):
    """The most likely token sequence of at most `steps` tokens (ending at the end token, or
    cut at `steps`) by trying every one: (tokens, log-probability)."""
    end = VOCABULARY.index(captions.END)
    state = [np.asarray(s) for s in model.start(image[None])]
    open_ = [([], 0.0, state, 2)]  # (tokens, log-probability, state, last token)
    done = []
    for step in range(steps):
        tokens = np.array([last for *_, last in open_], np.int32)
        states = [np.concatenate([o[2][i] for o in open_]) for i in range(len(state))]
        log_probs, states = model.step(tokens, states)
        log_probs, states = np.asarray(log_probs), [np.asarray(s) for s in states]
        grown = []
        for row, (sequence, score, _, _) in enumerate(open_):
            for token, log_prob in enumerate(log_probs[row]):
                extended = (sequence + [token], score + float(log_prob))
                if token == end or step == steps - 1:
                    done.append(extended)
                else:
                    grown.append((*extended, [s[row : row + 1] for s in states], token))
        open_ = grown
    return max(done, key=lambda d: d[1])


def test_beam_search_finds_the_most_likely_caption_where_greedy_does_not():
    # Six tokens and at most three steps: 6 + 5 x 6 + 25 x 6 sequences, all tried by hand. A
    # beam of 25 keeps every unfinished prefix, so it must find the best of them.
    model = tiny(vocabulary_size=6, max_length=2)
    images = np.random.default_rng(5).uniform(0, 255, (6, 16, 16, 3)).astype("float32")
    _, greedy_scores = model.greedy(images)
    beams, scores = model.beam_search(images, width=25)
    better = 0
    for image, beam, score, greedy in zip(images, beams, scores, greedy_scores, strict=True):
        best, best_score = most_likely_caption(model, image, steps=3)
        assert beam == best and float(score) == pytest.approx(best_score, abs=1e-5)
        better += best_score > float(greedy) + 0.01
    assert better >= 1, "no image where greedy decoding misses the most likely caption"


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


def test_to_text_keeps_the_words_before_the_end_token():
    model = tiny()
    tokens = np.array([[4, 5, 3, 6, 7], [1, 8, 0, 9, 3], [3, 4, 4, 4, 4]], np.int32)
    assert [t.decode() for t in np.asarray(model.to_text(tokens))] == ["w4 w5", "w8 w9", ""]
    assert np.asarray(model.caption(IMAGES)).shape == (3,)


def test_a_vocabulary_without_start_and_end_is_refused():
    from kerascnn.errors import RecipeError

    with pytest.raises(RecipeError, match="lacks <start> and <end>"):
        show_and_tell(["", "[UNK]", "a"], image_shape=(16, 16, 3), units=8, embedding_dim=4)


# --- the captioning recipe end to end ------------------------------------------------------------

# Three short epochs on 400 scenes of 32 px: enough to learn the captions' language, not yet
# their colours and shapes (BLEU-1 0.50 and BLEU-2 0.36 against an untrained 0.11 and 0.02 here).
SMALL = {
    "epochs": 3,
    "data.image_shape": (32, 32, 3),
    "data.train_limit": 400,
    "data.test_limit": 100,
    "model.args": {"units": 128, "embedding_dim": 64, "max_length": 16, "image_as": "state"},
}


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    from kerascnn import recipes

    root = tmp_path_factory.mktemp("captioning")
    result = recipes.run(
        "captioning",
        smoke=True,
        verbose=0,
        runs_dir=str(root / "runs"),
        export={"directory": str(root / "saved_models")},
        **SMALL,
    )
    return root, result


def test_the_recipe_scores_bleu_and_shows_captions(captioned):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result = captioned
    metrics = result.metrics
    assert metrics["task"] == "captioning" and metrics["data"]["num_test"] == 100
    assert all(0 <= metrics[f"test_bleu{n}"] <= 1 for n in range(1, 5))
    assert len(result.history["val_bleu4"]) == 3 and "BLEU-4" in result.headline
    grids = sorted(p.name for p in (result.run_dir / "captions").iterdir())
    assert grids == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    images = EventAccumulator(str(result.run_dir / "tensorboard" / "images")).Reload()
    assert [event.step for event in images.Tensors("captions")] == [0, 1, 2]


def test_training_raises_bleu_clearly_above_an_untrained_models(captioned):
    from kerascnn.data import batches
    from kerascnn.training.tasks import task_of

    _, result = captioned
    task = task_of(result.recipe)
    data = task.load(result.recipe.data)
    keras.utils.set_random_seed(result.recipe.seed)
    untrained = task.build(result.recipe, data)
    held_out = task.prepare(result.recipe, data, batches(data.test, batch_size=32))
    before = held_out.bleu(held_out.caption(untrained))
    after = {n: result.metrics[f"test_bleu{n}"] for n in range(1, 5)}
    assert after[1] > before["bleu1"] + 0.05, (before, after)
    assert after[2] > max(3 * before["bleu2"], before["bleu2"] + 0.08), (before, after)


@pytest.mark.slow  # a fresh process
def test_the_export_captions_like_the_python_api_in_a_fresh_process(captioned):
    import json
    import subprocess
    import sys

    root, result = captioned
    scenes, _ = make_scenes(5, seed=7, size=32)
    expected = [t.decode() for t in np.asarray(result.model.caption(scenes.astype("float32")))]
    np.save(root / "scenes.npy", scenes)
    program = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(result.export_dir)!r})\n"
        f"images = np.load({str(root / 'scenes.npy')!r}).astype('float32')\n"
        "print(json.dumps([t.decode() for t in served.serve(tf.constant(images)).numpy()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_the_caption_command_reads_image_files(captioned, capsys):
    from kerascnn.cli import main

    root, result = captioned
    scenes, _ = make_scenes(2, seed=7, size=32)
    paths = []
    for index, scene in enumerate(scenes):
        paths.append(str(root / f"scene{index}.png"))
        keras.utils.save_img(paths[-1], scene)
    expected = [t.decode() for t in np.asarray(result.model.caption(scenes.astype("float32")))]
    for source in (result.export_dir, result.run_dir):
        assert main(["caption", str(source), *paths]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines == [f"{p}: {t}" for p, t in zip(paths, expected, strict=True)]
    assert main(["caption", str(result.run_dir), paths[0], "--beam", "2"]) == 0
    assert capsys.readouterr().out.startswith(f"{paths[0]}: ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam", "2"], "decodes greedily"),
        (["--beam", "-1"], "--beam must be 0"),
    ],
)
def test_the_caption_command_refuses_bad_requests(captioned, capsys, args, message):
    from kerascnn.cli import main

    root, result = captioned
    keras.utils.save_img(root / "one.png", make_scenes(1, size=32)[0][0])
    assert main(["caption", str(result.export_dir), str(root / "one.png"), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_caption_command_names_what_is_wrong(captioned, capsys, tmp_path):
    from kerascnn.cli import main

    _, result = captioned
    assert main(["caption", str(result.run_dir), str(tmp_path / "missing.png")]) == 2
    assert f"image file {tmp_path / 'missing.png'} does not exist" in capsys.readouterr().err
    assert main(["caption", str(tmp_path), str(tmp_path / "missing.png")]) == 2
    assert "holds no trained model" in capsys.readouterr().err


def test_the_captioning_recipes_model_has_the_parameters_the_docs_quote():
    from kerascnn.recipes import get

    args = dict(get("captioning").model.args)
    words = [f"w{i}" for i in range(23)]
    model = show_and_tell(["", "[UNK]", captions.START, captions.END, *words], **args)
    # By formula from the layers: the small encoder's three 3x3 convolutions (32, 64, 128 filters,
    # biases) and three 2x2 pools take 64 px to 8x8x128; Dense to the LSTM's two states of 512
    # (image_as="state"); 27 words embedded in 256; LSTM(512); Dense to the 27 words.
    vocabulary, embedding, units = 27, 256, 512
    encoder = sum(3 * 3 * a * b + b for a, b in [(3, 32), (32, 64), (64, 128)])
    project = 8 * 8 * 128 * 2 * units + 2 * units
    lstm = 4 * ((embedding + units) * units + units)  # four gates, input and recurrent kernels
    head = units * vocabulary + vocabulary
    assert model.encoder.count_params() == encoder
    assert model.project.count_params() == project
    assert model.rnn.count_params() == lstm
    total = encoder + project + vocabulary * embedding + lstm + head
    assert model.count_params() == total == 10_078_555  # the figure in docs/models


def test_the_report_of_a_captioning_run_shows_captioned_test_images(captioned):
    from kerascnn.tools.report import write_report

    _, result = captioned
    page = write_report(result.run_dir)
    assert {p.name for p in page.parent.iterdir()} == {
        "index.html",
        "curves.png",
        "captions.png",
        "filters.png",
    }


@pytest.mark.parametrize("train_encoder", [True, False])
def test_a_registered_encoder_is_fine_tuned_or_frozen(train_encoder):
    keras.utils.set_random_seed(0)
    model = show_and_tell(
        VOCABULARY,
        image_shape=(32, 32, 3),
        encoder="deep_mnist_cnn",
        embedding_dim=8,
        units=16,
        max_length=5,
        train_encoder=train_encoder,
    )
    assert model.encoder.layers[-1].name == "deep_mnist_cnn" and model.encoder.output_shape == (
        None,
        64,
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    tokens = np.tile(TOKENS[:1], (4, 1))
    before = [w.numpy().copy() for w in model.encoder.weights]
    model.fit((images, tokens[:, :-1]), tokens[:, 1:], epochs=1, verbose=0)
    after = [w.numpy() for w in model.encoder.weights]
    changed = any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert changed == train_encoder


def test_beam_captions_are_strings_of_the_beam_search_tokens():
    model = tiny(vocabulary_size=12)
    tokens, _ = model.beam_search(IMAGES, width=2)
    texts = model.beam_caption(IMAGES, width=2)
    assert texts == [" ".join(VOCABULARY[t] for t in seq if t > 3) for seq in tokens]
