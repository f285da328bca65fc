"""One command for a whole collection (`workbench run`): the steps that build every page's artifacts, in order,
each skipped when it is up to date, with a closing table.

- `RunConfig` (steps): what the user asked for (audio root, output folder, labels, weights, engine, --latent)
- `STEPS`, `Step`, `Facts` (steps): every step in run order: its program and flags, the files it reads and
  writes, and why it does not apply to a collection (`skip_reason`). Adding a step is one `Step(...)` entry here.
- `run_steps`, `StepResult`, `closing_table` (runner): run the steps through `train.<program>.main(argv)`;
  a step is reused when its stamp (`<out>/.workbench_run/<step>.json`: its flags and a digest of the size and
  mtime of every input) matches and its outputs exist, so a re-run redoes only what changed and a killed run resumes
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "RunConfig": "steps", "STEPS": "steps", "Step": "steps", "Facts": "steps",
    "run_steps": "runner", "StepResult": "runner", "closing_table": "runner",
})
