// Faces in photographs, for `armnet predict --detect_faces`: OpenCV's Haar
// cascade for frontal faces (haarcascade_frontalface_default.xml from
// Debian's opencv-data), the one face detector Debian ships with its model.
//
// The detector's box hugs the face from the eyebrows to the mouth; RAF-DB's
// aligned faces (what the model learned from) show the whole head with a
// margin. So each box is made square around its centre and enlarged
// (kAlignmentMargin), then cropped (clamped to the photo) and classified.
#pragma once

#include <vector>

#include "data/dataset.h"  // CropBox
#include "data/image.h"

namespace armnet::apps {

// The enlargement of a detected box to the framing of RAF-DB's aligned faces.
constexpr double kAlignmentMargin = 1.25;

// True when this armnet was built with OpenCV (and its cascade file).
bool face_detection_built();

// The faces in `image` (RGB), as the detector boxes them, ordered by their
// top edge, then left to right. Throws when built without OpenCV.
std::vector<CropBox> detect_faces(const Image& image);

// `box` made square around its centre and enlarged by kAlignmentMargin
// (the crop clamps it to the photo).
CropBox with_alignment_margin(const CropBox& box);

}  // namespace armnet::apps
