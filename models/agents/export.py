"""Export a trained actor for serving, and load it back without unpickling anything.

``export_actor(model, path)`` writes a folder with ``actor.safetensors`` (the MLP's state_dict, with the
``ExportedActor`` metadata as JSON in the safetensors header) and ``actor.onnx``. ``load_actor(path)``
returns a numpy ``obs -> action`` callable: by default ``NumpyActor`` (a compiled numba kernel for one
observation, the fastest path for a small MLP at batch 1; numpy matmuls for a batch), or the plain torch
``ActorMLP`` rebuilt from the state_dict, or ONNX Runtime.

The exported function is the policy's deterministic action as SB3's ``predict(obs, deterministic=True)``
returns it: DDPG/TD3 squash with tanh and rescale to the action bounds, PPO clips its Gaussian mean.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
from stable_baselines3 import DDPG, PPO
from stable_baselines3.td3.td3 import TD3
from torch import nn

from models.agents._kernels import forward_row, pack_layers
from models.agents.onnx_graph import mlp_model

Backend = Literal["numpy", "torch", "onnx"]
Activation = Literal["relu", "tanh"]
OutputKind = Literal["tanh_rescale", "clip"]
WEIGHTS_FILE, ONNX_FILE, METADATA_KEY = "actor.safetensors", "actor.onnx", "rtopt_actor"
Float32Array = npt.NDArray[np.float32]
Layers = list[tuple[Float32Array, Float32Array]]
ActorFn = Callable[[npt.ArrayLike], Float32Array]
_Array = TypeVar("_Array", bound=npt.NDArray[Any])
_ZERO = np.float32(0.0)  # a numpy scalar: np.maximum converts a Python float on every call


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportedActor:
    """What was exported: enough to rebuild the network and to check what the caller loads."""

    algorithm: str
    layer_sizes: tuple[int, ...]
    """Widths from the observation to the action, e.g. (30, 256, 256, 3)."""
    activation: Activation
    output: OutputKind
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    weights_sha256: str
    """SHA-256 of the weights in layer order, to tie a served actor to a registered model version."""

    @property
    def state_dim(self) -> int:
        return self.layer_sizes[0]

    @property
    def action_dim(self) -> int:
        return self.layer_sizes[-1]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ExportedActor:
        data = json.loads(text)
        for key in ("layer_sizes", "action_low", "action_high"):
            data[key] = tuple(data[key])
        return cls(**data)


def _sequential_parts(modules: list[nn.Module]) -> tuple[list[nn.Linear], Activation]:
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    kinds = {type(m) for m in modules if not isinstance(m, nn.Linear)}
    if kinds - {nn.ReLU, nn.Tanh} or len(kinds) > 1 or not linears:
        raise ValueError(f"model: only MLPs of Linear layers with one activation (ReLU or Tanh) export, got {kinds}")
    return linears, "tanh" if nn.Tanh in kinds else "relu"


def actor_layers(model: TD3 | PPO) -> tuple[ExportedActor, Layers]:
    """The deterministic actor of a DDPG/TD3 or PPO model as float32 ``(weight, bias)`` pairs + metadata."""
    space = model.action_space
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)  # type: ignore[attr-defined]
    if isinstance(model, TD3):
        modules = list(model.actor.mu)
        if not modules or not isinstance(modules[-1], nn.Tanh):
            raise ValueError("model: expected a tanh-squashed DDPG/TD3 actor")
        linears, activation = _sequential_parts(modules[:-1])
        output: OutputKind = "tanh_rescale"
    elif isinstance(model, PPO):
        if model.policy.use_sde or model.policy.squash_output:
            raise ValueError("model: PPO with gSDE or squashed output does not export")
        modules = [*model.policy.mlp_extractor.policy_net, model.policy.action_net]
        linears, activation = _sequential_parts(modules)
        output = "clip"
    else:
        raise ValueError(f"model: expected DDPG, TD3 or PPO, got {type(model).__name__}")
    layers = [(_numpy(m.weight), _numpy(m.bias)) for m in linears]
    spec = ExportedActor(
        algorithm="ddpg" if isinstance(model, DDPG) else "td3" if isinstance(model, TD3) else "ppo",
        layer_sizes=(linears[0].in_features, *(m.out_features for m in linears)),
        activation=activation,
        output=output,
        action_low=tuple(float(v) for v in low),
        action_high=tuple(float(v) for v in high),
        weights_sha256=weights_digest(layers),
    )
    return spec, layers


def weights_digest(layers: Layers) -> str:
    """SHA-256 over every weight and bias, in layer order."""
    return hashlib.sha256(b"".join(w.tobytes() + b.tobytes() for w, b in layers)).hexdigest()


def _numpy(parameter: torch.Tensor) -> Float32Array:
    values: Float32Array = parameter.detach().cpu().numpy().astype(np.float32, copy=True)
    return values


def export_actor(model: TD3 | PPO, path: str | Path) -> ExportedActor:
    """Write ``actor.safetensors`` and ``actor.onnx`` into the folder ``path`` (created if missing)."""
    spec, layers = actor_layers(model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"layers.{k}.{part}": array
        for k, pair in enumerate(layers)
        for part, array in zip(("weight", "bias"), pair, strict=True)
    }
    tensors["action_low"] = np.asarray(spec.action_low, np.float32)
    tensors["action_high"] = np.asarray(spec.action_high, np.float32)
    safetensors.numpy.save_file(tensors, str(folder / WEIGHTS_FILE), metadata={METADATA_KEY: spec.to_json()})
    onnx = mlp_model(
        layers,
        activation=spec.activation,
        output=spec.output,
        action_low=tensors["action_low"],
        action_high=tensors["action_high"],
    )
    (folder / ONNX_FILE).write_bytes(onnx)
    return spec


def read_actor(path: str | Path) -> tuple[ExportedActor, Layers]:
    """Metadata and layers from an exported folder (safetensors only: no pickle)."""
    weights_file = Path(path) / WEIGHTS_FILE
    with safetensors.safe_open(str(weights_file), framework="numpy") as handle:
        metadata = handle.metadata() or {}
    if METADATA_KEY not in metadata:
        raise ValueError(f"path: {weights_file} has no {METADATA_KEY} metadata; not an exported actor")
    spec = ExportedActor.from_json(metadata[METADATA_KEY])
    tensors = safetensors.numpy.load_file(str(weights_file))
    n_layers = len(spec.layer_sizes) - 1
    layers = [(tensors[f"layers.{k}.weight"], tensors[f"layers.{k}.bias"]) for k in range(n_layers)]
    if weights_digest(layers) != spec.weights_sha256:
        raise ValueError(f"path: the weights in {weights_file} do not match their recorded SHA-256")
    return spec, layers


class NumpyActor:
    """The actor's forward pass on numpy arrays; immutable once built (the online learner swaps whole actors).

    One observation (1-D) runs through the compiled ``forward_row`` (one call instead of ~11 numpy operations,
    the decision path's batch-1 latency); a batch (2-D) through numpy's BLAS matmuls. Holds no scratch
    buffers: every call returns a fresh array, and calls from several threads do not interfere.
    """

    def __init__(self, spec: ExportedActor, layers: Layers) -> None:
        self.spec = spec
        # (in, out) layout so that a row vector multiplies on the left without a transpose per call
        self._layers = [(_frozen(np.ascontiguousarray(w.T)), _frozen(b.copy())) for w, b in layers]
        self._relu = spec.activation == "relu"
        self._squash = spec.output == "tanh_rescale"
        self._low = _frozen(np.asarray(spec.action_low, np.float32))
        self._high = _frozen(np.asarray(spec.action_high, np.float32))
        # low + 0.5 (a + 1) (high - low) == centre + half_range a: one multiply-add instead of four numpy ops
        # (a few ulp from SB3's unscale_action, far inside the 1e-5 parity tolerance)
        self._half_range = _frozen(0.5 * (self._high - self._low))
        self._centre = _frozen(self._low + self._half_range)
        self._row_shape = (spec.state_dim,)
        params, sizes = pack_layers(self._layers)
        bounds = np.stack([self._low, self._high, self._half_range, self._centre])
        self._row_args = (_frozen(params), _frozen(sizes), self._relu, self._squash, _frozen(bounds))
        # compile (or load numba's on-disk cache) now rather than on the first live decision
        forward_row(np.zeros(self._row_shape, np.float32), *self._row_args)

    def row_args(self, state_dim: int) -> tuple[Any, ...] | None:
        """``forward_row``'s arguments after the observation, or None unless the actor takes ``state_dim``
        inputs: the decision path runs them fused with the observation (``_kernels.observe_and_act``),
        and the compiled kernel does not bounds-check."""
        return self._row_args if (state_dim,) == self._row_shape else None

    def __call__(self, obs: npt.ArrayLike) -> Float32Array:
        """The action of one observation (a fresh array the caller may keep) or of a batch (rows)."""
        x = np.ascontiguousarray(obs, dtype=np.float32)  # no copy when obs already is
        if x.shape == self._row_shape:
            action: Float32Array = forward_row(x, *self._row_args)
            return action
        if x.ndim == 1:  # checked here: the compiled kernel does not bounds-check
            raise ValueError(f"obs: expected shape {self._row_shape} or (n, {self.spec.state_dim}), got {x.shape}")
        return self._batch(x)

    def _batch(self, x: Float32Array) -> Float32Array:
        *hidden, (w_out, b_out) = self._layers
        for w, b in hidden:
            x = x @ w
            x += b
            if self._relu:
                np.maximum(x, _ZERO, out=x)
            else:
                np.tanh(x, out=x)
        x = x @ w_out
        x += b_out
        if self._squash:
            np.tanh(x, out=x)
            x *= self._half_range
            x += self._centre
            return x
        return np.clip(x, self._low, self._high)


def _frozen(array: _Array) -> _Array:
    array.setflags(write=False)
    return array


class ActorMLP(nn.Module):
    """The actor as a plain torch module, rebuilt from the exported state_dict."""

    def __init__(self, spec: ExportedActor) -> None:
        super().__init__()
        sizes = spec.layer_sizes
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in itertools.pairwise(sizes))
        self.activation: nn.Module = nn.ReLU() if spec.activation == "relu" else nn.Tanh()
        self.squash = spec.output == "tanh_rescale"
        self.action_low: torch.Tensor
        self.action_high: torch.Tensor
        self.register_buffer("action_low", torch.zeros(spec.action_dim))
        self.register_buffer("action_high", torch.zeros(spec.action_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        x = self.layers[-1](x)
        low, high = self.action_low, self.action_high
        if self.squash:
            return low + (0.5 * (torch.tanh(x) + 1.0) * (high - low))
        return torch.clamp(x, low, high)


def load_torch_actor(path: str | Path) -> ActorMLP:
    """The exported actor as an ``ActorMLP`` in eval mode (weights via ``safetensors.torch``)."""
    spec, _ = read_actor(path)
    module = ActorMLP(spec)
    module.load_state_dict(safetensors.torch.load_file(str(Path(path) / WEIGHTS_FILE)))
    return module.eval()


class TorchActor:
    """numpy in, numpy out around an ``ActorMLP``."""

    def __init__(self, module: ActorMLP) -> None:
        self.module = module

    def __call__(self, obs: npt.ArrayLike) -> Float32Array:
        with torch.inference_mode():
            action = self.module(torch.as_tensor(np.asarray(obs, dtype=np.float32)))
        out: Float32Array = action.numpy()
        return out


class OnnxActor:
    """numpy in, numpy out around an ONNX Runtime session pinned to one thread (batch-1 latency)."""

    def __init__(self, onnx_file: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def __call__(self, obs: npt.ArrayLike) -> Float32Array:
        x = np.asarray(obs, dtype=np.float32)
        batch = x[None, :] if x.ndim == 1 else x
        (action,) = self.session.run(["action"], {"obs": batch})
        out: Float32Array = action[0] if x.ndim == 1 else action
        return out


def load_actor(path: str | Path, backend: Backend = "numpy") -> ActorFn:
    """A numpy ``obs -> action`` function of the actor exported to ``path``; never unpickles."""
    if backend == "numpy":
        return NumpyActor(*read_actor(path))
    if backend == "torch":
        return TorchActor(load_torch_actor(path))
    if backend == "onnx":
        read_actor(path)  # the metadata check: refuse a folder that is not an exported actor
        return OnnxActor(Path(path) / ONNX_FILE)
    raise ValueError(f"backend: must be numpy, torch or onnx, got {backend!r}")
