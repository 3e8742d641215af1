"""Sweeps: generate k samples per prompt at every point of a grid, with fixed seeds, score
them, and append one tidy CSV row per sample. A sweep resumes where it stopped."""
from __future__ import annotations

import csv
import itertools
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from engine.backends.generation import GenerationResult
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig
from engine.evaluation.scoring import Scorer
from engine.weights import Attribute, attribute_point, make_point

DEFAULT_PROMPTS = (
    "The letter arrived on a grey morning, and",
    "When I think about my neighbours,",
    "The new law was announced yesterday. Most people",
    "She opened the door and saw",
    "There is one thing everybody should know about money:",
)


@dataclass(frozen=True)
class GridPoint:
    id: str
    weights: dict[str, float]
    alpha: float | None = None  # the swept attribute position, for alpha grids
    attribute: str = ""
    zone: str = "interpolation"


def simplex_grid(names: Sequence[str], step: float) -> list[GridPoint]:
    """Every point of the simplex whose weights are multiples of ``step`` (1/step integer)."""
    n_steps = round(1 / step)
    if n_steps < 1 or abs(n_steps * step - 1) > 1e-9:
        raise ProsemixError(f"the simplex step must divide 1 (e.g. 0.1, 0.2, 0.25), got {step}")
    points = []
    for combo in itertools.product(range(n_steps + 1), repeat=len(names) - 1):
        if sum(combo) > n_steps:
            continue
        counts = list(combo) + [n_steps - sum(combo)]
        w = [c / n_steps for c in counts]
        points.append(GridPoint("s:" + ",".join(f"{x:.3f}" for x in w), dict(zip(names, w))))
    return points


def alpha_grid(attribute: Attribute, start: float, stop: float, step: float,
               others: Sequence[str] = ()) -> list[GridPoint]:
    """One attribute's alpha from start to stop (extrapolation allowed), lambda = 1."""
    if step <= 0 or stop < start:
        raise ProsemixError("an alpha grid needs start <= stop and a positive step")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    points = []
    for k in range(count):
        alpha = round(start + k * step, 10)
        p = attribute_point([attribute], [alpha], [1.0], extrapolate=True)
        w = {**{o: 0.0 for o in others}, **p.as_dict()}
        points.append(GridPoint(f"a:{attribute.name}:{alpha:.3f}", w, alpha, attribute.name, p.zone.label))
    return points


def lambda_alpha_grid(attributes: Sequence[Attribute], alphas: Sequence[float],
                      lambdas: Sequence[float]) -> list[GridPoint]:
    """The paper's two-level form: every combination of the attributes' alphas, fixed lambdas."""
    points = []
    for combo in itertools.product(alphas, repeat=len(attributes)):
        p = attribute_point(attributes, list(combo), list(lambdas), extrapolate=True)
        pid = "la:" + ",".join(f"{a.name}={x:.2f}" for a, x in zip(attributes, combo))
        points.append(GridPoint(pid, p.as_dict(), None, "", p.zone.label))
    return points


GRIDS = ("simplex", "alpha", "attributes", "lambda-alpha")


def alpha_values(start: float, stop: float, step: float) -> list[float]:
    if step <= 0 or stop < start:
        raise ProsemixError(f"need start <= stop and step > 0, got {start}..{stop} by {step}")
    return [round(start + k * step, 6) for k in range(int((stop - start) / step + 1e-9) + 1)]


def plan_points(grid: str, names: Sequence[str], attributes: Sequence[Attribute], *,
                step: float, attribute: str = "", start: float = 0.0, stop: float = 1.0
                ) -> list[GridPoint]:
    """The points a sweep visits: the triangle (``simplex``), one attribute's alpha between
    its poles (``alpha``), each attribute's alpha in turn, the others' poles at 0
    (``attributes``: the entanglement matrix), or every attribute's alpha at equal lambdas
    (``lambda-alpha``).
    Errors say which anchors to enable."""
    if grid == "simplex":
        if len(names) < 2:
            raise ProsemixError("a simplex sweep needs at least two anchors")
        return simplex_grid(names, step)
    if grid == "alpha":
        attr = next((a for a in attributes if a.name == attribute), None)
        if attr is None:
            raise ProsemixError(f"the attribute must be one of {sorted(a.name for a in attributes)}, "
                                f"got {attribute!r}")
        if attr.plus not in names or attr.minus not in names:
            raise ProsemixError(f"enable both poles of {attribute} ({attr.plus}, {attr.minus}) "
                                "to sweep its alpha")
        return alpha_grid(attr, start, stop, step, others=names)
    if grid == "attributes":
        chosen = [a for a in attributes if a.plus in names and a.minus in names]
        if not chosen:
            raise ProsemixError("an entanglement sweep needs both poles of at least one attribute")
        return [p for a in chosen for p in alpha_grid(a, start, stop, step, others=names)]
    if grid == "lambda-alpha":
        chosen = [a for a in attributes if a.plus in names and a.minus in names]
        if not chosen:
            raise ProsemixError("a lambda-alpha sweep needs both poles of at least one attribute")
        return lambda_alpha_grid(chosen, alpha_values(start, stop, step), [1 / len(chosen)] * len(chosen))
    raise ProsemixError(f"unknown grid {grid!r}; choose one of {GRIDS}")


def eval_texts(names: Sequence[str]) -> dict[str, str]:
    """Each anchor's held-out text in resources/eval, where there is one (affinity scorer)."""
    from engine.paths import resources_dir

    folder = resources_dir() / "eval"
    return {n: (folder / f"{n}.txt").read_text(encoding="utf-8")
            for n in names if (folder / f"{n}.txt").is_file()}


@dataclass
class SweepProgress:
    done: int
    total: int
    seconds: float
    eta_seconds: float
    message: str = ""


@dataclass
class SweepConfig:
    prompts: Sequence[str] = DEFAULT_PROMPTS
    samples: int = 2
    max_tokens: int = 32
    temperature: float = 0.8
    seed: int = 0
    heldout_text: str = ""  # perplexity on a fixed text, once per point
    strength: float = 1.0  # every point's global strength s (W = W_base + s sum w_i Delta_i)
    # a point's samples of one prompt as one candidates call (`Backend.generate_candidates`):
    # the same text per (point, prompt, seed), the prompt evaluated once
    batch: bool = False
    extra: dict = field(default_factory=dict)


def _row_key(row: dict) -> tuple[str, str, str]:
    return row["point"], row["prompt_id"], row["sample"]


def run_sweep(backend, points: Sequence[GridPoint], scorers: Sequence[Scorer], out: str | os.PathLike[str],
              config: SweepConfig = SweepConfig(),
              progress: Callable[[SweepProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Path:
    """Run (or resume) a sweep and return the CSV path."""
    progress = progress or (lambda p: None)
    should_stop = should_stop or (lambda: False)
    out = Path(out)
    names = backend.anchor_names
    for p in points:
        unknown = set(p.weights) - set(names)
        if unknown:
            raise ProsemixError(f"grid point {p.id} names anchors the backend lacks: {sorted(unknown)}")
    columns = (["point", "attribute", "alpha", "zone", "strength"] + [f"w:{n}" for n in names] +
               ["prompt_id", "sample", "seed", "backend", "text", "tokens", "ppl_self", "ppl_heldout"] +
               [f"score:{s.name}" for s in scorers])
    done: set[tuple[str, str, str]] = set()
    if out.exists() and out.stat().st_size:
        with open(out, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != columns:
                raise ProsemixError(f"{out} holds a sweep with other columns; choose a new file to start over")
            done = {_row_key(r) for r in reader}
    else:
        with open(out, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(columns)
    jobs = [(p, i, k) for p in points for i in range(len(config.prompts)) for k in range(config.samples)]
    todo = [j for j in jobs if (j[0].id, str(j[1]), str(j[2])) not in done]
    total, start = len(jobs), time.perf_counter()
    progress(SweepProgress(total - len(todo), total, 0.0, 0.0, "resuming" if done else "starting"))
    if config.heldout_text and not backend.can_score:
        raise ProsemixError(f"the {backend.name} backend cannot score a fixed text: "
                            "leave out the held-out perplexity")
    heldout: dict[str, float] = {}
    groups: dict[tuple[str, int], list[tuple[GridPoint, int, int]]] = {}
    for job in todo:  # a point's samples of one prompt, in order
        groups.setdefault((job[0].id, job[1]), []).append(job)
    n = 0

    def check_stop() -> None:
        if should_stop():
            raise SweepCancelled(f"sweep stopped after {total - len(todo) + n} of {total} "
                                 "samples; run it again to resume")

    with open(out, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)

        def write(point: GridPoint, weights: list[float], prompt_id: int, sample: int, seed: int,
                  result: GenerationResult) -> None:
            nonlocal n
            text = result.text
            writer.writerow([point.id, point.attribute, "" if point.alpha is None else point.alpha,
                             point.zone, config.strength] +
                            weights + [prompt_id, sample, seed, backend.name, text, result.n_tokens,
                                       round(result.perplexity, 4),
                                       round(heldout.get(point.id, math.nan), 4)] +
                            [round(s(text), 5) for s in scorers])
            f.flush()
            os.fsync(f.fileno())
            n += 1
            elapsed = time.perf_counter() - start
            progress(SweepProgress(total - len(todo) + n, total, elapsed,
                                   elapsed / n * (len(todo) - n)))

        for group in groups.values():
            if config.batch:  # one at a time, each sample checks (below)
                check_stop()
            point, prompt_id = group[0][0], group[0][1]
            weights = [point.weights.get(a, 0.0) for a in names]
            backend.set_weights(make_point(weights, names, extrapolate=True,
                                           strength=config.strength))
            if config.heldout_text and point.id not in heldout:
                heldout[point.id] = backend.perplexity(config.heldout_text)
            seeds = [config.seed + 1000 * prompt_id + sample for _, _, sample in group]
            sampling = SamplingConfig(max_tokens=config.max_tokens,
                                      temperature=config.temperature, seed=seeds[0])
            prompt = config.prompts[prompt_id]
            if config.batch and len(seeds) > 1:
                results = backend.generate_candidates(prompt, sampling, seeds, logprobs=True)
                for (_, _, sample), seed, result in zip(group, seeds, results):
                    write(point, weights, prompt_id, sample, seed, result)
                continue
            for (_, _, sample), seed in zip(group, seeds):
                check_stop()
                write(point, weights, prompt_id, sample, seed,
                      backend.generate(prompt, replace(sampling, seed=seed), logprobs=True))
    return out


class SweepCancelled(ProsemixError):
    pass


def read_table(path: str | os.PathLike[str]) -> list[dict]:
    """The sweep CSV as dicts with numbers parsed."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            parsed: dict = {}
            for k, v in r.items():
                if k in ("point", "attribute", "zone", "text", "backend"):
                    parsed[k] = v
                else:
                    try:
                        parsed[k] = float(v) if v != "" else math.nan
                    except ValueError:
                        parsed[k] = v
            rows.append(parsed)
    if not rows:
        raise ProsemixError(f"{path} holds no sweep rows")
    return rows
