"""The errors `llm_bridge` raises on bad input.

Every one carries a one-line message that names the bad value and what would be valid. All
subclass `BridgeError`, itself a `ValueError`, so a command line can catch the whole family in one
clause and exit with status 2 instead of printing a traceback.
"""


class BridgeError(ValueError):
    """Base class: a model or prompt the bridge cannot use as given."""


class UnknownArchitectureError(BridgeError):
    """The checkpoint's architecture (`model_type` / `general.architecture`) is not ported."""


class UnsupportedConfigError(BridgeError):
    """A config attribute has a value the port does not implement (it would give a wrong model)."""


class WeightFileError(BridgeError):
    """A weight file is missing, truncated, corrupt, or does not match its config."""


class UnsafeCheckpointError(WeightFileError):
    """A pickle-based checkpoint (`*.bin`, `*.pt`, ...): loading one can run arbitrary code."""


class UnsupportedQuantizationError(WeightFileError):
    """A GGUF tensor is stored in a quantization type the bridge cannot dequantize."""


class UnknownModelError(BridgeError):
    """A model name that is neither a path nor one of the named models."""


class PromptError(BridgeError):
    """A prompt the model cannot take: empty, not a 1-D integer array, ids outside the vocabulary."""


class PromptTooLongError(PromptError):
    """A prompt (plus any tokens to generate) longer than the model's context."""
