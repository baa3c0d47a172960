"""Faces in photos: find them (detector, finder), cut them to the training framing (crops), paste changes back (blend).

`from gan_viz import faces` gives the names every caller uses; each lives in the module that owns it.
"""
from gan_viz.faces.blend import CHANGE_FROM, CHANGE_FULL, MASKS, add_to_photo, crop_alpha, face_alpha  # noqa: F401
from gan_viz.faces.crops import (CROP_DY, CROP_SCALE, EYE_DX, EYE_DY, EYE_SCALE, FaceCrop, crop_face,  # noqa: F401
                                 closer, framing, inside, is_aligned_crop, whole_image)
from gan_viz.faces.detector import MIN_FACE, FaceError, detect, eye_angle, eye_pair  # noqa: F401
from gan_viz.faces.finder import find_faces, forget, warm  # noqa: F401
