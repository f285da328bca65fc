"""Running the steps: up-to-date checks (a stamp per step), one call of `train.<program>.main(argv)` per argument
list, the outcome of every step (done / reused / skipped / failed, with the reason and the time) and the closing
table. A step that fails is recorded and the run goes on with the steps that do not need it."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import asdict, dataclass
from pathlib import Path

from core.audio.catalogs import folder_audio
from core.io import atomic_write_text
from core.pipeline.steps import STEPS, Facts, RunConfig, Step, command_line

STAMPS = ".workbench_run"


@dataclass
class StepResult:
    """What happened to one step."""

    step: str
    status: str  # done | reused | skipped | failed
    why: str = ""
    seconds: float = 0.0
    command: str = ""


def _files(item: Path | str, out: Path) -> list[Path]:
    """The files an input names: a glob under `out`, every audio file under a folder, or one file."""
    if isinstance(item, str):
        return sorted(out.glob(item))
    if item.is_dir():
        files, broken = folder_audio(item)
        return files + broken if files or broken else sorted(p for p in item.rglob("*") if p.is_file())
    return [item]


def inputs_digest(step: Step, cfg: RunConfig) -> str:
    """SHA-1 of the name, size and mtime of every input file of `step` (a missing file counts as missing)."""
    h = hashlib.sha1()
    for item in step.inputs(cfg):
        for f in _files(item, cfg.out):
            try:
                st = f.stat()
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()


def stamp_path(cfg: RunConfig, step: Step) -> Path:
    return cfg.out / STAMPS / f"{step.name.replace(' ', '_').replace('(', '').replace(')', '')}.json"


def up_to_date(step: Step, cfg: RunConfig, argvs: list[list[str]]) -> bool:
    """Whether the last successful run of `step` had these flags and these inputs, and its outputs exist."""
    path = stamp_path(cfg, step)
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    same = stamp.get("argvs") == argvs and stamp.get("inputs") == inputs_digest(step, cfg)
    return same and all(p.exists() for p in step.outputs(cfg))


class _Tee(io.TextIOBase):
    """stderr that is also remembered (the last lines name why a step failed)."""

    def __init__(self, stream: io.TextIOBase):
        self.stream, self.lines = stream, []

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.lines += [line for line in text.splitlines() if line.strip()]
        del self.lines[:-20]
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def call_program(program: str, argv: list[str]) -> tuple[int, str]:
    """(exit code, last error line) of `train.<program>.main(argv)` run in this process."""
    tee = _Tee(sys.stderr)
    try:
        with redirect_stderr(tee):
            code = int(importlib.import_module(f"train.{program}").main(argv) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # a step's crash is recorded; the run goes on
        return 1, f"{type(exc).__name__}: {str(exc)[:200]}"
    errors = [line for line in tee.lines if line.startswith("error")]
    return code, (errors or tee.lines or [""])[-1][:240]


def run_step(step: Step, cfg: RunConfig, call: Callable[[str, list[str]], tuple[int, str]]) -> StepResult:
    """Run one step (or reuse it, or skip it with its reason)."""
    facts = Facts.read(cfg.out)
    if cfg.only and step.name not in cfg.only and step.program not in cfg.only:
        return StepResult(step.name, "skipped", "not in --only")
    reason = step.skip(cfg, facts) if step.name == "prepare" or facts.n_ok else "no prepared tracks"
    if reason:
        return StepResult(step.name, "skipped", reason)
    argvs = step.argvs(cfg, facts)
    command = "; ".join(command_line(step, a) for a in argvs)
    if up_to_date(step, cfg, argvs):
        return StepResult(step.name, "reused", "outputs newer than inputs", 0.0, command)
    stamp_path(cfg, step).unlink(missing_ok=True)
    t0 = time.time()
    for argv in argvs:
        code, last = call(step.program, argv)
        if code:
            return StepResult(step.name, "failed", f"exit {code}: {last}", round(time.time() - t0, 1), command)
    stamp = {"argvs": argvs, "inputs": inputs_digest(step, cfg), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    stamp_path(cfg, step).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp_path(cfg, step), json.dumps(stamp, indent=1))
    return StepResult(step.name, "done", "", round(time.time() - t0, 1), command)


def run_steps(cfg: RunConfig, steps: list[Step] | None = None,
              call: Callable[[str, list[str]], tuple[int, str]] = call_program,
              log: Callable[[str], None] = print) -> list[StepResult]:
    """Every step in order; `<out>/run_summary.json` lists the outcomes."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, step in enumerate(steps or STEPS, start=1):
        log(f"== workbench run {i}/{len(steps or STEPS)}: {step.name}")
        res = run_step(step, cfg, call)
        if res.status != "done":
            log(f"   {res.status}{': ' + res.why if res.why else ''}")
        results.append(res)
    atomic_write_text(cfg.out / "run_summary.json", json.dumps([asdict(r) for r in results], indent=1))
    return results


def app_command(out: Path, repo_artifacts: Path) -> str:
    """The command that opens the app on the dataset in `out`."""
    parent = Path(out).resolve().parent
    return "workbench app" if parent == repo_artifacts.resolve() else f"workbench app --artifacts {parent}"


def closing_table(results: list[StepResult], app: str) -> str:
    """The table printed at the end of a run: step, outcome and why, time; then how to open the app."""
    w = max(len(r.step) for r in results)
    lines = [f"{'step':<{w}}  {'outcome':<8} {'time':>7}  why / command", "-" * (w + 40)]
    for r in results:
        what = r.why if r.status in ("skipped", "failed") else r.command
        lines.append(f"{r.step:<{w}}  {r.status:<8} {r.seconds:>6.1f}s  {what}")
    return "\n".join(lines + ["", f"open the app on it: {app}"])
