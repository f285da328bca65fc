"""The steps of `workbench run`, in the order that leaves every page complete. Each step names its program
(`train.<program>`), its flags (scaled to the collection), the files it reads and writes, and why it does not
apply to a collection. To add a step, add one `Step(...)` to STEPS."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.audio.catalogs import folder_audio
from core.text.sources import DEFAULT_AUDIO_ENCODER

MIN_GENRE_TRACKS = 3  # the tagger runs when at least two genres have this many tracks
SMALL_FOLDER = 12  # fewer audio files than this are prepared in the run's own process


@dataclass
class RunConfig:
    """What `workbench run` was asked to do."""

    root: Path
    out: Path
    labels: Path | None = None
    captions: Path | None = None
    weights_dir: Path | None = None
    engine: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    latent: bool = False
    text_data: tuple[Path, ...] = ()  # prepared datasets whose captions and tags train the general text model
    text_model: Path | None = None  # where the general text model goes (default <out>/../text_models/<name>)
    quiet: bool = False
    only: tuple[str, ...] = ()  # run just these steps (the others are listed as not asked for)


@dataclass
class Facts:
    """What the prepared collection holds (read from `<out>/catalog.csv`)."""

    n_ok: int = 0
    genres: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)
    frames: tuple[str, ...] = ()  # encoders with frames/<encoder>.npy

    @classmethod
    def read(cls, out: Path) -> Facts:
        """The facts of a prepared folder (empty when there is no catalog yet)."""
        path = Path(out) / "catalog.csv"
        if not path.is_file():
            return cls()
        cat = pd.read_csv(path, dtype=str, keep_default_na=False)
        ok = cat[cat["status"] == "ok"]
        frames = tuple(sorted(p.stem for p in (Path(out) / "frames").glob("*.npy")))
        return cls(len(ok), Counter(g for g in ok["genre"] if g), Counter(ok["split"]), frames)


@dataclass(frozen=True)
class Step:
    """One step: `argvs` gives the argument lists of its program (one call each), `inputs` the files whose
    change makes it stale (a string with `*` is a glob under the output folder), `outputs` what it writes,
    `skip` the reason it does not apply ('' when it does)."""

    name: str
    program: str
    argvs: Callable[[RunConfig, Facts], list[list[str]]]
    inputs: Callable[[RunConfig], list[Path | str]]
    outputs: Callable[[RunConfig], list[Path]]
    skip: Callable[[RunConfig, Facts], str] = lambda cfg, facts: ""


def budget(n: int) -> dict[str, str]:
    """Training defaults that scale with the collection: epochs, a safety cap in minutes, windows per epoch."""
    if n <= 10:
        return {"epochs": "5", "minutes": "1", "samples": "128"}
    if n <= 50:
        return {"epochs": "8", "minutes": "1", "samples": "256"}
    if n <= 2000:
        return {"epochs": "20", "minutes": "10", "samples": "1024"}
    return {"epochs": "30", "minutes": "60", "samples": "4096"}


def _quiet(cfg: RunConfig) -> list[str]:
    return ["--quiet"] if cfg.quiet else []


def _engine(cfg: RunConfig) -> list[str]:
    flags = ["--engine", cfg.engine] + (["--scheduler", cfg.scheduler] if cfg.scheduler else [])
    return flags + (["--workers", str(cfg.workers)] if cfg.workers else [])


def _prepared(cfg: RunConfig) -> list[Path | str]:
    return [cfg.out / "catalog.csv", cfg.out / "cache" / "mels.npy"]


def _prepare(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    labels = ["--labels", str(cfg.labels)] if cfg.labels else []
    engine = _engine(cfg)
    if cfg.engine == "local" and not cfg.workers and len(folder_audio(cfg.root)[0]) < SMALL_FOLDER:
        engine += ["--workers", "1"]  # a pool's start-up costs more than a few tracks
    return [["--dataset", "folder", "--root", str(cfg.root), "--out", str(cfg.out), *labels, *engine,
             *_quiet(cfg)]]


def _embed(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    return [["--data", str(cfg.out), "--weights-dir", str(cfg.weights_dir), *_engine(cfg), *_quiet(cfg)]]


def _autoencoders(inputs: list[str]) -> Callable[[RunConfig, Facts], list[list[str]]]:
    def argvs(cfg: RunConfig, facts: Facts) -> list[list[str]]:
        b = budget(facts.n_ok)
        return [["--data", str(cfg.out), "--input", i, "--epochs", b["epochs"], "--samples-per-epoch", b["samples"],
                 "--max-minutes", b["minutes"], *_quiet(cfg)] for i in inputs]
    return argvs


def _frames(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    return _autoencoders([f"frames:{e}" for e in facts.frames])(cfg, facts)


def _retrieval(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    small = facts.n_ok <= 50
    flags = ["--epochs", "6", "--patience", "3", "--pairs", "192", "--channels", "64"] if small else \
        ["--epochs", budget(facts.n_ok)["epochs"]]
    indexes = "exact,hnsw" if facts.n_ok < 100_000 else "hnsw,ivf_pq"  # exact search gets slow, PQ saves RAM
    return [["--data", str(cfg.out), *flags, "--max-minutes", budget(facts.n_ok)["minutes"],
             "--indexes", indexes, "--no-tensorboard", *_quiet(cfg)]]


def _clap(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    captions = ["--captions", str(cfg.captions)] if cfg.captions else []
    return [["--data", str(cfg.out), "--audio-encoder", "baseline", *captions, "--n-boot", "200",
             "--max-minutes", budget(facts.n_ok)["minutes"], *_quiet(cfg)]]


def _clap_skip(cfg: RunConfig, facts: Facts) -> str:
    if not (cfg.captions or (cfg.root / "captions.csv").is_file() or facts.genres):
        return "no captions (give --captions CSV with track_id,caption, or genre folders for template captions)"
    if min(facts.splits["val"], facts.splits["test"]) < 2:
        return (f"text search needs at least 2 val and 2 test tracks to evaluate (has {facts.splits['val']} val, "
                f"{facts.splits['test']} test)")
    return ""


def text_model_dir(cfg: RunConfig) -> Path:
    """The general text model of this collection: under the artifacts folder's `text_models/`, where the app's
    Text search page finds it."""
    return cfg.text_model or cfg.out.parent / "text_models" / cfg.out.name


def _own_text(cfg: RunConfig, facts: Facts) -> bool:
    return bool(cfg.captions or (cfg.root / "captions.csv").is_file() or facts.genres)


def _text_model(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    own = ["--data" if _own_text(cfg, facts) else "--eval-data", str(cfg.out)]
    others = [a for d in cfg.text_data for a in ("--data", str(d))]
    return [[*others, *own, "--out", str(text_model_dir(cfg)), "--n-boot", "200", *_quiet(cfg)]]


def _text_model_skip(cfg: RunConfig, facts: Facts) -> str:
    if not cfg.weights_dir:
        return f"no --weights-dir (the general text model searches the {DEFAULT_AUDIO_ENCODER} embedding)"
    if not cfg.text_data and not _own_text(cfg, facts):
        return ("no text to train on: give --text-data with a prepared dataset that has captions or tags "
                "(e.g. artifacts/musiccaps_mini), or labels/genre folders for this collection")
    if not cfg.text_data and facts.splits["val"] < 2:
        return f"needs at least 2 val tracks with texts to stop training (has {facts.splits['val']}); add --text-data"
    return ""


def _text_model_inputs(cfg: RunConfig) -> list[Path | str]:
    return [p for d in (cfg.out, *cfg.text_data)
            for p in (d / "catalog.csv", d / "embeddings" / f"{DEFAULT_AUDIO_ENCODER}.npy")]


def _tagger(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    b = budget(facts.n_ok)
    return [["--data", str(cfg.out), "--target", "genre", "--loss", "asl", "--epochs", b["epochs"],
             "--patience", "4", "--max-minutes", b["minutes"], "--n-boot", "200", *_quiet(cfg)]]


def _tagger_skip(cfg: RunConfig, facts: Facts) -> str:
    enough = [g for g, n in facts.genres.items() if n >= MIN_GENRE_TRACKS]
    if len(enough) < 2:
        return (f"a genre tagger needs at least 2 genres with {MIN_GENRE_TRACKS}+ tracks (has {len(enough)}); "
                "put tracks in one sub-folder per genre or give a genre column in --labels")
    return ""


def _latent(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    b = budget(facts.n_ok)
    return [["--data", str(cfg.out), "--sizes", "8,32,128", "--epochs", b["epochs"], "--max-minutes",
             b["minutes"], "--no-umap", *_quiet(cfg)]]


def _evaluate(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    ks = [k for k in (5, 10) if k < facts.n_ok] or [1]
    split = ["--split", "all"] if facts.n_ok < 200 else []
    return [["--data", str(cfg.out), *split, "--ks", ",".join(map(str, ks))]]


def _maps(cfg: RunConfig, facts: Facts) -> list[list[str]]:
    return [["--data", str(cfg.out), *(["--no-umap"] if facts.n_ok < 20 else []), *_quiet(cfg)]]


def _audio_inputs(cfg: RunConfig) -> list[Path | str]:
    return [cfg.root] + ([cfg.labels] if cfg.labels else [])


STEPS: list[Step] = [
    Step("prepare", "prepare", _prepare, _audio_inputs, lambda c: [c.out / "catalog.csv", c.out / "cache"]),
    Step("embed", "embed", _embed, lambda c: [c.out / "catalog.csv", c.weights_dir or c.out],
         lambda c: [c.out / "frames"],
         lambda c, f: "" if c.weights_dir else "no --weights-dir (pretrained encoders need their weights)"),
    Step("autoencoders (mel)", "autoencoders", _autoencoders(["mels"]), _prepared,
         lambda c: [c.out / "embeddings" / "baseline.npy", c.out / "experiments.csv"]),
    Step("autoencoders (frames)", "autoencoders", _frames, lambda c: [*_prepared(c), "frames/*.npy"],
         lambda c: [c.out / "experiments.csv"],
         lambda c, f: "" if f.frames else "no pretrained frames (run with --weights-dir)"),
    Step("retrieval", "retrieval", _retrieval, _prepared, lambda c: [c.out / "retrieval" / "index"]),
    Step("text search", "clap", _clap, lambda c: [*_prepared(c), c.out / "embeddings" / "baseline.npy"],
         lambda c: [c.out / "clap" / "metrics.json"], _clap_skip),
    Step("general text model", "text_model", _text_model, _text_model_inputs,
         lambda c: [text_model_dir(c) / "model.json"], _text_model_skip),
    Step("genre tagger", "tagger", _tagger, _prepared, lambda c: [c.out / "tagger"], _tagger_skip),
    Step("latent study", "latent_sizes", _latent, _prepared, lambda c: [c.out / "recon"],
         lambda c, f: "" if c.latent else "off by default (the slow one): add --latent"),
    Step("evaluate", "evaluate", _evaluate, lambda c: [c.out / "catalog.csv", "embeddings/*.npy"],
         lambda c: [c.out / "metrics.json"]),
    Step("maps", "maps", _maps, lambda c: [c.out / "catalog.csv", "embeddings/*.npy"], lambda c: [c.out / "maps"]),
]


def step_names() -> list[str]:
    """The names of every step, in run order."""
    return [s.name for s in STEPS]


def command_line(step: Step, argv: list[str]) -> str:
    """The `workbench` command a step runs (shown in the closing table and the logs)."""
    return " ".join(["workbench", step.program.replace("_", "-"), *argv])
