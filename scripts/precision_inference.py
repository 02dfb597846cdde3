"""Evaluates a trained float32 classifier again in 16-bit: does inference keep its accuracy?

    python scripts/precision_inference.py runs/mnist_best/20261126-071234 --data-dir ../shared/datasets/mnist

Rebuilds the run's model under each policy (float32, mixed_float16, mixed_bfloat16), loads the run's
final weights into it (cast to the policy's compute dtype as Keras does), evaluates the test split and
prints the accuracy of each and its change against float32, with the time the evaluation took.
"""

import argparse
import sys
import time
from pathlib import Path

import keras

import kerascnn.models  # noqa: F401  (registers kerascnn's layers)
from kerascnn.data import batches, load_dataset
from kerascnn.errors import KerasCNNError
from kerascnn.recipes import of_run
from kerascnn.training.runtime import precision_policy
from kerascnn.training.tasks import inference_model, task_of

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a finished classifier run (it has model.keras)")
    parser.add_argument("--data-dir", help="folder of the dataset's IDX files, as for training")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    try:
        recipe = of_run(run_dir, args.data_dir)
    except KerasCNNError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trained = keras.saving.load_model(run_dir / "model.keras", compile=False)
    data = load_dataset(recipe.data)
    test = batches(data.test, batch_size=500)
    results = {}
    for policy in POLICIES:
        with precision_policy(policy):
            model = inference_model(task_of(recipe).build(recipe, data), recipe)
            model.set_weights(trained.get_weights())
            started = time.perf_counter()
            scores = model.evaluate(test, return_dict=True, verbose=0)
            results[policy] = (scores["accuracy"], time.perf_counter() - started)
    reference = results["float32"][0]
    print(f"{recipe.name} ({run_dir}), {data.info.num_test} test images of {data.info.source}")
    for policy, (accuracy, seconds) in results.items():
        change = 100 * (accuracy - reference)
        print(
            f"  {policy:<15} accuracy {100 * accuracy:.2f} %  ({change:+.2f} points)  {seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
