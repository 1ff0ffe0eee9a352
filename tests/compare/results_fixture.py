"""A ``results.json`` dictionary of 17 estimators, as ``scgrad compare`` writes it, for the plot and report tests."""

from __future__ import annotations

SETTINGS = {"steps": 40, "samples": 2, "seed": 0, "repeats": 5, "checkpoints": 2}


def row(name: str, variance: float | None, biased: bool = False, note: str | None = None, traceback: str | None = None):
    history = [] if variance is None else [
        {"step": step, "seconds": step * 0.01, "variance": variance * (1 + step / 40), "snr": 1.0, "bias": None,
         "bias_detected": None, "evaluations": 2.0, "objective": 30.0 - step / 10, "train_objective": None}
        for step in (0, 20, 40)]
    last = history[-1] if history else {}
    return {"estimator": name, "biased": biased, "note": note, "traceback": traceback,
            "variance": last.get("variance"), "snr": last.get("snr"), "bias": None, "bias_detected": None,
            "ms_per_step": 1.5 if history else None, "evaluations": last.get("evaluations"),
            "objective": last.get("objective"), "train_objective": None, "history": history}


def results() -> dict:
    """Fifteen measured rows (two with identical curves, one exact), a failure with a traceback, a refusal."""
    rows = [row(f"estimator_{i}", 10.0 / (i + 1), biased=i >= 12) for i in range(14)]
    rows.append(row("twin_of_estimator_3", 10.0 / 4))
    rows.append(row("exact", 0.0))
    rows.append(row("broken <script>", None, note="failed: IndexError: tensors used as indices must be long",
                    traceback='Traceback (most recent call last):\n  File "mine.py", line 3, in program\n'
                              "IndexError: tensors used as indices must be long"))
    rows.append(row("refused", None, note="not applicable: needs --samples 2 or more"))
    return {"problem": "demo", "setup": "a demonstration setup; Adam lr 0.1", "settings": SETTINGS,
            "objective_label": "-ELBO on test images (nats)",
            "audit": {"ok": True, "findings": [], "notes": [], "text": "audit: ok (elements changed per node: z 4/4; 9 runs)"},
            "recommendation": "exact", "usage": 'scgrad.sample("z", dist, scgrad.Enumerate())', "estimators": rows}
