"""``--plot``: the invariant (a 2-D projection), the initial and unsafe sets, the reach tube,
and the counterexample trajectory, drawn with matplotlib (imported only here)."""

from __future__ import annotations

from pathlib import Path

from saferl.closedloop.engine import ClosedLoopOutcome
from saferl.errors import MissingDependencyError
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["plot_outcomes"]


def _axes_for(prop: ClosedLoopProperty, out: ClosedLoopOutcome) -> tuple[int, int]:
    if out.invariant is not None and len(out.invariant.dims) >= 2:
        return out.invariant.dims[-2], out.invariant.dims[-1]
    return 0, 1


def plot_outcomes(props: list[ClosedLoopProperty], outcomes: list[ClosedLoopOutcome], path: Path) -> None:
    """One panel per property, saved as a PNG at ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        raise MissingDependencyError("matplotlib", "plot") from None
    fig, axes = plt.subplots(1, len(outcomes), figsize=(6 * len(outcomes), 5), squeeze=False)
    for ax, prop, out in zip(axes[0], props, outcomes, strict=True):
        i, j = _axes_for(prop, out)
        names = prop.state_names
        grid = out.invariant
        if grid is not None:
            di, dj = grid.dims.index(i), grid.dims.index(j)
            alive = grid.alive.reshape(grid.shape)
            others = tuple(k for k in range(alive.ndim) if k not in (di, dj))
            proj = alive.any(axis=others) if others else alive
            if di > dj:
                proj = proj.T
            ax.pcolormesh(grid.edges[di], grid.edges[dj], proj.T.astype(float), cmap="Greens", vmin=0, vmax=2.5, shading="flat")
        if out.tube:
            for lo_t, hi_t in out.tube:
                ax.add_patch(Rectangle((lo_t[i], lo_t[j]), hi_t[i] - lo_t[i], hi_t[j] - lo_t[j],
                                       fill=False, color="tab:blue", alpha=0.3, lw=0.5))
        for box in prop.initial:
            ax.add_patch(Rectangle((box[i][0], box[j][0]), box[i][1] - box[i][0], max(box[j][1] - box[j][0], 1e-9),
                                   fill=False, color="black", lw=1.5, label="initial"))
        if out.trajectory is not None:
            s = out.trajectory.states
            ax.plot(s[:, i], s[:, j], "r.-", lw=0.8, ms=3, label="counterexample")
        ax.autoscale_view()
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.set_title(f"{prop.id}: {out.result.verdict.value}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
