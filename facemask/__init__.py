"""Face mask detection: for every face in a frame, a mask worn, none, or one worn incorrectly.

    from facemask import CLASSES, MaskDetector
    det = MaskDetector.load()
    faces = det.detect(frame_bgr)      # [Face(box, label, confidence, probs), ...]
    probs = det.classify([crop_bgr])   # (N, 3) in CLASSES order
"""

import os

# OpenCV's own cap on the pixels of an image it decodes, read once when cv2 loads: any decoder refuses, before
# allocating, what a header declares beyond it, whatever the format (a BigTIFF named .jpg too). Its default,
# a billion pixels, lets one small file take many GB.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(100_000_000))

from .detector import MaskDetector
from .errors import FacemaskError
from .labels import CLASSES
from .types import Face

__all__ = ["CLASSES", "Face", "FacemaskError", "MaskDetector"]
