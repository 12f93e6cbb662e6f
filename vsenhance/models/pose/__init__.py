"""Pose models: detector and keypoint pre/post-processing, ONNX Runtime sessions."""
