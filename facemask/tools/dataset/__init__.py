"""Assemble `dataset/<class>/*.jpg` face crops for training from the shared face-mask datasets.

    python -m facemask.tools.dataset --shared ../shared/datasets --out dataset

Validation and test crops look like what the classifier gets at run time: the res10 SSD's box around a
face (YuNet's boxes are widened to it). Annotated boxes are widened to that framing, portraits in class
folders are cropped by the SSD itself, and training faces of photos are framed at random around it, so
that the model holds for other framings too. Exact duplicates are dropped, and every source image (a whole
street scene with all its faces) goes to one split, chosen from a hash of its bytes, so no face leaks from
training into test.
`OUT/manifest.csv` records each crop's split and origin; the training script follows its split column.
"""

from .cli import build_parser, console, main
from .crops import Crop, Report
from .from_folders import SSDRecropper, import_folders
from .from_photos import import_photos
from .from_voc import import_voc
from .write import write_crops

__all__ = ["Crop", "Report", "SSDRecropper", "build_parser", "console", "import_folders", "import_photos", "import_voc",
           "main", "write_crops"]
