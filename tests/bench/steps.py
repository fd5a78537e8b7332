"""A run's steps: each one timed and recorded with its outcome, a failed one as a figure rather than a crash."""

from __future__ import annotations

import time
import traceback

from tests.bench import process_stats


def step(steps: dict, name: str, run, *needs: str, quiet_wait: float = 0.0) -> None:
    """Run one step and record its result, or why it failed or was skipped."""
    missing = [need for need in needs if not steps.get(need, {}).get("ok")]
    if missing:
        steps[name] = {"ok": False, "reason": f"skipped: step {', '.join(missing)} failed"}
        say(f"{name}: skipped ({', '.join(missing)} failed)")
        return
    say(f"{name} ...")
    calm = process_stats.wait_until_quiet(quiet_wait) if quiet_wait > 0 else None
    started = time.monotonic()
    try:
        outcome = run()
    except Exception as exc:  # noqa: BLE001 - a failed step is a figure, not a crash
        outcome = {"ok": False, "reason": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    outcome.setdefault("ok", True)
    if calm is not None:
        outcome["quiet_before"] = calm
    outcome["step_s"] = round(time.monotonic() - started, 1)
    steps[name] = outcome
    shown = {k: outcome[k] for k in ("items_per_s", "changes_per_s", "wall_s", "job_s", "cpu_s", "reason")
             if k in outcome}
    say(f"{name}: {'ok' if outcome['ok'] else 'FAILED'} in {outcome['step_s']} s {shown}")


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)
