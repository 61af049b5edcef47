"""Distributed batch inference on Ray Data: a task mapped over a ray.data.Dataset, and file-to-file jobs."""
