"""Paste masks onto real unmasked faces, worn correctly and incorrectly, to enlarge the scarce mask classes.

Real crops of incorrectly worn masks are few (a few hundred) and mostly of one or two mask styles, so the
classifier has little to learn "nose out" or "mask on the chin" from, and may learn "light blue = mask" instead.
This package takes real `without_mask` crops, finds five facial landmarks (MTCNN), and warps mask templates
(MaskTheFace's, with six anchor points each) onto them in three ways:

- `correct`: top edge at the nose bridge, bottom under the chin (nose and mouth covered) -> `with_mask`;
- `nose_out`: top edge just below the nose tip (nostrils visible) -> `incorrect_mask`;
- `chin`: top edge below the mouth, mask bunched on the chin and neck -> `incorrect_mask`;

with random templates, colours, printed textures, lighting and slight pose jitter. Because every synthetic
variant of a face comes from the same photo, only faces of the manifest's `train` split are used: validation
and test stay real photos, so the scores measure what the product sees.

The parts, each importing only parts listed before it: `templates` (masks.cfg, mask images, textures), `geometry`
(where a mask sits for each way of wearing it), `warp` (template onto face), `appearance` (colour, print,
lighting, blur; `synthesize` for one face), `landmarks` (MTCNN keypoints and their cache), `dataset` (the run
over a dataset folder and its manifest) and `cli`. The names below are re-exported so that
`facemask.tools.synthesis.X` keeps working.

Run `python -m facemask.tools.synthesis --help` for the command line.
"""

from facemask.tools.sheets import contact_sheet
from facemask.tools.synthesis.appearance import (
    blur_sigma,
    paste_mask,
    paste_mask_alpha,
    random_colour,
    restyle,
    synthesize,
    visible_fraction,
)
from facemask.tools.synthesis.cli import build_parser, main
from facemask.tools.synthesis.dataset import (
    CACHE_NAME,
    JPEG_QUALITY,
    KIND_CLASS,
    PREFIX,
    SOURCE,
    face_rng,
    output_name,
    summary,
    synthesize_dataset,
    training_faces,
)
from facemask.tools.synthesis.geometry import (
    BRIDGE,
    CHEEK_OUT,
    CHIN_PER_EYE,
    CHIN_PER_NOSE_MOUTH,
    JAW_OUT,
    JITTER,
    KINDS,
    MAX_YAW,
    MIN_VISIBLE,
    YAW_SIDE,
    FacePoints,
    Keypoints,
    choose_template,
    face_points,
    mask_quad,
)
from facemask.tools.synthesis.landmarks import KEYPOINT_NAMES, LandmarkFn, MtcnnLandmarks, load_cache
from facemask.tools.synthesis.templates import (
    ANCHOR_NAMES,
    EXCLUDED_FAMILIES,
    TEXTURE_SUFFIXES,
    Template,
    load_templates,
    load_textures,
    parse_masks_cfg,
)
from facemask.tools.synthesis.warp import warp_template

__all__ = [
    "ANCHOR_NAMES",
    "BRIDGE",
    "CACHE_NAME",
    "CHEEK_OUT",
    "CHIN_PER_EYE",
    "CHIN_PER_NOSE_MOUTH",
    "EXCLUDED_FAMILIES",
    "JAW_OUT",
    "JITTER",
    "JPEG_QUALITY",
    "KEYPOINT_NAMES",
    "KINDS",
    "KIND_CLASS",
    "MAX_YAW",
    "MIN_VISIBLE",
    "PREFIX",
    "SOURCE",
    "TEXTURE_SUFFIXES",
    "YAW_SIDE",
    "FacePoints",
    "Keypoints",
    "LandmarkFn",
    "MtcnnLandmarks",
    "Template",
    "blur_sigma",
    "build_parser",
    "choose_template",
    "contact_sheet",
    "face_points",
    "face_rng",
    "load_cache",
    "load_templates",
    "load_textures",
    "main",
    "mask_quad",
    "output_name",
    "parse_masks_cfg",
    "paste_mask",
    "paste_mask_alpha",
    "random_colour",
    "restyle",
    "summary",
    "synthesize",
    "synthesize_dataset",
    "training_faces",
    "visible_fraction",
    "warp_template",
]
