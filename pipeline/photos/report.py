"""What a photos run achieved, face by face and against the targets it is held to (every row reported, met or not):
written as report.json beside the manifest and printed in a few lines."""

from __future__ import annotations

from typing import Any

import numpy as np

# the targets a run of each setting is read against: (figure, comparison, value)
TARGETS = {
    "landmark_err_max": ("<=", 2.0),  # frame px: YuNet's points found again on the aligned crop vs the generator's template
    # (fit_err_max, no target: the same distance for the photo's own points through the similarity, the floor under it)
    "sface_min": {"optimize": (">=", 0.70), "tune": (">=", 0.95)},  # reconstruction vs the aligned photo
    "dlib_same_share": {"optimize": (">=", 0.75), "tune": (">=", 1.0)},  # share of faces dlib calls the same person
    "dlib_max": {"tune": ("<", 0.45)},
    "above_floor_share": (">=", 1.0),  # share of faces whose reconstruction beats the best of the random pool (SFace)
    "survives": (">=", 0.5),  # per asked attribute: the output photo's mean change (edit pasted - reconstruction pasted) / the render's
    "photo_sface_min": {"replace": (">=", 0.84), "detail": (">=", 0.84), "delta": (">=", 0.94)},  # output photo vs original, full resolution (detail: held to replace's)
    "seam_max": ("<=", 7.0),  # grey levels on the mask's fading ring
    "seconds_mean": {"optimize": ("<=", 60.0), "tune": ("<=", 90.0)},  # inversion per face
}


def _met(value: float, rule: tuple[str, float]) -> bool:
    op, bound = rule
    return {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[op]


def face_rows(rows: dict[str, np.ndarray], changes: dict[str, float]) -> list[dict[str, Any]]:
    """One record per edited face: its figures and, per asked attribute, the render's and the output photo's change."""
    out = []
    for i in np.nonzero(rows["status"] == "ok")[0]:
        rec = {k: (float(rows[k][i]) if k not in ("name", "face") else (str(rows[k][i]) if k == "name" else int(rows[k][i])))
               for k in ("name", "face", "landmark_err", "fit_err", "psnr", "sface", "dlib", "floor_sface", "seconds", "photo_sface", "photo_dlib", "seam")}
        rec["refound"] = bool(rows["refound"][i])
        for a in changes:
            render = float(rows[f"edit_{a}"][i] - rows[a][i])
            shown = float(rows[f"pasted_{a}"][i] - rows[f"base_{a}"][i]) if rec["refound"] else 0.0
            rec[a] = {"asked": changes[a], "render": render, "photo": shown, "survives": shown / render if abs(render) > 1e-6 else None}
        out.append(rec)
    return out


def summarize(faces: list[dict[str, Any]], invert: str, paste: str, changes: dict[str, float]) -> dict[str, Any]:
    """The figures the targets are read on, each with its target and whether it is met."""
    if not faces:
        return {"faces": 0}
    col = lambda k: np.array([f[k] for f in faces], np.float64)  # noqa: E731
    figures = {"landmark_err_max": float(col("landmark_err").max()), "fit_err_max": float(col("fit_err").max()), "sface_min": float(col("sface").min()),
               "dlib_same_share": float(np.mean(col("dlib") < 0.6)), "dlib_max": float(col("dlib").max()),
               "above_floor_share": float(np.mean(col("sface") > col("floor_sface"))), "photo_sface_min": float(col("photo_sface").min()),
               "seam_max": float(col("seam").max()), "seconds_mean": float(col("seconds").mean())}
    for a in changes:  # the mean change the output photos show over the mean the renders show (as the judge's ratio)
        render = np.mean([f[a]["render"] for f in faces])
        if abs(render) > 1e-6:
            figures[f"survives_{a}"] = float(np.mean([f[a]["photo"] for f in faces]) / render)
    rows = {}
    for name, value in figures.items():
        rule = TARGETS.get("survives" if name.startswith("survives_") else name)  # none: reported beside the targets
        rule = rule.get(invert, rule.get(paste)) if isinstance(rule, dict) else rule
        rows[name] = {"value": value, **({"target": f"{rule[0]} {rule[1]}", "met": _met(value, rule)} if rule else {})}
    return {"faces": len(faces), "invert": invert, "paste": paste, "changes": changes, "figures": rows}


def report_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("faces"):
        return ["report: no face was edited"]
    parts = [f"{k} {v['value']:.3g}" + (f" ({v['target']}: {'met' if v['met'] else 'NOT met'})" if "met" in v else "")
             for k, v in summary["figures"].items()]
    return [f"report ({summary['faces']} faces, {summary['invert']}, {summary['paste']}): " + "; ".join(parts)]
