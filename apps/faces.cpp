#include "apps/faces.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#ifdef ARMNET_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#endif

#include "tensor/error.h"

namespace armnet::apps {

#ifdef ARMNET_WITH_OPENCV

bool face_detection_built() { return true; }

std::vector<CropBox> detect_faces(const Image& image) {
  static const std::string cascade_path = std::string(ARMNET_HAAR_CASCADES) + "/haarcascade_frontalface_default.xml";
  // One cascade per thread (OpenCV's detector keeps per-call state).
  thread_local cv::CascadeClassifier cascade;
  if (cascade.empty())
    check(cascade.load(cascade_path), "face detection: cannot load OpenCV's cascade ", cascade_path,
          " (install opencv-data)");
  check(image.channels == 3, "face detection: expected an RGB image");
  const cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  cv::equalizeHist(gray, gray);
  // OpenCV's usual settings: 10% steps of scale, 4 neighbouring detections
  // to accept a face, faces of 24 pixels and more.
  std::vector<cv::Rect> found;
  cascade.detectMultiScale(gray, found, 1.1, 4, 0, cv::Size(24, 24));
  std::vector<CropBox> faces;
  for (const cv::Rect& r : found) faces.push_back({r.x, r.y, r.width, r.height});
  std::sort(faces.begin(), faces.end(),
            [](const CropBox& a, const CropBox& b) { return std::tie(a.y, a.x) < std::tie(b.y, b.x); });
  return faces;
}

#else

bool face_detection_built() { return false; }

std::vector<CropBox> detect_faces(const Image&) {
  throw Error("--detect_faces: this armnet was built without OpenCV (install libopencv-objdetect-dev and opencv-data, "
              "then rebuild)");
}

#endif

CropBox with_alignment_margin(const CropBox& box) {
  const double side = kAlignmentMargin * std::max(box.width, box.height);
  const double centre_x = box.x + box.width / 2.0, centre_y = box.y + box.height / 2.0;
  const int rounded_side = static_cast<int>(std::lround(side));
  return {static_cast<int>(std::lround(centre_x - side / 2)), static_cast<int>(std::lround(centre_y - side / 2)),
          rounded_side, rounded_side};
}

}  // namespace armnet::apps
