"""Commands that use trained runs and recipes' models: `report`, `profile`, `sample`, `caption`.

Each reads what it needs through `kerascnn.runs.load_trained` (so all of them see the same
weights) and asks the run's task what to show.
"""
