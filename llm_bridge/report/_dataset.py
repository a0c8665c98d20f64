"""A prompt's detached Jacobian and spectra as one self-describing `xarray.Dataset` (NetCDF).

Layout (`format` attribute "rsvp-jax llm-jacobian 1"; d = hidden size, T = prompt tokens):

| variable | dims | meaning |
|---|---|---|
| `jacobian` | (out, token, in) | $J_{a,i,b} = \\partial y_a / \\partial x_{i,b}$ (model dtype) |
| `embeddings` | (token, in) | the input embeddings x (after any embedding scale) |
| `output`, `bias`, `reconstruction` | (out) | y, b, and $\\sum_i J_i x_i + b$ |
| `token_id`, `token_text` | (token) | the prompt |
| `sigma_token` | (token, mode) | singular values of each $J_i$, descending |
| `sigma_joint` | (mode) | singular values of $[J_1 \\cdots J_T]$ |
| `<summary>_token` | (token) | `stable_rank`, `effective_rank`, `participation_ratio`, `k90`, `k99` of each $J_i$ |
| `<summary>_joint` | () | the same for the joint map |
| `u_joint`, `v_joint` | (out, top_mode), (top_mode, token, in) | top joint singular vectors, ⟨y, u⟩ ≥ 0 |
| `u_token`, `v_token` | (token, out, top_mode), (token, top_mode, in) | top per-token singular vectors |
| `joint_output_tokens`, `joint_input_tokens` | (top_mode, rank) | decoded top modes (text) |
| `token_output_tokens`, `token_input_tokens` | (token, top_mode, rank) | decoded per-token modes |
| `prediction_energy`, `prediction_keeps` | (k) | share of ‖y‖² in the top-k joint modes; keeps argmax (0/1) |
| `sigma_layer`, `sigma_layer_last` | (layer, part, mode) | joint and last-token spectra of each layer's point |
| `<summary>_layer` | (layer, part) | their summaries; `relative_error_layer` (layer, part) |
| `jacobian_norm_token`, `contribution_norm_token` | (token) | ‖J_i‖_F and ‖J_i x_i‖ |
| `path_overlap_last`, `path_overlap_prediction`, `path_tokens` | (layer), (layer, rank) | the top singular vector across layers |
| `attribution` | (layer, component, token) | the exact attribution (with `attribution=`): heads H0.., then MLP |
| `attribution_embedding`, `attribution_bias` | (token), (layer, component) | the embedding path, the bias parts |

`part` ∈ {layer, attn, mlp}: the layer's output, attention part, MLP part (final-normed; the
attribute `layer_span` says which span they are taken over).
Attributes: `model`, `family`, `dtype`, `prompt`, `relative_error`, `bias_norm`,
`predicted_token`, `smallest_k_keeping_prediction`; with the attribution, `attribution_logit`,
`attribution_target`, `attribution_contrast`, `attribution_error`, `attribution_o_bias`.
"""

from __future__ import annotations

import numpy as np

FORMAT = "rsvp-jax llm-jacobian 1"
SCALARS = ("stable_rank", "effective_rank", "participation_ratio", "k90", "k99")


def spectra_dataset(dj, spectra: dict, *, prompt: str = "", attrs: dict | None = None, attribution=None):
    """The Dataset of the module table from a `DetachedJacobian` and its `llm_spectra` dict."""
    import xarray as xr

    d, t, _ = dj.jacobian.shape
    data = {
        "jacobian": (("out", "token", "in"), dj.jacobian),
        "embeddings": (("token", "in"), dj.embeddings),
        "output": (("out",), dj.output), "bias": (("out",), dj.bias),
        "reconstruction": (("out",), dj.reconstruction),
        "token_id": (("token",), np.asarray(dj.ids, np.int32)),
        "token_text": (("token",), np.asarray(spectra["tokens"], dtype=object)),
        "sigma_token": (("token", "mode"), spectra["token"]["sigma"]),
        "sigma_joint": (("mode",), spectra["joint"]["sigma"]),
        "u_joint": (("out", "top_mode"), spectra["u_joint"]),
        "v_joint": (("top_mode", "token", "in"), spectra["v_joint"]),
        "u_token": (("token", "out", "top_mode"), spectra["u_token"]),
        "v_token": (("token", "top_mode", "in"), spectra["v_token"]),
    }
    for key in SCALARS:
        data[f"{key}_token"] = (("token",), np.asarray(spectra["token"]["summary"][key]))
        data[f"{key}_joint"] = ((), np.asarray(spectra["joint"]["summary"][key]))
    joint = spectra["decoded"]["joint"]
    data["joint_output_tokens"] = (("top_mode", "rank"), np.asarray([m["output_tokens"] for m in joint], dtype=object))
    data["joint_input_tokens"] = (("top_mode", "rank"), np.asarray([m["input_tokens"] for m in joint], dtype=object))
    per = spectra["decoded"]["tokens"]
    data["token_output_tokens"] = (("token", "top_mode", "rank"),
                                   np.asarray([[m["output_tokens"] for m in row] for row in per], dtype=object))
    data["token_input_tokens"] = (("token", "top_mode", "rank"),
                                  np.asarray([[m["input_tokens"] for m in row] for row in per], dtype=object))
    pred = spectra["prediction"]
    data["prediction_energy"] = (("k",), np.asarray(pred["energy"]))
    data["prediction_keeps"] = (("k",), np.asarray(pred["keeps"], np.int8))
    coords = {"out": np.arange(d), "token": np.arange(t), "in": np.arange(d), "k": np.asarray(pred["k"])}
    layer = spectra.get("layer")
    if layer is not None:
        data["sigma_layer"] = (("layer", "part", "mode"), layer["sigma"])
        data["sigma_layer_last"] = (("layer", "part", "mode"), layer["sigma_last"])
        data["relative_error_layer"] = (("layer", "part"), np.asarray(layer["relative_error"]))
        for key in SCALARS:
            data[f"{key}_layer"] = (("layer", "part"), np.asarray(layer["summary"][key]))
            data[f"{key}_layer_last"] = (("layer", "part"), np.asarray(layer["summary_last"][key]))
        coords["layer"] = np.asarray(layer["layers"])
        coords["part"] = np.asarray(layer["parts"], dtype=object)
    path = spectra.get("path")
    if path is not None:
        data["path_overlap_last"] = (("layer",), np.asarray(path["overlap_last"]))
        data["path_overlap_prediction"] = (("layer",), np.asarray(path["overlap_prediction"]))
        data["path_tokens"] = (("layer", "rank"), np.asarray(path["tokens"], dtype=object))
    importance = spectra.get("importance")
    if importance is not None:
        data["jacobian_norm_token"] = (("token",), np.asarray(importance["jacobian_norm"]))
        data["contribution_norm_token"] = (("token",), np.asarray(importance["contribution_norm"]))
    extra = {}
    if attribution is not None:
        a = attribution
        data["attribution"] = (("attribution_layer", "component", "token"), a.contributions)
        data["attribution_embedding"] = (("token",), a.embedding)
        data["attribution_bias"] = (("attribution_layer", "component"), a.bias)
        coords["attribution_layer"] = np.arange(a.n_layers)
        coords["component"] = np.asarray(a.component_names(), dtype=object)
        extra = {"attribution_logit": a.logit, "attribution_target": a.target_text,
                 "attribution_contrast": a.contrast_text or "", "attribution_error": a.error,
                 "attribution_o_bias": float(a.o_bias.sum())}
    model = spectra["model"]
    ds_attrs = {
        "format": FORMAT, "model": str(model["source"]), "family": model["family"], "dtype": model["dtype"],
        "prompt": prompt, "relative_error": float(dj.relative_error), "bias_norm": float(spectra["bias_norm"]),
        "predicted_token": str(pred.get("predicted_token", "")),
        "smallest_k_keeping_prediction": -1 if pred["smallest_k"] is None else int(pred["smallest_k"]),
    }
    if layer is not None:
        ds_attrs["layer_span"] = layer.get("span", "from_input")
    ds_attrs.update(extra)
    ds_attrs.update(attrs or {})
    return xr.Dataset(data, coords=coords, attrs=ds_attrs)
