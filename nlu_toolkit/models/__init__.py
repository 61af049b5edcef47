"""Models: resolving a spec to local files, the embedded model, presets, safetensors checks, management."""
