"""The errors kerascnn raises for bad input: the CLI prints them as one line and exits 2."""


class KerasCNNError(Exception):
    """Something the user asked for cannot be done; the message says what and how to fix it."""


class UnknownNameError(KerasCNNError, LookupError):
    """A recipe, model, dataset or preset name that is not registered."""


class DuplicateNameError(KerasCNNError):
    """A second registration under a name that is already taken."""


class RecipeError(KerasCNNError, ValueError):
    """An unknown, ill-typed or out-of-range recipe field or override."""


class DataError(KerasCNNError):
    """A dataset that cannot be found, read or used."""


class ExportError(KerasCNNError):
    """An export that could not be written or did not verify."""


class TrainingError(KerasCNNError):
    """A run that could not finish: its loss became NaN or infinite."""


class WeightsError(KerasCNNError):
    """Pretrained weights that cannot be fetched, read safely or matched to the model."""
