"""`kerascnn report RUN_DIR`: a finished run's figures as PNGs and one self-contained HTML page.

The model is the one `kerascnn.runs.load_trained` gives (a finished run's final model, weight
averages applied; else the last checkpoint), the same that `sample`, `caption`, `--init-from` and
the export use; the figures are the run's task's (`Task.report_figures`).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from kerascnn import files, runs
from kerascnn.config import to_dict
from kerascnn.training.tasks import task_of


def write_report(run_dir, *, examples: int = 2000) -> Path:
    """Writes the figures of a run as PNGs and one HTML page under `run_dir/report/`; returns the
    page's path. `examples`: the test images a classifier's figures evaluate."""
    run_dir = Path(run_dir)
    recipe = runs.read_recipe(run_dir)
    trained = runs.load_trained(run_dir)
    metrics = trained.metrics
    notice = metrics.get("data", {}).get("note", "")
    with files.atomic_directory(run_dir / runs.REPORT) as staging:
        names = task_of(recipe).report_figures(
            staging, recipe, trained.model, run_dir, examples=examples
        )
        files.write_text(staging / "index.html", _html(recipe, metrics, staging, names, notice))
    return run_dir / runs.REPORT / "index.html"


def _html(recipe, metrics: dict, folder: Path, names: list[str], notice: str) -> str:
    def embed(path: Path) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        return (
            f'<figure><a href="{path.name}"><img src="data:image/png;base64,{data}" '
            f'alt="{path.stem}"></a><figcaption>{path.stem.replace("_", " ")}</figcaption></figure>'
        )

    shown = {
        key: metrics[key]
        for key in (
            "test_accuracy",
            "test_loss",
            "inception_score",
            "frechet_distance",
            "epochs",
            "train_seconds",
            "parameters",
        )
        if key in metrics
    }
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in shown.items()
    )
    note = f'<p class="note">{html.escape(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(recipe.name)} report</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
img {{ max-width: 100%; }} figure {{ margin: 1.5em 0; }} figcaption {{ color: #555; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: .3em .8em; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }} .note {{ background: #fff3cd; padding: .6em; }}
</style></head><body>
<h1>{html.escape(recipe.name)}</h1>
<p>{html.escape(recipe.description)}</p>
{note}
<h2>Final metrics</h2><table>{rows}</table>
<h2>Figures</h2>
{"".join(embed(folder / name) for name in names)}
<h2>Recipe</h2><pre>{html.escape(json.dumps(to_dict(recipe), indent=2, default=str))}</pre>
</body></html>
"""
