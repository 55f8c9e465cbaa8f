"""The network SHAP explains: the actor's size action as modules DeepLIFT's rules can see.

``serving.safety.explain`` attributes this network's single output; it is built from an exported actor folder,
an ``ActorMLP``, or any torch module (its output column ``SIZE_OUTPUT`` as given).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from models.agents.export import ActorMLP, ExportedActor, Layers, read_actor, weights_digest

Float32Array = npt.NDArray[np.float32]
ActorSource = str | Path | nn.Module
"""An exported actor folder, an ``ActorMLP``, or any module whose output column 0 is explained as given (for
``method="deep"`` such a module must call each of its activation modules once: DeepLIFT keeps one input per module)."""
SIZE_OUTPUT = 0
"""The explained action: ``ACTION_NAMES[0] == "size"``."""


def size_network(spec: ExportedActor, layers: Layers, output: int = SIZE_OUTPUT) -> nn.Sequential:
    """The actor's ``output``-th action as an ``nn.Sequential`` whose every nonlinearity is its own module.

    DeepLIFT's rules hang on modules, one saved input per module: ``ActorMLP`` calls one activation module
    for every layer and squashes with functional ops, which the rules cannot see. Here the tanh squash is
    ``Tanh`` then an affine map, and the clip to ``[lo, hi]`` is ``lo + relu(x - lo) - relu(x - hi)``.
    """
    *hidden, (w_out, b_out) = layers
    modules: list[nn.Module] = []
    for w, b in hidden:
        modules += [_linear(w, b), nn.ReLU() if spec.activation == "relu" else nn.Tanh()]
    w, b = w_out[output : output + 1], b_out[output : output + 1]
    low, high = spec.action_low[output], spec.action_high[output]
    if spec.output == "tanh_rescale":
        half = 0.5 * (high - low)
        modules += [_linear(w, b), nn.Tanh(), _linear([[half]], [low + half])]
    else:
        # the output layer and the "x - lo, x - hi" pair as one affine map: one module fewer for SHAP to hook
        pair = np.concatenate([w, w]).astype(np.float64), np.array([b[0] - low, b[0] - high], dtype=np.float64)
        modules += [_linear(*pair), nn.ReLU(), _linear([[1.0, -1.0]], [low])]
    return nn.Sequential(*modules).eval()


def _linear(weight: npt.ArrayLike, bias: npt.ArrayLike) -> nn.Linear:
    w = torch.as_tensor(np.asarray(weight, dtype=np.float32))
    # skip_init: the weights are overwritten, and a plain nn.Linear would draw from torch's global RNG
    layer = nn.utils.skip_init(nn.Linear, w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))
    return layer


def _mlp_parts(module: ActorMLP) -> tuple[ExportedActor, Layers]:
    linears = [layer for layer in module.layers if isinstance(layer, nn.Linear)]
    layers = [(_numpy(m.weight), _numpy(m.bias)) for m in linears]
    spec = ExportedActor(
        algorithm="module",
        layer_sizes=(linears[0].in_features, *(m.out_features for m in linears)),
        activation="relu" if isinstance(module.activation, nn.ReLU) else "tanh",
        output="tanh_rescale" if module.squash else "clip",
        action_low=tuple(module.action_low.tolist()),
        action_high=tuple(module.action_high.tolist()),
        weights_sha256=weights_digest(layers),
    )
    return spec, layers


def _numpy(tensor: torch.Tensor) -> Float32Array:
    out: Float32Array = tensor.detach().cpu().numpy().astype(np.float32)
    return out


class _Column(nn.Module):
    """Output column ``index`` of any module, as the ``(n, 1)`` output SHAP explains."""

    def __init__(self, module: nn.Module, index: int) -> None:
        super().__init__()
        self.module = module
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(x)
        return out.reshape(x.shape[0], -1)[:, self.index : self.index + 1]


def actor_network(actor: ActorSource) -> nn.Module:
    """The network whose single output is explained: the actor's size (see ``ActorSource``)."""
    if isinstance(actor, str | Path):
        return size_network(*read_actor(actor))
    if isinstance(actor, ActorMLP):
        return size_network(*_mlp_parts(actor))
    if not isinstance(actor, nn.Module):
        raise TypeError(f"actor: expected an exported folder or a torch module, got {type(actor).__name__}")
    return _Column(actor, SIZE_OUTPUT).eval()
