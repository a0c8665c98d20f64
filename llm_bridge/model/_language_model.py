"""`LanguageModel`: a loaded decoder with its tokenizer — what `lb.load` returns.

It is the user's edge: prompts are checked here (non-empty, within the context, ids within the
vocabulary), and the jitted entry points of `_generate` are called here. The pure building blocks
for analyses (embedding, forward with `detach`, layers, final norm, unembedding) live on
`m.decoder`, a Flax NNX `Decoder`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable

import jax
import numpy as np

from ..errors import PromptError, PromptTooLongError
from . import _generate
from ._config import ModelConfig
from ._decoder import Decoder


class LanguageModel:
    """A ported decoder plus tokenizer.

    Attributes: `decoder` (the NNX `Decoder`), `config` (its `ModelConfig`), `source` (the path
    it was loaded from), `tokenizer` (a transformers tokenizer, built on first use).
    """

    def __init__(self, decoder: Decoder, *, source: str, tokenizer_factory: Callable[[], object]):
        self.decoder = decoder
        self.source = source
        self._tokenizer_factory = tokenizer_factory

    def __repr__(self):
        c = self.config
        return (
            f"LanguageModel({c.family}, {c.num_layers} layers, d={c.hidden_size}, "
            f"vocab={c.vocab_size}, dtype={self.dtype.name}, source={self.source!r})"
        )

    @property
    def config(self) -> ModelConfig:
        return self.decoder.config

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.decoder.dtype)

    @cached_property
    def tokenizer(self):
        return self._tokenizer_factory()

    # ---------------------------------------------------------------- text ↔ ids

    def tokenize(self, text: str, *, chat: bool = False) -> jax.Array:
        """Token ids (T,) int32 of `text`, with the special tokens the model's tokenizer adds.

        `chat=True` wraps the text as one user turn of the tokenizer's chat template, with the
        assistant's turn opened (for instruction-tuned models).
        """
        if chat:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        else:
            ids = self.tokenizer(text)["input_ids"]
        return jax.numpy.asarray(np.asarray(ids, np.int32).reshape(-1))

    def detokenize(self, ids) -> str:
        return self.tokenizer.decode(np.asarray(ids).tolist())

    def check_ids(self, ids) -> np.ndarray:
        """`ids` as a 1-D int32 array, or a `PromptError` saying what is wrong."""
        arr = np.asarray(ids)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise PromptError(f"token ids must be a 1-D integer array, got shape {arr.shape} dtype {arr.dtype}")
        n, ctx = arr.shape[0], self.config.max_position_embeddings
        if n == 0:
            raise PromptError("the prompt is empty (0 tokens)")
        if n > ctx:
            raise PromptTooLongError(f"the prompt has {n} tokens, longer than the model's context of {ctx}")
        if arr.min() < 0 or arr.max() >= self.config.vocab_size:
            raise PromptError(f"token ids must lie in 0..{self.config.vocab_size - 1}, got {arr.min()}..{arr.max()}")
        return arr.astype(np.int32)

    # ---------------------------------------------------------------- forward passes

    def logits(self, ids) -> jax.Array:
        """Next-token logits (T, V) for every position of the prompt `ids` (T,)."""
        ids = self.check_ids(ids)
        return _generate.logits(self.decoder, _generate.pad_to_bucket(ids))[: len(ids)]

    def final_hidden(self, ids) -> jax.Array:
        """Final-normed hidden states (T, d) — what the unembedding reads."""
        ids = self.check_ids(ids)
        return _generate.final_hidden(self.decoder, _generate.pad_to_bucket(ids))[: len(ids)]

    def hidden_states(self, ids) -> jax.Array:
        """Residual stream (L + 1, T, d): the input embeddings, then the output of each layer.

        Unlike transformers' `output_hidden_states`, whose last entry has been through the final
        norm, every entry here is the raw residual stream; `final_hidden` gives the normed one.
        """
        ids = self.check_ids(ids)
        return _generate.residual_states(self.decoder, _generate.pad_to_bucket(ids))[:, : len(ids)]

    def embed(self, ids) -> jax.Array:
        """Input embeddings (T, d) after any embedding scale: the x of the detached Jacobian."""
        return self.decoder.embed(self.check_ids(ids))

    def generate(self, prompt, max_new_tokens: int = 20, *, stop_at_eos: bool = True) -> np.ndarray:
        """Greedy continuation: prompt ids (a string is tokenized first) followed by the new ids."""
        ids = self.check_ids(self.tokenize(prompt) if isinstance(prompt, str) else prompt)
        if len(ids) + max_new_tokens > self.config.max_position_embeddings:
            raise PromptTooLongError(
                f"{len(ids)} prompt + {max_new_tokens} new tokens exceed the context of {self.config.max_position_embeddings}"
            )
        stop = self.config.eos_token_ids if stop_at_eos else ()
        return _generate.greedy(self.decoder, ids, max_new_tokens, stop)
