"""A deterministic generator of a SASE-FE-like dataset: real face photos animated by "action units".

The real SASE-FE is licensed, so CI, the tests and the README's main job run on this stand-in. It has the
same layout (``<root>/<subject>/<CODE>.MP4``, the 12 codes of :mod:`helpers.labels`), and its faces are
built from two real photographs that ship inside installed packages (matplotlib's Grace Hopper and
scikit-image's astronaut), so that the face detector used on real data finds them too.

How a video is made
-------------------
* **Subject**: one base photo, warped (scale, aspect, rotation, shift, optional mirror), recoloured and
  pasted on a textured background. Everything about a subject is precomputed once (:class:`SubjectLook`).
* **Emotion = geometry**: per-frame intensities of facial action units (FACS AUs, separate values for the
  image-left and image-right half of the face) move the face with smooth displacement fields (sums of
  Gaussian bumps around hand-placed landmarks), plus a little shading for wrinkles and the open mouth.
* **Authenticity = documented cues of measured difficulty** (:class:`CueConfig`): the temporal shape (genuine
  expressions tend to rise slowly and fade fast, posed ones the reverse), eye involvement (AU6, the Duchenne
  marker) and asymmetry (one side weaker and later). Each video draws each cue's strength from its class's
  distribution, and the classes overlap by a stated effect size (Cohen's d), so no cue decides a video.
  Every expression rises, holds and fades inside the 40-90 % window that the frame extraction keeps; rise
  plus fade take the same time in both classes, so single frames show only the static cues.
  :meth:`CueConfig.cue_free` is the negative control. Posed videos start with the contrasting emotion, as
  in SASE-FE.
* **Nuisance**: per-video timing and amplitude jitter, small smooth head motion and pixel noise.

Per-frame ground truth (face box, phase, intensity) goes to ``<root>/ground_truth.csv``; the generation
parameters to ``<root>/synthetic.json``, which decides whether an existing dataset is up to date.
Results on this data prove that the pipeline works; they are not findings about people.

Modules
-------
* :mod:`~helpers.synthetic.faces`: the two base photos and their hand-placed landmarks (:class:`BaseFace`).
* :mod:`~helpers.synthetic.action_units`: the action units, the image-left/right channels and the Gaussian
  bumps that turn them into displacement fields (:data:`ACTION_UNIT_BUMPS`).
* :mod:`~helpers.synthetic.subjects`: subjects (:class:`Subject`, drawn without pixels) and their looks
  (:class:`SubjectLook`: head layer, background, action-unit fields at the video's resolution).
* :mod:`~helpers.synthetic.plans`: the cues (:class:`CueConfig`), each emotion's action units and the
  per-video plans (:func:`plan_video`: timelines, phases, head motion, face boxes).
* :mod:`~helpers.synthetic.render`: frames from a plan and a look (warp, shading, mouth opening, noise).
* :mod:`~helpers.synthetic.generate`: datasets on disk (parameters, status, resumable parallel
  generation, the ground-truth table).
* :mod:`~helpers.synthetic.challenge`: a generated dataset laid out as the ChaLearn 2017 release (training
  subject folders, anonymised ``<id>_<EMOTION>.mp4`` validation and test videos with a labels CSV).
* :mod:`~helpers.synthetic.cli`: the command line, ``python -m helpers.synthetic``.

How hard the task is (an oracle on the true action units, single-descriptor AUCs) and what every approach
makes of chosen cues (the negative control, the cue ablation) are analyses of this data:
:mod:`helpers.analysis.oracle` and :mod:`helpers.analysis.cue_experiments`.
"""

from helpers.synthetic.action_units import (
    ACTION_UNIT_BUMPS,
    ACTION_UNIT_NAMES,
    ACTION_UNITS,
    N_CHANNELS,
    SIDES,
    Bump,
)
from helpers.synthetic.cli import main
from helpers.synthetic.faces import BASE_FACES, BaseFace, load_base_face
from helpers.synthetic.generate import (
    GENERATOR_VERSION,
    GROUND_TRUTH_FILE,
    PARAMETERS_FILE,
    VIDEO_SUFFIX,
    check_spec,
    dataset_parameters,
    dataset_status,
    ensure_dataset,
    generate_dataset,
    ground_truth_table,
    read_parameters,
    video_path,
)
from helpers.synthetic.plans import (
    EMOTION_ACTION_UNITS,
    GROUND_TRUTH_COLUMNS,
    KEPT_FPS,
    KEPT_WINDOW,
    ONSET_START,
    CUES,
    PHASES,
    UNILATERAL_EMOTIONS,
    CueConfig,
    VideoPlan,
    frame_count,
    kept_frames,
    plan_video,
)
from helpers.synthetic.render import render_neutral, render_video
from helpers.synthetic.subjects import Subject, SubjectLook, make_subject, subject_look, subject_name

__all__ = [
    "ACTION_UNITS",
    "ACTION_UNIT_BUMPS",
    "ACTION_UNIT_NAMES",
    "BASE_FACES",
    "EMOTION_ACTION_UNITS",
    "GENERATOR_VERSION",
    "GROUND_TRUTH_COLUMNS",
    "GROUND_TRUTH_FILE",
    "KEPT_FPS",
    "KEPT_WINDOW",
    "N_CHANNELS",
    "ONSET_START",
    "CUES",
    "PARAMETERS_FILE",
    "PHASES",
    "SIDES",
    "UNILATERAL_EMOTIONS",
    "VIDEO_SUFFIX",
    "BaseFace",
    "Bump",
    "CueConfig",
    "Subject",
    "SubjectLook",
    "VideoPlan",
    "check_spec",
    "dataset_parameters",
    "dataset_status",
    "ensure_dataset",
    "frame_count",
    "generate_dataset",
    "ground_truth_table",
    "kept_frames",
    "load_base_face",
    "main",
    "make_subject",
    "plan_video",
    "read_parameters",
    "render_neutral",
    "render_video",
    "subject_look",
    "subject_name",
    "video_path",
]
