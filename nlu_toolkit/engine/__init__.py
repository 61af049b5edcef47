"""Inference engine: forward passes (torch, ONNX Runtime, OpenVINO), batching, packing, the stored backend choice."""
