"""The policy's proposal in one compiled call: context, arm scores and ranking, observation and actor.

``BundlePolicy.propose`` runs this on every event of every role. The parts are the bandit's
(``models.bandit._kernels.context_select``) and the actor's (``models.agents._kernels``) kernels, called
from one kernel so that the per-call cost (numba types every argument, about 60 ns each, and boxes every
result) is paid once; the values are theirs bit for bit. The fixed arguments travel packed (``pack_static``)
because a separate argument per scale, index and flag would cost more than the arithmetic they feed.
"""

from __future__ import annotations

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
    dim: int,
    relu: bool,
    squash: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``propose_kernel``'s ``fspec``, ``ispec`` and ``norm``, read-only.

    ``fspec``: the context scales (vol, spread, pnl, clip), the bandit's alpha and epsilon, the observation
    clip. ``ispec``: the context's 5 feature positions, the observation length, relu, squash. ``norm``: the
    scaler's center and scale as two rows.
    """
    if index.shape != (_N_CONTEXT_FEATURES,) or scales.shape != (4,) or center.shape != scale.shape:
        raise ValueError(f"pack_static: index {index.shape}, scales {scales.shape}, center/scale {center.shape}")
    fspec = np.asarray([*scales.tolist(), float(alpha), float(epsilon), float(clip)], dtype=np.float64)
    ispec = np.asarray([*index.tolist(), int(dim), int(relu), int(squash)], dtype=np.int64)
    norm = np.stack([center, scale]).astype(np.float64)
    for array in (fspec, ispec, norm):
        array.flags.writeable = False
    return fspec, ispec, norm


@njit(cache=True)
def propose_kernel(
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
    norm: np.ndarray,
    params: np.ndarray,
    sizes: np.ndarray,
    bounds: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(greedy arm, context, observation, action): ``context_select`` then ``observe_and_act``.

    ``a_inv``, ``theta``, ``out``, ``order`` and ``flags`` are the bandit's (``LinUCB.compiled_args``,
    ``LinUCB.mask_flags``), and the caller finishes the choice with ``LinUCB.compiled_choice``. A negative
    greedy arm (-2: the context cannot be built, -1: a score is not finite) comes back with empty
    observation and action: the caller then takes the Python path, which names the culprit. The caller
    checks the lengths and the position (numba does not bounds-check).
    """
    x = np.empty(theta.shape[1])
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
        return greedy, x, np.empty(0, dtype=np.float32), np.empty(0, dtype=np.float32)
    obs, action = observe_and_act(
        vector,
        norm[0],
        norm[1],
        fspec[6],
        position,
        entry_price,
        close,
        regime,
        ispec[5],
        params,
        sizes,
        ispec[6] != 0,
        ispec[7] != 0,
        bounds,
    )
    return greedy, x, obs, action
