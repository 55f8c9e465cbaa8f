"""The policy's proposal in one compiled call: context, arm scores and ranking, observation and actor.

``BundlePolicy.propose`` runs this on every event of every role. The parts are the bandit's
(``models.bandit._kernels.context_select``) and the actor's (``models.agents._kernels``) kernels, called
from one kernel so that the per-call cost (numba types every argument, about 60 ns each, and boxes every
result) is paid once; the values are theirs bit for bit. The fixed arguments travel packed (``pack_static``)
because a separate argument per scale, index and flag would cost more than the arithmetic they feed.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from models.agents._kernels import observe_and_act
from models.bandit._kernels import context_select

_N_CONTEXT_FEATURES = 5


def pack_static(
    index: npt.NDArray[np.int64],
    scales: npt.NDArray[np.float64],
    alpha: float,
    epsilon: float,
    center: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    clip: float,
    actor: tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], bool, bool, npt.NDArray[np.float32]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """``propose_kernel``'s ``fspec``, ``ispec`` and ``net``, read-only, from the context's positions and
    scales, the bandit's alpha and epsilon, the scaler, the observation clip and the actor's ``row_args``.

    ``fspec``: the context scales (vol, spread, pnl, clip), alpha, epsilon, the observation clip, then the
    scaler's center and scale. ``ispec``: the context's 5 feature positions, relu, squash, then the layer
    widths. ``net``: the packed layers, then the action bounds' 4 rows.
    """
    params, sizes, relu, squash, bounds = actor
    if index.shape != (_N_CONTEXT_FEATURES,) or scales.shape != (4,) or center.shape != scale.shape:
        raise ValueError(f"pack_static: index {index.shape}, scales {scales.shape}, center/scale {center.shape}")
    if bounds.shape != (4, int(sizes[-1])):
        raise ValueError(f"pack_static: bounds {bounds.shape}, expected (4, {int(sizes[-1])})")
    head = [*scales.tolist(), float(alpha), float(epsilon), float(clip)]
    fspec = np.concatenate([np.asarray(head), center, scale]).astype(np.float64)
    ispec = np.asarray([*index.tolist(), int(relu), int(squash), *sizes.tolist()], dtype=np.int64)
    net = np.concatenate([params, bounds.ravel()]).astype(np.float32)
    for array in (fspec, ispec, net):
        array.flags.writeable = False
    return fspec, ispec, net


@njit(cache=True)
def propose_kernel(
    x: np.ndarray,
    obs: np.ndarray,
    vector: np.ndarray,
    regime: int,
    arm_pnl: np.ndarray,
    flags: np.ndarray,
    position: float,
    entry_price: float,
    close: float,
    a_inv: np.ndarray,
    theta: np.ndarray,
    out: np.ndarray,
    order: np.ndarray,
    fspec: np.ndarray,
    ispec: np.ndarray,
    net: np.ndarray,
) -> tuple[int, float, float, float]:
    """(greedy arm, size, entry, exit): ``context_select`` into ``x``, then ``observe_and_act`` into ``obs``.

    The caller allocates ``x`` and ``obs`` (the proposal keeps both): handing back arrays numba allocated
    costs more than passing them in.
    ``a_inv``, ``theta``, ``out``, ``order`` and ``flags`` are the bandit's (``LinUCB.compiled_args``,
    ``LinUCB.mask_flags``), and the caller finishes the choice with ``LinUCB.compiled_choice``. The actor's
    three outputs come back as floats (float32 to float64 is exact), entry and exit already clamped to
    [0, 1] as ``BundlePolicy`` clamps them. A negative greedy arm (-2: the context cannot be built, -1: a
    score is not finite, -3: the action is not finite) leaves the buffers partly written: the caller then
    takes the Python path, which names the culprit, with nothing drawn from the bandit's RNG yet. The caller
    checks the lengths (the actor's three outputs included) and the position: numba does not bounds-check.
    """
    greedy = context_select(
        vector,
        ispec[:_N_CONTEXT_FEATURES],
        fspec[:4],
        regime,
        arm_pnl,
        a_inv,
        theta,
        x,
        fspec[4],
        fspec[5],
        flags,
        out,
        order,
    )
    if greedy < 0:
        return greedy, 0.0, 0.0, 0.0
    n = (fspec.shape[0] - 7) // 2
    sizes = ispec[7:]
    n_out = sizes[sizes.shape[0] - 1]
    n_params = net.shape[0] - 4 * n_out
    action = observe_and_act(
        obs,
        vector,
        fspec[7 : 7 + n],
        fspec[7 + n :],
        fspec[6],
        position,
        entry_price,
        close,
        regime,
        net[:n_params],
        sizes,
        ispec[5] != 0,
        ispec[6] != 0,
        net[n_params:].reshape((4, n_out)),
    )
    size, entry, exit_ = float(action[0]), float(action[1]), float(action[2])
    if not (math.isfinite(size) and math.isfinite(entry) and math.isfinite(exit_)):
        return -3, 0.0, 0.0, 0.0
    return greedy, size, _unit(entry), _unit(exit_)


@njit(cache=True)
def _unit(value: float) -> float:
    """``min(1.0, max(0.0, value))`` as Python evaluates it on a finite value (-0.0 becomes 0.0)."""
    if 0.0 < value < 1.0:
        return value
    return 0.0 if value <= 0.0 else 1.0
