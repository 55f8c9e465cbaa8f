"""Device manager: which accelerator, dtype and thread count training and serving use, and why.

The decision is a pure function, ``choose_device(config, probe)``, over a ``Probe`` record of what the
machine offers, so every branch (CUDA with and without bf16, MPS, TPU, CPU, fallbacks) is unit-tested on a
CPU-only machine. ``probe()`` reads the real torch state; ``select_device`` probes, decides, applies the
thread count and logs the outcome. Ray resource requests take ``DeviceChoice.num_gpus``.

Precision: bf16 autocast on CUDA devices that support it (compute capability 8.0+: same exponent range
as float32, so no loss scaling), fp16 autocast (with a gradient scaler) on older CUDA devices, bf16 on
TPU (XLA's native format), and plain float32 on MPS (its autocast coverage is partial and it has no
float64) and on CPU (bf16 on CPU is slower than float32 without AMX, and the networks here are small).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

PREFERENCES = ("auto", "cuda", "mps", "tpu", "cpu")
AUTO_ORDER = ("cuda", "tpu", "mps", "cpu")
"""Auto-detection takes the first available kind in this order; a fallback does too."""
_DEVICE_STRINGS = {"cuda": "cuda", "tpu": "xla", "mps": "mps", "cpu": "cpu"}


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceManagerConfig:
    """How to pick the device (the seed's ``auto_detect`` and ``enable_mixed_precision`` kept)."""

    auto_detect: bool = True
    """Probe for accelerators; off, ``preferred="auto"`` means CPU and a missing device falls back to CPU."""
    enable_mixed_precision: bool = True
    """Use bf16/fp16 autocast where the device supports it."""
    preferred: str = "auto"
    """One of "auto", "cuda", "mps", "tpu", "cpu"."""
    threads: int | None = None
    """Intra-op CPU threads (``torch.set_num_threads``); None: one per CPU this process may run on."""

    def __post_init__(self) -> None:
        if self.preferred not in PREFERENCES:
            raise ValueError(f"DeviceManagerConfig.preferred: must be one of {PREFERENCES}, got {self.preferred!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or self.threads < 1):
            raise ValueError(f"DeviceManagerConfig.threads: must be None or an integer >= 1, got {self.threads!r}")
        for field in ("auto_detect", "enable_mixed_precision"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"DeviceManagerConfig.{field}: must be a bool, got {getattr(self, field)!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Probe:
    """What the machine offers, as read by ``probe()`` (or written by hand in tests)."""

    cuda_available: bool
    cuda_device_count: int
    cuda_capability: tuple[int, int] | None
    """Compute capability of CUDA device 0 (e.g. (8, 0) for an A100); None without CUDA."""
    cuda_bf16_supported: bool
    mps_available: bool
    xla_available: bool
    """``torch_xla`` is importable."""
    cpu_count: int

    def __post_init__(self) -> None:
        if self.cpu_count < 1:
            raise ValueError(f"Probe.cpu_count: must be >= 1, got {self.cpu_count}")
        if self.cuda_device_count < 0 or (self.cuda_available and self.cuda_device_count == 0):
            raise ValueError(
                f"Probe.cuda_device_count: {self.cuda_device_count} with cuda_available={self.cuda_available}"
            )

    def available(self, kind: str) -> bool:
        """Whether a device of ``kind`` ("cuda", "tpu", "mps" or "cpu") can be used."""
        return {
            "cuda": self.cuda_available,
            "tpu": self.xla_available,
            "mps": self.mps_available,
            "cpu": True,
        }[kind]


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceChoice:
    """What the device manager chose, and why; immutable so it can be logged with every model run."""

    kind: str
    """"cuda", "tpu", "mps" or "cpu"."""
    device: str
    """The torch device string: "cuda", "xla", "mps" or "cpu"."""
    dtype: str
    """Compute dtype: "bfloat16" or "float16" under autocast, else "float32" (parameters stay float32)."""
    mixed_precision: bool
    threads: int
    num_gpus: int
    """GPUs to request per Ray actor or replica: 1 on CUDA, else 0."""
    requested: str
    fell_back: bool
    """The requested device was unavailable and another was chosen."""
    reason: str

    def torch_device(self) -> torch.device:
        """The chosen device as a ``torch.device`` (an XLA device needs ``torch_xla`` imported first)."""
        import torch

        return torch.device(self.device)

    def torch_dtype(self) -> torch.dtype:
        """The compute dtype as a ``torch.dtype``."""
        import torch

        dtype: torch.dtype = getattr(torch, self.dtype)
        return dtype


def choose_device(config: DeviceManagerConfig, probe: Probe) -> DeviceChoice:
    """Pick device, dtype and threads from what ``probe`` found; pure, so every branch is testable anywhere."""
    kind, fell_back, selection = _pick_kind(config, probe)
    dtype, mixed, precision = _precision(kind, probe, config.enable_mixed_precision)
    threads = config.threads if config.threads is not None else probe.cpu_count
    source = "from the config" if config.threads is not None else f"one per CPU of {probe.cpu_count}"
    return DeviceChoice(
        kind=kind,
        device=_DEVICE_STRINGS[kind],
        dtype=dtype,
        mixed_precision=mixed,
        threads=threads,
        num_gpus=1 if kind == "cuda" else 0,
        requested=config.preferred,
        fell_back=fell_back,
        reason=f"{selection}; {precision}; {threads} CPU threads ({source})",
    )


def _pick_kind(config: DeviceManagerConfig, probe: Probe) -> tuple[str, bool, str]:
    if config.preferred == "auto":
        if not config.auto_detect:
            return "cpu", False, "auto_detect is off and no device was requested: cpu"
        kind = next(k for k in AUTO_ORDER if probe.available(k))
        return kind, False, f"auto-detected {kind} (order {', '.join(AUTO_ORDER)})"
    if probe.available(config.preferred):
        return config.preferred, False, f"{config.preferred} requested and available"
    fallback = next(k for k in AUTO_ORDER if probe.available(k)) if config.auto_detect else "cpu"
    why = _UNAVAILABLE[config.preferred]
    return fallback, True, f"{config.preferred} requested but unavailable ({why}); fell back to {fallback}"


_UNAVAILABLE = {
    "cuda": "torch.cuda.is_available() is False",
    "tpu": "torch_xla is not importable",
    "mps": "torch.backends.mps.is_available() is False",
}


def _precision(kind: str, probe: Probe, enabled: bool) -> tuple[str, bool, str]:
    if not enabled:
        return "float32", False, "float32, mixed precision disabled"
    if kind == "cuda":
        capability = "unknown" if probe.cuda_capability is None else "{}.{}".format(*probe.cuda_capability)
        if probe.cuda_bf16_supported:
            return "bfloat16", True, f"bfloat16 autocast (compute capability {capability} supports bf16)"
        return "float16", True, f"float16 autocast with loss scaling (no bf16 on compute capability {capability})"
    if kind == "tpu":
        return "bfloat16", True, "bfloat16, XLA's native TPU format"
    if kind == "mps":
        return "float32", False, "float32 on MPS (partial autocast coverage, no float64)"
    return "float32", False, "float32 on CPU (bf16 autocast is slower than float32 without AMX)"


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def probe() -> Probe:
    """Read what this machine offers from torch (and whether ``torch_xla`` is importable)."""
    import torch

    cuda = bool(torch.cuda.is_available())
    capability: tuple[int, int] | None = None
    if cuda:
        major, minor = torch.cuda.get_device_capability(0)
        capability = (int(major), int(minor))
    return Probe(
        cuda_available=cuda,
        cuda_device_count=int(torch.cuda.device_count()) if cuda else 0,
        cuda_capability=capability,
        cuda_bf16_supported=bool(torch.cuda.is_bf16_supported()) if cuda else False,
        mps_available=bool(torch.backends.mps.is_available()),
        xla_available=importlib.util.find_spec("torch_xla") is not None,
        cpu_count=cpu_count(),
    )


def apply_threads(choice: DeviceChoice) -> None:
    """Set torch's intra-op thread count for this process (a process-wide setting)."""
    import torch

    torch.set_num_threads(choice.threads)


def select_device(config: DeviceManagerConfig | None = None, machine: Probe | None = None) -> DeviceChoice:
    """Probe (unless ``machine`` is given), choose, apply the thread count and log the choice."""
    choice = choose_device(config or DeviceManagerConfig(), machine or probe())
    apply_threads(choice)
    if choice.fell_back:
        logger.warning("device fallback: %s", choice.reason)
    else:
        logger.info("device: %s", choice.reason)
    return choice
