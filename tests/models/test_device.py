"""Device manager: every branch of the decision on hand-written probes, and the real probe on this machine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from models.device import (
    DeviceChoice,
    DeviceManagerConfig,
    Probe,
    choose_device,
    cpu_count,
    probe,
    select_device,
)

CPU_ONLY = Probe(
    cuda_available=False,
    cuda_device_count=0,
    cuda_capability=None,
    cuda_bf16_supported=False,
    mps_available=False,
    xla_available=False,
    cpu_count=8,
)
A100 = replace(CPU_ONLY, cuda_available=True, cuda_device_count=4, cuda_capability=(8, 0), cuda_bf16_supported=True)
V100 = replace(A100, cuda_device_count=1, cuda_capability=(7, 0), cuda_bf16_supported=False)
APPLE = replace(CPU_ONLY, mps_available=True)
TPU = replace(CPU_ONLY, xla_available=True)
AUTO = DeviceManagerConfig()


@pytest.fixture
def restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_choose_device_given_ampere_gpu_returns_cuda_with_bf16_autocast() -> None:
    choice = choose_device(AUTO, A100)

    assert (choice.kind, choice.device, choice.dtype, choice.mixed_precision) == ("cuda", "cuda", "bfloat16", True)
    assert choice.num_gpus == 1
    assert choice.threads == 8
    assert not choice.fell_back
    assert "auto-detected cuda" in choice.reason and "8.0" in choice.reason


def test_choose_device_given_volta_gpu_returns_float16_autocast() -> None:
    choice = choose_device(AUTO, V100)

    assert (choice.dtype, choice.mixed_precision) == ("float16", True)
    assert "no bf16 on compute capability 7.0" in choice.reason


def test_choose_device_given_xla_returns_tpu_in_bfloat16_without_gpus() -> None:
    choice = choose_device(AUTO, TPU)

    assert (choice.kind, choice.device, choice.dtype, choice.num_gpus) == ("tpu", "xla", "bfloat16", 0)


def test_choose_device_given_apple_silicon_returns_mps_in_float32() -> None:
    choice = choose_device(AUTO, APPLE)

    assert (choice.kind, choice.device, choice.dtype, choice.mixed_precision) == ("mps", "mps", "float32", False)


def test_choose_device_given_cpu_only_returns_cpu_in_float32() -> None:
    choice = choose_device(AUTO, CPU_ONLY)

    assert (choice.kind, choice.dtype, choice.mixed_precision, choice.num_gpus) == ("cpu", "float32", False, 0)


def test_choose_device_given_cuda_and_tpu_returns_cuda_first() -> None:
    assert choose_device(AUTO, replace(A100, xla_available=True, mps_available=True)).kind == "cuda"


def test_choose_device_given_unavailable_cuda_request_returns_fallback_to_next_available() -> None:
    choice = choose_device(DeviceManagerConfig(preferred="cuda"), APPLE)

    assert (choice.kind, choice.requested, choice.fell_back) == ("mps", "cuda", True)
    assert "cuda requested but unavailable" in choice.reason and "fell back to mps" in choice.reason


def test_choose_device_given_unavailable_request_without_auto_detect_returns_cpu() -> None:
    choice = choose_device(DeviceManagerConfig(preferred="tpu", auto_detect=False), A100)

    assert (choice.kind, choice.fell_back) == ("cpu", True)
    assert "torch_xla is not importable" in choice.reason


def test_choose_device_given_cpu_request_on_gpu_machine_returns_cpu() -> None:
    choice = choose_device(DeviceManagerConfig(preferred="cpu"), A100)

    assert (choice.kind, choice.num_gpus, choice.fell_back) == ("cpu", 0, False)


def test_choose_device_given_auto_detect_off_returns_cpu_even_with_gpu() -> None:
    choice = choose_device(DeviceManagerConfig(auto_detect=False), A100)

    assert choice.kind == "cpu"
    assert "auto_detect is off" in choice.reason


def test_choose_device_given_requested_available_device_without_auto_detect_returns_it() -> None:
    assert choose_device(DeviceManagerConfig(preferred="mps", auto_detect=False), APPLE).kind == "mps"


def test_choose_device_given_mixed_precision_disabled_returns_float32_on_gpu() -> None:
    choice = choose_device(DeviceManagerConfig(enable_mixed_precision=False), A100)

    assert (choice.kind, choice.dtype, choice.mixed_precision) == ("cuda", "float32", False)


def test_choose_device_given_configured_threads_returns_them() -> None:
    choice = choose_device(DeviceManagerConfig(threads=3), CPU_ONLY)

    assert choice.threads == 3
    assert "from the config" in choice.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [("preferred", "gpu"), ("threads", 0), ("threads", True), ("auto_detect", "yes"), ("enable_mixed_precision", 1)],
)
def test_config_given_invalid_field_returns_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        DeviceManagerConfig(**{field: value})  # type: ignore[arg-type]


def test_probe_given_impossible_cuda_count_returns_error_naming_field() -> None:
    with pytest.raises(ValueError, match="cuda_device_count"):
        replace(CPU_ONLY, cuda_available=True)
    with pytest.raises(ValueError, match="cpu_count"):
        replace(CPU_ONLY, cpu_count=0)


def test_probe_given_this_cpu_machine_returns_real_torch_state() -> None:
    machine = probe()

    assert machine.cuda_available == torch.cuda.is_available()
    assert machine.mps_available == torch.backends.mps.is_available()
    assert machine.cpu_count == cpu_count() >= 1
    if not machine.cuda_available:
        assert (machine.cuda_device_count, machine.cuda_capability) == (0, None)


@pytest.mark.usefixtures("restore_threads")
def test_select_device_given_this_machine_returns_choice_and_sets_torch_threads() -> None:
    choice = select_device(DeviceManagerConfig(threads=1))

    assert torch.get_num_threads() == 1
    assert choice.torch_device() == torch.device(choice.device)
    assert choice.torch_dtype() == getattr(torch, choice.dtype)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert (choice.kind, choice.dtype, choice.num_gpus) == ("cpu", "float32", 0)


@pytest.mark.usefixtures("restore_threads")
def test_select_device_given_fallback_returns_choice_and_logs_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="models.device"):
        choice = select_device(DeviceManagerConfig(preferred="cuda", threads=2), machine=CPU_ONLY)

    assert isinstance(choice, DeviceChoice)
    assert choice.kind == "cpu"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "cuda requested but unavailable" in caplog.records[0].getMessage()
